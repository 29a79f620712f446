//! focus-scope: the BDD specification suite for Focus Server's infrastructure scope.
//!
//! Layers, from the features down (docs/architecture.md): `cli` → `run` (lifecycle,
//! plan, exit code) → `steps` (one-line glue) and `world` (per-scenario state) →
//! `spec` (the domain) → `safety` (ledger, faults, recovery) and `target` (the only
//! code that talks HTTP to Focus Server or builds `kube::Api`s); `report` writes
//! what a run found.

pub mod cli;
pub mod output;
pub mod report;
pub mod run;
pub mod safety;
pub mod spec;
pub mod steps;
pub mod target;
pub mod world;

// The flat paths of before the move into layers, so that branches written against them
// still build when merged. Remove once no branch in flight uses them.
#[doc(hidden)]
pub use {
    report::{diagnostics, junit, metrics},
    run::{exit, hold, lock, plan, runner, suite},
    safety::{faults, ledger, ledger_mirror, recovery, redact},
    spec::known_issues as register,
    spec::{
        availability, capacity, changes, contract, footprint, investigation, outcome, premise, soak,
    },
    target::focus_api as api,
    target::kube as cluster,
    target::{config, net, wait},
};
