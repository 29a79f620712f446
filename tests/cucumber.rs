//! `cargo test --test cucumber [-- <cucumber options>]`: the suite against the target
//! of the selected profile (the embedded sandbox by default).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    focus_scope::run::runner::run(focus_scope::cli::RunArgs::parsed())
        .await
        .into()
}
