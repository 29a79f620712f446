//! focus-scope: the BDD specification suite for Focus Server's infrastructure scope.
//!
//! Layers, from the features down (docs/architecture.md, kept by tests/layers.rs):
//! `run` (lifecycle, plan, exit code; `cli` holds its argument types) → `steps` (one-line
//! glue) and `world` (per-scenario state) → `report` (what a run found) and `safety`
//! (lock, ledger, faults, recovery) → `spec` (the domain) → `target` (the only code that
//! talks HTTP to Focus Server or builds `kube::Api`s, and the words for what it holds).
//!
//! Public are what the binary and the tests use: `cli` and `run::runner` (a run),
//! `output`, and the parts the safety tests drive directly (`safety`, `target`,
//! `spec::{investigation, tags}`). Everything else is `pub(crate)`.

pub mod cli;
pub mod output;
pub(crate) mod report;
pub mod run;
pub mod safety;
pub mod spec;
pub(crate) mod steps;
pub mod target;
pub(crate) mod world;

// The flat paths of before the move into layers, so that branches written against them
// still build when merged. Remove once no branch in flight uses them.
#[allow(unused_imports)]
pub(crate) use {
    report::{diagnostics, junit},
    run::{hold, plan, suite},
    spec::known_issues as register,
    spec::{
        availability, capacity, changes, contract, footprint, investigation, metrics, outcome,
        premise, soak,
    },
    target::{net, wait},
};
#[doc(hidden)]
pub use {
    run::{exit, runner},
    safety::{faults, ledger, ledger_mirror, lock, recovery},
    target::config,
    target::focus_api as api,
    target::kube as cluster,
    target::redact,
};
