//! Kubernetes resource quantities (`100m`, `1.5Gi`, `64`), parsed to exact nano-units.

/// A quantity in nano-units (1 = 10⁻⁹), exact for every suffix Kubernetes accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Quantity(pub i128);

/// A string that is not a valid quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {0:?}"
)]
pub struct QuantityError(pub String);

const NANO: i128 = 1_000_000_000;

impl Quantity {
    pub const ZERO: Quantity = Quantity(0);

    /// A whole number of units.
    pub fn from_units(n: i64) -> Self {
        Quantity(i128::from(n) * NANO)
    }

    /// Parse `1`, `0.5`, `100m`, `2Gi`, `1e3`, `500Mi` ...
    pub fn parse(s: &str) -> Result<Self, QuantityError> {
        let err = || QuantityError(s.to_string());
        let t = s.trim();
        let (neg, t) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, suffix) = t.split_at(split);
        if num.is_empty() || num == "." {
            return Err(err());
        }
        let (int_part, frac_part) = match num.split_once('.') {
            Some((i, f)) => (i, f),
            None => (num, ""),
        };
        if frac_part.contains('.') || frac_part.len() > 18 {
            return Err(err());
        }
        // value = mantissa / 10^frac_len
        let digits = format!("{int_part}{frac_part}");
        let mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| err())?
        };
        let frac_len = frac_part.len() as u32;
        // multiplier expressed as (numerator, denominator) in nano-units
        let (mul_num, mul_den): (i128, i128) = match suffix {
            "" => (NANO, 1),
            "n" => (1, 1),
            "u" => (1_000, 1),
            "m" => (1_000_000, 1),
            "k" => (NANO * 1_000, 1),
            "M" => (NANO * 1_000_000, 1),
            "G" => (NANO * 1_000_000_000, 1),
            "T" => (NANO * 1_000_000_000_000, 1),
            "P" => (NANO * 1_000_000_000_000_000, 1),
            "E" => (NANO * 1_000_000_000_000_000_000, 1),
            "Ki" => (NANO << 10, 1),
            "Mi" => (NANO << 20, 1),
            "Gi" => (NANO << 30, 1),
            "Ti" => (NANO << 40, 1),
            "Pi" => (NANO << 50, 1),
            "Ei" => (NANO << 60, 1),
            other => {
                let exp = other
                    .strip_prefix('e')
                    .or_else(|| other.strip_prefix('E'))
                    .ok_or_else(err)?;
                let e: i32 = exp.parse().map_err(|_| err())?;
                if !(-9..=18).contains(&e) {
                    return Err(err());
                }
                if e >= 0 {
                    (NANO * 10i128.pow(e as u32), 1)
                } else {
                    (NANO, 10i128.pow((-e) as u32))
                }
            }
        };
        let den = 10i128.pow(frac_len) * mul_den;
        let num = mantissa.checked_mul(mul_num).ok_or_else(err)?;
        // round up to a whole nano-unit, as Kubernetes rounds up
        let mut v = num / den;
        if num % den != 0 {
            v += 1;
        }
        Ok(Quantity(if neg { -v } else { v }))
    }

    /// Canonical-ish rendering: `3`, `500m`, `1500n`.
    pub fn render(&self) -> String {
        let v = self.0;
        if v % NANO == 0 {
            format!("{}", v / NANO)
        } else if v % 1_000_000 == 0 {
            format!("{}m", v / 1_000_000)
        } else {
            format!("{v}n")
        }
    }

    /// Like `render`, but whole byte counts use binary suffixes (`512Mi`, `2Gi`).
    pub fn render_bytes(&self) -> String {
        let v = self.0;
        if v % NANO == 0 && v != 0 {
            let units = v / NANO;
            for (suffix, shift) in [
                ("Ei", 60),
                ("Pi", 50),
                ("Ti", 40),
                ("Gi", 30),
                ("Mi", 20),
                ("Ki", 10),
            ] {
                let m = 1i128 << shift;
                if units % m == 0 {
                    return format!("{}{suffix}", units / m);
                }
            }
        }
        self.render()
    }

    /// Whole units, rounded down.
    pub fn units(&self) -> i128 {
        self.0 / NANO
    }

    /// True when this is a whole number of units.
    pub fn is_integer(&self) -> bool {
        self.0 % NANO == 0
    }
}

impl std::ops::Add for Quantity {
    type Output = Quantity;
    fn add(self, o: Quantity) -> Quantity {
        Quantity(self.0.saturating_add(o.0))
    }
}

impl std::ops::AddAssign for Quantity {
    fn add_assign(&mut self, o: Quantity) {
        self.0 = self.0.saturating_add(o.0);
    }
}

impl std::ops::Sub for Quantity {
    type Output = Quantity;
    fn sub(self, o: Quantity) -> Quantity {
        Quantity(self.0.saturating_sub(o.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).expect("valid quantity")
    }

    #[test]
    fn parses_suffixes() {
        assert_eq!(q("1"), q("1000m"));
        assert_eq!(q("0.5"), q("500m"));
        assert_eq!(q("1Ki"), q("1024"));
        assert_eq!(q("1Gi"), Quantity::from_units(1 << 30));
        assert_eq!(q("1k"), q("1000"));
        assert_eq!(q("1e3"), q("1k"));
        assert_eq!(q("1.5Gi"), q("1536Mi"));
        assert!(q("100m") < q("1"));
        assert!(q("2Gi") > q("2G"));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "abc", "1x", "1..2", "--1", "."] {
            assert!(Quantity::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn renders() {
        assert_eq!(q("2").render(), "2");
        assert_eq!(q("250m").render(), "250m");
        assert_eq!(q("512Mi").render_bytes(), "512Mi");
        assert_eq!(q("1000").render_bytes(), "1000");
    }
}
