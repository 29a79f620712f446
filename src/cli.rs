//! The command line: argument types only. `main.rs` dispatches them; `runner` and
//! `recovery` do the work. A bare `focus-scope [cucumber options]` is `run`.

use cucumber::{cli, parser, runner, writer};

/// Cucumber's own options (`--tags`, `--name`, `--concurrency`, `--input`, …) plus the
/// suite's (`--allow-destructive`), exactly as `tests/cucumber.rs` accepts them.
pub type RunArgs = cli::Opts<
    parser::basic::Cli,
    runner::basic::Cli,
    // The runner's writer chain: terminal, then JUnit, Cucumber JSON and outcomes.
    cli::Compose<
        cli::Compose<cli::Compose<writer::basic::Cli, writer::junit::Cli>, cli::Empty>,
        cli::Empty,
    >,
    SuiteCli,
>;

/// Options of the suite on top of cucumber's own (`--tags`, `--name`, `-c`, …).
#[derive(cucumber::cli::Args, Debug, Clone, Default)]
pub struct SuiteCli {
    /// Accepted and ignored: libtest's name filters (`cargo test <filter>`).
    #[arg(hide = true)]
    pub libtest_filters: Vec<String>,
    /// Accepted and ignored: libtest's flags.
    #[arg(long, hide = true)]
    pub nocapture: bool,
    #[arg(long, hide = true)]
    pub test_threads: Option<usize>,
    #[arg(long, hide = true)]
    pub show_output: bool,
    #[arg(long, hide = true)]
    pub exact: bool,
    #[arg(long, hide = true)]
    pub quiet: bool,
    /// Permit `@destructive` scenarios (fault injection, quota, saturation) on a protected profile.
    #[arg(long)]
    pub allow_destructive: bool,
    /// More diagnostics on stderr (as `-v`): --verbose debug, twice trace.
    #[arg(id = "log_verbose", long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
}

pub const ABOUT: &str = "BDD specification suite for Focus Server's infrastructure scope: \
the Kubernetes layer, the API's validations and system behaviour.";

pub const LONG_ABOUT: &str = "BDD specification suite for Focus Server's infrastructure scope: \
the Kubernetes layer, the API's validations and system behaviour.

Without a subcommand it runs the suite (`run`) against the profile FOCUS_ENV names \
(default `sandbox`: the embedded sandbox on 127.0.0.1). Reports go to \
target/focus-scope/runs/<run-id>/. Exit codes: 0 passed, 1 scenario failures, \
2 configuration or usage error, 3 refused by the profile's protection, 4 environment \
unreachable or locked, 5 run deadline exceeded, 130 interrupted.

`focus-scope run --help` lists the run's options (cucumber's `--tags`, `--name`, \
`--concurrency`, … and `--allow-destructive`); they are accepted without `run` too.";

#[derive(clap::Parser, Debug)]
#[command(
    name = "focus-scope",
    about = ABOUT,
    long_about = LONG_ABOUT,
    disable_version_flag = true
)]
pub struct Cli {
    /// Print the version and the suite's commit.
    #[arg(short = 'V', long)]
    pub version: bool,
    #[command(flatten)]
    pub verbosity: Verbosity,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The process' arguments as one `Cli`: arguments that do not start with a
    /// subcommand (or `--help`/`--version`) are `run`'s, as `focus-scope --tags @k8s`.
    /// Cucumber's options are global, so they live under `run` only and do not leak
    /// into the other subcommands' help.
    pub fn args_with_default_run<I: IntoIterator<Item = std::ffi::OsString>>(
        args: I,
    ) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = args.into_iter().collect();
        // `focus-scope -v cleanup …`: the subcommand is the first word after `-v`s.
        let first = args
            .iter()
            .skip(1)
            .map(|a| a.to_str())
            .find(|a| !a.is_some_and(Verbosity::is_flag))
            .flatten();
        let ours = first.is_some_and(|a| {
            matches!(
                a,
                "run"
                    | "plan"
                    | "scope"
                    | "config"
                    | "cleanup"
                    | "help"
                    | "-h"
                    | "--help"
                    | "-V"
                    | "--version"
            )
        });
        if !ours {
            args.insert(1.min(args.len()), "run".into());
        }
        args
    }
}

impl Cli {
    /// The `-v`s given before the subcommand and after it.
    pub fn verbosity(&self) -> u8 {
        let after = match &self.command {
            Some(Command::Run(r)) => run_verbosity(r),
            Some(Command::Plan(p)) => p.verbosity.verbose,
            Some(Command::Cleanup(c)) => c.verbosity.verbose,
            Some(Command::Scope | Command::Config) | None => 0,
        };
        self.verbosity.verbose.saturating_add(after)
    }
}

/// A run's `-v`s: cucumber's own `-v` (whose `-vv` also shows the world of a failed
/// step) and the suite's `--verbose`.
pub fn run_verbosity(run: &RunArgs) -> u8 {
    run.writer
        .left
        .left
        .left
        .verbose
        .saturating_add(run.custom.verbose)
}

