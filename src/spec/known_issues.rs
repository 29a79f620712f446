//! The known-issues register (`config/known-issues.toml`): the single place for
//! expected failures. A scenario failing as its entry expects is a "known failure"
//! and does not fail the run; failing for another reason, or below a capacity floor,
//! fails it; passing while listed fails it with "fixed? remove the entry".

use std::path::Path;

use serde::Deserialize;

use crate::spec::outcome::{ScenarioOutcome, Verdict};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownIssue {
    /// A Jira bug key (`PZ-13984`) or a local finding id (`FS-001`).
    pub id: String,
    pub summary: String,
    /// Stable scenario ids (`api-x` for every row of an outline, `api-x/case` for one row).
    pub scenarios: Vec<String>,
    /// Profiles where the failure is expected.
    pub profiles: Vec<String>,
    /// Regular expression the failure message must match.
    pub reason: String,
    /// For capacity scenarios: the least the environment must still reach
    /// (parsed from "reached N of M" in the failure message).
    #[serde(default)]
    pub floor: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    issue: Vec<KnownIssue>,
}

#[derive(Debug, Clone)]
pub struct Register {
    issues: Vec<(KnownIssue, regex::Regex)>,
}

/// What the register makes of one scenario outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    Passed,
    Failed(String),
    /// Failed as the register expects: reported, does not fail the run.
    KnownFailure {
        id: String,
        reason: String,
    },
    /// Listed as failing here, but failed otherwise or passed: fails the run.
    Mismatch(String),
}

impl Register {
    pub fn empty() -> Register {
        Register { issues: Vec::new() }
    }

    pub fn load(path: &Path) -> Result<Register, String> {
        let shown = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
        let file: File = toml::from_str(&text).map_err(|e| {
            format!(
                "{shown}: {}",
                e.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        })?;
        let mut issues = Vec::new();
        for (i, issue) in file.issue.into_iter().enumerate() {
            let re = regex::Regex::new(&issue.reason)
                .map_err(|e| format!("{shown}: issue[{i}] ({}) key `reason`: {e}", issue.id))?;
            if issue.scenarios.is_empty() || issue.profiles.is_empty() {
                return Err(format!(
                    "{shown}: issue[{i}] ({}): `scenarios` and `profiles` must not be empty",
                    issue.id
                ));
            }
            issues.push((issue, re));
        }
        Ok(Register { issues })
    }

    fn entry_for(&self, profile: &str, id: &str) -> Option<&(KnownIssue, regex::Regex)> {
        let base = id.split('/').next().unwrap_or(id);
        self.issues.iter().find(|(i, _)| {
            i.profiles.iter().any(|p| p == profile)
                && i.scenarios.iter().any(|s| s == id || s == base)
        })
    }

    pub fn judge(&self, profile: &str, o: &ScenarioOutcome) -> Judgement {
        let entry = o.id.as_deref().and_then(|id| self.entry_for(profile, id));
        match (&o.verdict, entry) {
            (Verdict::Passed, None) => Judgement::Passed,
            (Verdict::Failed(m), None) => Judgement::Failed(m.clone()),
            (Verdict::Passed, Some((i, _))) => Judgement::Mismatch(format!(
                "passes, but the register expects it to fail here ({}: {}) — fixed? remove the entry",
                i.id, i.summary
            )),
            (Verdict::Failed(m), Some((i, re))) => {
                if !re.is_match(m) {
                    return Judgement::Mismatch(format!(
                        "fails for another reason than known issue {} expects (/{}/): {m}",
                        i.id, i.reason
                    ));
                }
                if let Some(floor) = i.floor {
                    match reached(m) {
                        Some(n) if n >= floor => {}
                        Some(n) => {
                            return Judgement::Mismatch(format!(
                                "reached {n}, below the floor {floor} of known issue {}: {m}",
                                i.id
                            ));
                        }
                        None => {
                            return Judgement::Mismatch(format!(
                                "known issue {} has a floor but the failure names no \"reached N of M\": {m}",
                                i.id
                            ));
                        }
                    }
                }
                Judgement::KnownFailure {
                    id: i.id.clone(),
                    reason: i.summary.clone(),
                }
            }
        }
    }
}

/// N in "reached N of M".
fn reached(message: &str) -> Option<u64> {
    let at = message.find("reached ")?;
    message[at + "reached ".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register() -> Register {
        let tmp = tempfile::tempdir().expect("tempdir");
        let p = tmp.path().join("k.toml");
        std::fs::write(
            &p,
            r#"
[[issue]]
id = "PZ-13984"
summary = "future timestamps accepted"
scenarios = ["api-time-range-rejected/future"]
profiles = ["staging"]
reason = "expected a 400 rejection"

[[issue]]
id = "PZ-13986"
summary = "200 investigations not reached"
scenarios = ["k8s-200-in-parallel"]
profiles = ["staging"]
reason = "reached \\d+ of 200"
floor = 40
"#,
        )
        .expect("write");
        Register::load(&p).expect("load")
    }

    fn outcome(id: &str, verdict: Verdict) -> ScenarioOutcome {
        ScenarioOutcome {
            id: Some(id.into()),
            name: id.into(),
            feature: "f".into(),
            path: None,
            tags: vec![],
            line: 1,
            verdict,
        }
    }

    #[test]
    fn expected_failure_is_known() {
        let r = register();
        let o = outcome(
            "api-time-range-rejected/future",
            Verdict::Failed("expected a 400 rejection naming x".into()),
        );
        assert!(matches!(
            r.judge("staging", &o),
            Judgement::KnownFailure { .. }
        ));
        // Another profile: an ordinary failure.
        assert!(matches!(r.judge("dev", &o), Judgement::Failed(_)));
    }

    #[test]
    fn other_reason_or_passing_is_a_mismatch() {
        let r = register();
        let other = outcome(
            "api-time-range-rejected/future",
            Verdict::Failed("timed out".into()),
        );
        assert!(
            matches!(r.judge("staging", &other), Judgement::Mismatch(m) if m.contains("another reason"))
        );
        let passing = outcome("api-time-range-rejected/future", Verdict::Passed);
        assert!(
            matches!(r.judge("staging", &passing), Judgement::Mismatch(m) if m.contains("fixed?"))
        );
    }

    #[test]
    fn capacity_floor_is_enforced() {
        let r = register();
        let ok = outcome(
            "k8s-200-in-parallel",
            Verdict::Failed("reached 40 of 200: FailedScheduling".into()),
        );
        assert!(matches!(
            r.judge("staging", &ok),
            Judgement::KnownFailure { .. }
        ));
        let low = outcome(
            "k8s-200-in-parallel",
            Verdict::Failed("reached 12 of 200: x".into()),
        );
        assert!(
            matches!(r.judge("staging", &low), Judgement::Mismatch(m) if m.contains("below the floor"))
        );
    }
}
