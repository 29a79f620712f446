//! focus-scope: the BDD specification suite for Focus Server's infrastructure scope.
//!
//! Layers, from the features down (docs/architecture.md): `cli` → `run` (lifecycle,
//! plan, exit code) → `steps` (one-line glue) and `world` (per-scenario state) →
//! `spec` (the domain) → `safety` (ledger, faults, recovery) and `target` (the only
//! code that talks HTTP to Focus Server or builds `kube::Api`s); `report` writes
//! what a run found.
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
