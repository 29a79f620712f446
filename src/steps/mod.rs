//! Step definitions: one-line glue from Gherkin to the domain layer, by area.
//! Each step function carries its English attribute (Hebrew twins join them).

pub mod api;
pub mod common;
pub mod k8s;
pub mod limits;
pub mod metadata;
pub mod stream;
pub mod system;
