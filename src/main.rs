//! `focus-scope`: runs the suite (by default against the embedded sandbox) with
//! cucumber's options, e.g. `focus-scope --tags @k8s`. `focus-scope config` prints the
//! effective configuration; `focus-scope scope` the scope matrix of the latest run;
//! `focus-scope plan [--tags EXPR] [--allow-destructive]` what a run would do, before
//! anything is sent; `focus-scope cleanup [--run ID | --all] [--include-in-flight] [--force]` removes what a
//! crashed run left behind (exactly its ledgered objects, by uid; a live run is refused).

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
    if std::env::args().nth(1).as_deref() == Some("cleanup") {
        return cleanup().await.into();
    }
    if std::env::args().nth(1).as_deref() == Some("plan") {
        return focus_scope::runner::print_plan().into();
    }
    if std::env::args().nth(1).as_deref() == Some("scope") {
        return focus_scope::runner::print_scope_matrix().into();
    }
    focus_scope::runner::run().await.into()
}

/// `focus-scope cleanup [--run ID | --all] [--include-in-flight]`.
async fn cleanup() -> Exit {
    let args: Vec<String> = std::env::args().skip(2).collect();
    let mut run = None;
    let mut all = false;
    let mut include_in_flight = false;
    let mut force = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--run" => run = it.next().cloned(),
            "--all" => all = true,
            "--include-in-flight" => include_in_flight = true,
            "--force" => force = true,
            other => {
                eprintln!(
                    "focus-scope cleanup: unknown option `{other}` (--run ID | --all, --include-in-flight, --force)"
                );
                return Exit::Config;
            }
        }
    }
    if run.is_none() && !all {
        eprintln!("focus-scope cleanup: name a run (--run ID) or --all");
        return Exit::Config;
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("focus-scope: {e}");
            return Exit::Config;
        }
    };
    let root = focus_scope::runner::output_root();
    match focus_scope::recovery::cleanup(&config, &root, run.as_deref(), include_in_flight, force)
        .await
    {
        Ok(0) => Exit::Passed,
        Ok(n) => {
            eprintln!("focus-scope cleanup: {n} investigations could not be removed");
            Exit::Failures
        }
        Err(e) if e.downcast_ref::<focus_scope::recovery::LiveRun>().is_some() => {
            eprintln!("focus-scope cleanup: {e:#}");
            Exit::Unreachable
        }
        Err(e) => {
            eprintln!("focus-scope cleanup: {e:#}");
            Exit::Config
        }
    }
}
