//! focus-scope: the BDD specification suite for Focus Server's infrastructure scope.
//!
//! Layers, from the features down: `steps` (one-line glue) → `world` (per-scenario
//! state) → the domain layer (`api`, `cluster`, `investigation`) → the target, reached
//! only over HTTP and the Kubernetes API. `suite` holds the run's shared context,
//! `runner` drives cucumber and decides the exit code.

pub mod api;
pub mod availability;
pub mod capacity;
pub mod changes;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod contract;
pub mod diagnostics;
pub mod exclusive;
pub mod exit;
pub mod faults;
pub mod footprint;
pub mod hold;
pub mod investigation;
pub mod junit;
pub mod ledger;
pub mod ledger_mirror;
pub mod lock;
pub mod metrics;
pub mod net;
pub mod outcome;
pub mod output;
pub mod plan;
pub mod premise;
pub mod recovery;
pub mod redact;
pub mod register;
pub mod report;
pub mod runner;
pub mod soak;
pub mod steps;
pub mod suite;
pub mod wait;
pub mod world;
