//! `focus-scope`: runs the suite (by default against the embedded sandbox) with
//! cucumber's options, e.g. `focus-scope --tags @k8s`. `focus-scope config` prints the
//! effective configuration; `focus-scope scope` the scope matrix of the latest run.

use std::process::ExitCode;

use focus_scope::config::Config;
use focus_scope::exit::Exit;

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("config") {
        return match Config::from_env() {
            Ok(c) => {
                println!("# profile {c}\n{}", c.to_toml());
                Exit::Passed.into()
            }
            Err(e) => {
                eprintln!("focus-scope: {e}");
                Exit::Config.into()
            }
        };
    }
    if std::env::args().nth(1).as_deref() == Some("scope") {
        return focus_scope::runner::print_scope_matrix().into();
    }
    focus_scope::runner::run().await.into()
}
