//! `focus-scope`: one CLI (see `cli.rs`). `focus-scope [run] [cucumber options]` runs
//! the suite (by default against the embedded sandbox); `plan`, `scope`, `config` and
//! `cleanup` are the other subcommands; `--help` on each says what it takes.

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _};
use focus_scope::cli::{self, Cli, Command};
use focus_scope::run::exit::Exit;
use focus_scope::target::config::Config;

#[tokio::main]
async fn main() -> ExitCode {
    // Cucumber's flattened options bring their own about text; ours is set after them.
    let command = Cli::command()
        .about(cli::ABOUT)
        .long_about(cli::LONG_ABOUT)
        .mut_subcommand("run", |c| c.about(cli::RUN_ABOUT).long_about(None::<&str>));
    let parsed = command
        .try_get_matches_from(Cli::args_with_default_run(std::env::args_os()))
        .and_then(|mut m| Cli::from_arg_matches_mut(&mut m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let usage_error = e.use_stderr();
            // Help goes to stdout; a closed stdout is not an error worth a panic.
            let _ = e.print();
            return if usage_error {
                Exit::Config.into()
            } else {
                Exit::Passed.into()
            };
        }
    };
    focus_scope::output::init_logging(cli.verbosity());
    if cli.version {
        focus_scope::output::say(cli::version_line());
        return Exit::Passed.into();
    }
    match cli.command {
        // `args_with_default_run` makes every other command line a `run`.
        None => {
            eprintln!("focus-scope: no command (see --help)");
            Exit::Config.into()
        }
        Some(Command::Run(run)) => focus_scope::run::runner::run(*run).await.into(),
        Some(Command::Plan(plan)) => {
            focus_scope::run::runner::print_plan(plan.tags.as_deref(), plan.allow_destructive)
                .into()
        }
        Some(Command::Scope) => focus_scope::run::runner::print_scope_matrix().into(),
        Some(Command::Config) => match Config::from_env() {
            Ok(c) => {
                focus_scope::output::say(format!("# profile {c}\n{}", c.to_toml()));
                Exit::Passed.into()
            }
            Err(e) => {
                eprintln!("focus-scope: {e}");
                Exit::Config.into()
            }
        },
        Some(Command::Cleanup(args)) => cleanup(args).await.into(),
    }
}

/// `focus-scope cleanup (--run ID | --all) [--include-in-flight] [--force]`.
async fn cleanup(args: cli::CleanupArgs) -> Exit {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("focus-scope: {e}");
            return Exit::Config;
        }
    };
    let root = focus_scope::run::runner::output_root();
    let run = if args.all { None } else { args.run.as_deref() };
    match focus_scope::safety::recovery::cleanup(
        &config,
        &root,
        run,
        args.include_in_flight,
        args.force,
    )
    .await
    {
        Ok(0) => Exit::Passed,
        Ok(n) => {
            eprintln!("focus-scope cleanup: {n} investigations could not be removed");
            Exit::Failures
        }
        Err(e)
            if e.downcast_ref::<focus_scope::safety::recovery::LiveRun>()
                .is_some() =>
        {
            eprintln!("focus-scope cleanup: {e:#}");
            Exit::Unreachable
        }
        Err(e) => {
            eprintln!("focus-scope cleanup: {e:#}");
            Exit::Config
        }
    }
}
