//! Premises: a Given that sets up a condition checks that the condition took effect.
//! When it did not, the scenario fails with "premise not met: …": a scenario whose
//! premise does not hold has tested nothing, so it must never pass.

/// A Given's condition did not take effect (or could not be shown to).
#[derive(Debug, thiserror::Error)]
#[error("premise not met: {0}")]
pub struct PremiseNotMet(pub String);

/// Fails with [`PremiseNotMet`] unless `holds`.
pub fn require(holds: bool, what: impl FnOnce() -> String) -> Result<(), PremiseNotMet> {
    if holds {
        Ok(())
    } else {
        Err(PremiseNotMet(what()))
    }
}

/// Investigations opened at most to show that the server reached a held port: the
/// cluster's view of the next free slot may lag the server's by an object still
/// terminating, never by more than a few.
pub const HELD_PORT_PROBE_BOUND: usize = 3;

/// Where the stream ports answered so far stand against the ports held by others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldPortProbe {
    /// An answer got a held port: the server did not skip it.
    Taken { port: u16 },
    /// An answer lies beyond every held port: the server met the held ports and skipped them.
    Passed,
    /// Every answer lies below a held port: the server has not met them yet.
    Short,
}

/// Judges the answered ports against the held ones (the answers in order).
pub fn held_port_probe(held: &[u16], answered: &[u16]) -> HeldPortProbe {
    if let Some(port) = answered.iter().copied().find(|p| held.contains(p)) {
        return HeldPortProbe::Taken { port };
    }
    match held.iter().max() {
        Some(top) if answered.iter().any(|p| p > top) => HeldPortProbe::Passed,
        _ => HeldPortProbe::Short,
    }
}

/// The premise of a held-port scenario after `answered` investigations: met when the
/// answers passed (or took) the held port, not met when the bound was reached short of it.
pub fn held_port_met(held: &[u16], answered: &[u16]) -> Result<HeldPortProbe, PremiseNotMet> {
    let probe = held_port_probe(held, answered);
    if probe == HeldPortProbe::Short && answered.len() >= HELD_PORT_PROBE_BOUND {
        return Err(PremiseNotMet(format!(
            "the server never reached the held stream port(s) {held:?}: {} investigations got ports {answered:?}, none beyond",
            answered.len()
        )));
    }
    Ok(probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_beyond_the_held_port_meets_the_premise() {
        assert_eq!(held_port_probe(&[12301], &[12302]), HeldPortProbe::Passed);
        assert_eq!(
            held_port_met(&[12303], &[12301, 12302, 12304]).expect("met"),
            HeldPortProbe::Passed
        );
    }

    #[test]
    fn an_answer_on_a_held_port_is_reported_taken() {
        assert_eq!(
            held_port_probe(&[12301], &[12301]),
            HeldPortProbe::Taken { port: 12301 }
        );
        assert_eq!(
            held_port_probe(&[12305], &[12302, 12305]),
            HeldPortProbe::Taken { port: 12305 }
        );
    }

    /// The old step passed here: the first answer (12302) was not the held port
    /// (12305), though the server never came near it.
    #[test]
    fn answers_that_stay_below_the_held_port_fail_the_premise() {
        assert_eq!(
            held_port_met(&[12305], &[12302]).expect("not yet short"),
            HeldPortProbe::Short
        );
        let e = held_port_met(&[12305], &[12302, 12303, 12304]).expect_err("short");
        assert!(e.to_string().starts_with("premise not met: "), "{e}");
        assert!(e.to_string().contains("12305"), "{e}");
    }
}
