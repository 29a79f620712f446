//! focus-scope: the BDD specification suite for Focus Server's infrastructure scope.
//!
//! Layers, from the features down (docs/architecture.md, kept by tests/layers.rs):
//! `run` (lifecycle, plan, exit code; `cli` holds its argument types) → `steps` (one-line
//! glue) and `world` (per-scenario state) → `report` (what a run found) and `safety`
//! (lock, ledger, faults, recovery) → `spec` (the domain) → `target` (the only code that
//! talks HTTP to Focus Server or builds `kube::Api`s, and the words for what it holds).
//!
//! Public are what the binary and the tests use: `cli`, `output`, a run
//! (`run::{runner, lock, exit}`), the safety net the recovery tests drive
//! (`safety::{faults, ledger, ledger_mirror, recovery}`), `spec::{investigation, tags}`
//! and the targets (`target::{config, focus_api, kube}`). Everything else is `pub(crate)`.

pub mod cli;
pub mod output;
pub(crate) mod report;
pub mod run;
pub mod safety;
pub mod spec;
pub(crate) mod steps;
pub mod target;
pub(crate) mod world;