/// Diagnostics on stderr: `-v` adds debug lines (and the embedded servers' logs),
/// `-vv` trace. `RUST_LOG` overrides both.
#[derive(clap::Args, Debug, Default, Clone, Copy)]
pub struct Verbosity {
    /// More diagnostics on stderr: -v debug, -vv trace (RUST_LOG overrides).
    // Not the id of cucumber's global `-v` under `run`, whose value clap would copy up.
    #[arg(id = "log_verbose", short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl Verbosity {
    fn is_flag(arg: &str) -> bool {
        arg == "--verbose"
            || arg
                .strip_prefix('-')
                .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c == 'v'))
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Run the suite (the default): cucumber's options and the suite's.
    Run(Box<RunArgs>),
    /// Print what a run of the profile would run, skip or refuse; nothing is contacted.
    Plan(PlanArgs),
    /// Print the scope matrix of the latest run.
    Scope,
    /// Print the effective configuration of the profile FOCUS_ENV names.
    Config,
    /// Remove what a crashed run left behind: exactly its ledgered investigations.
    Cleanup(CleanupArgs),
}

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// A tag expression, as for `run` (e.g. '@k8s and not @slow').
    #[arg(short, long, value_name = "EXPR")]
    pub tags: Option<String>,
    /// Plan `@destructive` scenarios too on a protected profile.
    #[arg(long)]
    pub allow_destructive: bool,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["run", "all"])))]
pub struct CleanupArgs {
    /// The run whose ledger (or ledger mirror) names what to remove.
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,
    /// Every run ledgered under the output directory, and every mirror on the cluster.
    #[arg(long)]
    pub all: bool,
    /// Also remove investigations a run asked for but never saw answered (unprotected
    /// profiles only).
    #[arg(long)]
    pub include_in_flight: bool,
    /// Clean up even while the run's Lease is live (the run may still be going).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

/// `focus-scope run --help`: cucumber's own about text would say something else.
pub const RUN_ABOUT: &str = "Run the suite (the default): cucumber's options and the suite's.";

/// `focus-scope --version`: the package version and the commit it was built from.
pub fn version_line() -> String {
    format!(
        "focus-scope {} (commit {})",
        env!("CARGO_PKG_VERSION"),
        suite_commit()
    )
}

/// The commit the suite was built from: `FOCUS_SUITE_COMMIT` (the image sets it), else
/// the checkout's HEAD, else "unknown".
pub fn suite_commit() -> String {
    std::env::var("FOCUS_SUITE_COMMIT").ok().unwrap_or_else(|| {
        std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".into())
    })
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _};

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(Cli::args_with_default_run(
            args.iter().map(std::ffi::OsString::from),
        ))
    }

    #[test]
    fn cucumber_options_work_without_the_subcommand() {
        for args in [
            &["focus-scope", "--tags", "@k8s"][..],
            &["focus-scope", "run", "-t", "@k8s"],
        ] {
            let cli = parse(args).expect("parses");
            assert!(matches!(cli.command, Some(Command::Run(ref r)) if r.tags_filter.is_some()));
        }
        assert!(matches!(
            parse(&["focus-scope"]).expect("parses").command,
            Some(Command::Run(_))
        ));
    }

    #[test]
    fn cucumber_options_stay_under_run() {
        assert!(parse(&["focus-scope", "cleanup", "--all", "--concurrency", "2"]).is_err());
    }

    #[test]
    fn subcommands_are_not_taken_for_filters() {
        let cli = parse(&["focus-scope", "cleanup", "--run", "r1"]).expect("parses");
        assert!(
            matches!(cli.command, Some(Command::Cleanup(CleanupArgs { run: Some(ref r), .. })) if r == "r1")
        );
        let cli = parse(&["focus-scope", "plan", "--tags", "@api"]).expect("parses");
        assert!(matches!(
            cli.command,
            Some(Command::Plan(PlanArgs { tags: Some(_), .. }))
        ));
    }

    #[test]
    fn verbosity_counts_before_and_after_the_subcommand() {
        let v = |args: &[&str]| parse(args).expect("parses").verbosity();
        assert_eq!(v(&["focus-scope", "--tags", "@k8s"]), 0);
        assert_eq!(v(&["focus-scope", "-v", "--tags", "@k8s"]), 1);
        assert_eq!(v(&["focus-scope", "run", "-vv", "--verbose"]), 3);
        assert_eq!(v(&["focus-scope", "-v", "cleanup", "--all", "-v"]), 2);
        assert_eq!(v(&["focus-scope", "--verbose", "config"]), 1);
        assert!(matches!(
            parse(&["focus-scope", "-vv", "cleanup", "--all"])
                .expect("parses")
                .command,
            Some(Command::Cleanup(_))
        ));
    }

    #[test]
    fn cleanup_needs_a_run_or_all() {
        assert!(parse(&["focus-scope", "cleanup"]).is_err());
        assert!(parse(&["focus-scope", "cleanup", "--run", "a", "--all"]).is_err());
    }
}
