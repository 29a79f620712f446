//! The language of the Examples tables for request changes:
//! `channels.min = lowest - 1; view_type = "multichannel"; frequencyRange = absent`.
//!
//! A value is a JSON literal (`0`, `-1`, `1.5`, `"abc"`, `null`, `{}`), `absent`
//! (the field is removed), or a name of the environment's facts with optional
//! arithmetic (`highest + 1`, `nyquist`, `rec.start - 60`, `now + 3600`, and for
//! malformed rows `rec.start * 1000` or `rec.end + 0.5`). Facts come
//! from the target (`/channels`, `/live_metadata`, `/recordings_in_time_range`), so
//! the same table works on every environment.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::spec::investigation::ConfigureRequest;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ChangeError {
    #[error("`{0}` is not `field = value`")]
    Shape(String),
    #[error("`{0}`: unknown name (known: {1})")]
    UnknownFact(String, String),
    #[error("`{0}`: not a value (a JSON literal, `absent`, or a known name +, - or * a number)")]
    Value(String),
}

/// Named integers of the environment the tables may refer to.
#[derive(Debug, Clone, Default)]
pub struct Facts(BTreeMap<String, i64>);

impl Facts {
    pub fn set(&mut self, name: &str, value: i64) {
        self.0.insert(name.to_string(), value);
    }

    pub fn get(&self, name: &str) -> Option<i64> {
        self.0.get(name).copied()
    }

    fn known(&self) -> String {
        self.0.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// One edit: set a field to a value, or remove it.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Set(String, Value),
    Remove(String),
}

/// Parses `a = v; b = w` against the facts.
pub fn parse(text: &str, facts: &Facts) -> Result<Vec<Change>, ChangeError> {
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (field, value) = item
                .split_once('=')
                .ok_or_else(|| ChangeError::Shape(item.to_string()))?;
            let field = field.trim();
            if field.is_empty() {
                return Err(ChangeError::Shape(item.to_string()));
            }
            match value.trim() {
                "absent" => Ok(Change::Remove(field.to_string())),
                v => Ok(Change::Set(field.to_string(), value_of(v, facts)?)),
            }
        })
        .collect()
}

fn value_of(text: &str, facts: &Facts) -> Result<Value, ChangeError> {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Ok(v);
    }
    // name, name + n, name - n
    let mut parts = text.split_whitespace();
    let name = parts
        .next()
        .ok_or_else(|| ChangeError::Value(text.into()))?;
    let base = facts
        .get(name)
        .ok_or_else(|| ChangeError::UnknownFact(name.into(), facts.known()))?;
    let (op, n) = match (parts.next(), parts.next(), parts.next()) {
        (None, None, None) => return Ok(Value::from(base)),
        (Some(op @ ("+" | "-" | "*")), Some(n), None) => (op, n),
        _ => return Err(ChangeError::Value(text.into())),
    };
    if let Ok(n) = n.parse::<i64>() {
        return Ok(Value::from(match op {
            "+" => base + n,
            "-" => base - n,
            _ => base * n,
        }));
    }
    // A fractional operand makes a fractional value (`rec.end + 0.5`): malformed rows.
    let n: f64 = n.parse().map_err(|_| ChangeError::Value(text.into()))?;
    #[allow(clippy::cast_precision_loss)]
    let base = base as f64;
    let v = match op {
        "+" => base + n,
        "-" => base - n,
        _ => base * n,
    };
    serde_json::Number::from_f64(v)
        .map(Value::Number)
        .ok_or_else(|| ChangeError::Value(text.into()))
}

/// Applies the changes to a request, in order.
pub fn apply(mut request: ConfigureRequest, changes: &[Change]) -> ConfigureRequest {
    for c in changes {
        request = match c {
            Change::Set(f, v) => request.set(f, v.clone()),
            Change::Remove(f) => request.remove(f),
        };
    }
    request
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn facts() -> Facts {
        let mut f = Facts::default();
        f.set("lowest", 1);
        f.set("highest", 2337);
        f.set("nyquist", 1000);
        f
    }

    #[test]
    fn literals_names_and_arithmetic() {
        let c = parse(
            "channels.min = lowest - 1; channels.max = highest + 1; view_type = \"multichannel\"; frequencyRange = absent; displayInfo = {}",
            &facts(),
        )
        .expect("parses");
        assert_eq!(
            c,
            vec![
                Change::Set("channels.min".into(), json!(0)),
                Change::Set("channels.max".into(), json!(2338)),
                Change::Set("view_type".into(), json!("multichannel")),
                Change::Remove("frequencyRange".into()),
                Change::Set("displayInfo".into(), json!({})),
            ]
        );
    }

    #[test]
    fn fractional_and_null_literals_stay_as_written() {
        let c = parse("nfftSelection = 1.5; frequencyRange = null", &facts()).expect("parses");
        assert_eq!(c[0], Change::Set("nfftSelection".into(), json!(1.5)));
        assert_eq!(c[1], Change::Set("frequencyRange".into(), Value::Null));
    }

    #[test]
    fn unknown_names_are_errors_not_guesses() {
        assert!(matches!(
            parse("channels.min = lowst", &facts()),
            Err(ChangeError::UnknownFact(..))
        ));
        assert!(matches!(
            parse("channels.min lowest", &facts()),
            Err(ChangeError::Shape(_))
        ));
        assert!(matches!(
            parse("channels.min = lowest / 2", &facts()),
            Err(ChangeError::Value(_))
        ));
    }

    #[test]
    fn scaled_and_fractional_arithmetic_for_malformed_rows() {
        let c = parse(
            "start_time = highest * 1000; end_time = highest + 0.5",
            &facts(),
        )
        .expect("parses");
        assert_eq!(c[0], Change::Set("start_time".into(), json!(2_337_000)));
        assert_eq!(c[1], Change::Set("end_time".into(), json!(2337.5)));
    }

    #[test]
    fn applies_in_order() {
        let c = parse("displayInfo.height = 0; channels = absent", &facts()).expect("parses");
        let r = apply(ConfigureRequest::live(), &c);
        assert_eq!(r.json()["displayInfo"]["height"], json!(0));
        assert!(r.json().get("channels").is_none());
    }
}
