//! The target: the profiles that name it, and the only code that talks to it — HTTP
//! to Focus Server (`focus_api`), the Kubernetes API (`kube`), the stream port (`net`)
//! — with the deadlines every wait on it goes through (`wait`), and the redaction of
//! what it answers (`redact`: secrets never reach an output).

pub mod config;
pub mod focus_api;
pub mod kube;
pub mod names;
pub(crate) mod net;
pub(crate) mod profile;
pub(crate) mod redact;
pub(crate) mod wait;
