//! The suite's exit codes, distinct in meaning from cucumber's and libtest's own.

use std::process::ExitCode;

/// How a run ended. Printed by `focus-scope --help` and documented in README.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every selected scenario passed.
    Passed = 0,
    /// At least one scenario failed (a step, a hook, cleanup, or a feature file that does not parse).
    Failures = 1,
    /// Configuration or usage error (bad profile, bad key, bad option, no scenario selected); nothing was sent.
    Config = 2,
    /// Refused by the profile's protection (destructive scenarios without permission).
    Refused = 3,
    /// The environment is unreachable: Focus Server or the Kubernetes API did not answer within the startup deadline.
    Unreachable = 4,
    /// The run exceeded its global deadline (`deadlines.run`); cleanup still ran.
    Deadline = 5,
}

impl Exit {
    /// The verdict a reader sees first: one word and what the exit code means.
    pub fn verdict(self) -> (&'static str, &'static str) {
        match self {
            Exit::Passed => ("PASSED", "every selected scenario passed"),
            Exit::Failures => ("FAILED", "at least one scenario failed"),
            Exit::Config => ("NOT RUN", "configuration or usage error"),
            Exit::Refused => ("REFUSED", "refused by the profile's protection"),
            Exit::Unreachable => ("UNREACHABLE", "the environment did not answer"),
            Exit::Deadline => ("DEADLINE", "the run exceeded its global deadline"),
        }
    }

    pub const TABLE: &'static str = "exit codes: 0 passed · 1 scenario failures · 2 configuration/usage error (incl. no scenario selected) · 3 refused by protection · 4 environment unreachable or locked by another run · 5 run deadline exceeded";
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}
