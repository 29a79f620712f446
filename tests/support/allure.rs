//! The real Allure command line (pinned: npm package `allure` 3.18.0, Allure 3, which
//! reads the Allure 2 result files the suite writes), installed with npm into
//! `<target dir>/allure-cli` when absent (once per test binary, a file lock keeps
//! concurrent binaries apart) and run with node. When the install is impossible the
//! tests fail under `CI=true` and print a loud skip otherwise.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::kubectl::run_with_deadline;

pub const ALLURE_VERSION: &str = "3.18.0";

fn target_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target dir>/tmp`.
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).to_path_buf()
}

/// `cli.js` of the pinned Allure, installing it once.
fn allure_cli() -> Result<PathBuf, String> {
    static CLI: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    CLI.get_or_init(install).clone()
}

fn install() -> Result<PathBuf, String> {
    let target = target_dir();
    std::fs::create_dir_all(&target).map_err(|e| format!("create {}: {e}", target.display()))?;
    let dir = target.join("allure-cli");
    let cli = dir.join("node_modules").join("allure").join("cli.js");
    let lock_path = target.join("allure-cli.lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(|e| format!("create {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("lock {}: {e}", lock_path.display()))?;
    if check_version(&cli).is_ok() {
        return Ok(cli);
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let mut npm = Command::new("npm");
    npm.args([
        "install",
        "--no-audit",
        "--no-fund",
        "--no-update-notifier",
        "--loglevel=error",
    ])
    .arg("--prefix")
    .arg(&dir)
    .arg("--cache")
    .arg(target.join("npm-cache"))
    .arg(format!("allure@{ALLURE_VERSION}"));
    let out = run_with_deadline(npm, None, Duration::from_secs(300))
        .map_err(|e| format!("npm install: {e}"))?;
    if !out.success {
        return Err(format!(
            "npm install allure@{ALLURE_VERSION} failed: {}",
            out.stderr.trim()
        ));
    }
    check_version(&cli)?;
    Ok(cli)
}

fn check_version(cli: &Path) -> Result<(), String> {
    if !cli.is_file() {
        return Err(format!("{} not found", cli.display()));
    }
    let mut cmd = Command::new("node");
    cmd.arg(cli).arg("--version");
    let out = run_with_deadline(cmd, None, Duration::from_secs(30))?;
    if out.stdout.trim() == ALLURE_VERSION {
        Ok(())
    } else {
        Err(format!(
            "{} is not Allure {ALLURE_VERSION}: {}{}",
            cli.display(),
            out.stdout,
            out.stderr
        ))
    }
}

/// The pinned Allure's `cli.js`, or `None` after a loud skip message (outside CI).
pub fn allure_or_skip() -> Option<PathBuf> {
    match allure_cli() {
        Ok(cli) => Some(cli),
        Err(reason) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("the Allure command line could not be installed (CI=true): {reason}");
            }
            // straight to fd 2: the test harness captures `eprintln!` of passing tests
            let _ = std::io::stderr().write_all(
                format!(
                    "\n==============================================================\n\
                     SKIPPED: the Allure command line (npm allure@{ALLURE_VERSION}) could not be installed: {reason}\n\
                     ==============================================================\n"
                )
                .as_bytes(),
            );
            None
        }
    }
}

/// Generates a single-file Allure report (`index.html`) from `results` into `out`.
pub fn generate(cli: &Path, results: &Path, out: &Path) -> Result<PathBuf, String> {
    let config = out.with_extension("allurerc.json");
    let rc = serde_json::json!({
        "name": "focus-scope",
        "output": out,
        // Grouped by language: a group with a failure opens, so every title is rendered.
        "plugins": {"awesome": {"options": {"singleFile": true, "reportLanguage": "en", "groupBy": ["language"]}}},
    });
    std::fs::write(&config, rc.to_string())
        .map_err(|e| format!("write {}: {e}", config.display()))?;
    let mut cmd = Command::new("node");
    cmd.arg(cli)
        .arg("generate")
        .arg("--config")
        .arg(&config)
        .arg(results)
        .env("NO_COLOR", "1");
    let run = run_with_deadline(cmd, None, Duration::from_secs(120))?;
    let index = out.join("index.html");
    if !run.success || !index.is_file() {
        return Err(format!(
            "allure generate failed:\n{}\n{}",
            run.stdout, run.stderr
        ));
    }
    Ok(index)
}
