//! focus-sandbox: a reference Focus Server.
//!
//! It implements the Focus Server contract as the project writes it down in
//! `docs/contract.md` (at the workspace root: endpoints, request fields, validation
//! rules, answers, and the Kubernetes objects a configure creates) in two profiles
//! (`as-required`, `as-observed`), opens one Kubernetes Job per investigation through
//! kube-rs (so it runs against any cluster), and can be broken on purpose with named
//! [`Defect`]s. [`Sandbox::start`] bundles it with the simulated cluster `kube-sim`,
//! in-process.
//!
//! Layout: [`api`] (routes, one-line handlers) → domain modules
//! ([`investigation`], [`validation`], [`slots`], [`manifests`], [`catalogue`],
//! [`control`], [`defects`], [`idle`]) → `kube::Client`; below them [`names`] (the
//! investigation objects' names, also for clients) and [`rule`] (the validation rule
//! classes). Only [`sandbox`] knows kube-sim.

#![recursion_limit = "256"]

pub mod api;
pub mod catalogue;
pub mod config;
pub mod control;
pub mod defects;
pub mod error;
pub mod idle;
pub mod investigation;
pub mod manifests;
pub mod names;
pub mod openapi;
pub mod presence;
pub mod request;
pub mod rule;
pub mod sandbox;
pub mod slots;
pub mod state;
pub mod tls;
pub mod validation;

pub use api::app;
pub use config::{ServerConfig, ServerProfile};
pub use defects::Defect;
pub use error::AppError;
/// The simulated cluster the sandbox bundles (for `SimConfig`).
pub use kube_sim;
pub use sandbox::{Sandbox, SandboxOptions, USER_AGENT};
pub use state::AppState;
