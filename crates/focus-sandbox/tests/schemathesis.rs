//! Schemathesis against `/openapi.json` with the fiber connected: no undocumented
//! status, no 5xx, responses conform, negative data rejected; and a defect that breaks
//! one constraint (`skip-height-check`) is flagged.
//!
//! Schemathesis is installed by this test into `target/schemathesis` (a Python venv,
//! via pip) when absent.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use focus_sandbox::{Defect, Sandbox, SandboxOptions, ServerConfig};
use std::process::Command;

const VERSION: &str = "4.32.5";
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection";

fn venv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/schemathesis")
}

/// Runs `cmd` under coreutils' `timeout`, off the async workers.
async fn run(cmd: &mut Command, what: &str, limit: Duration) -> Output {
    let mut limited = Command::new("timeout");
    limited
        .arg("--kill-after=10")
        .arg(limit.as_secs().to_string())
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        limited.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            limited.env(k, v);
        }
    }
    let what = what.to_owned();
    tokio::task::spawn_blocking(move || limited.output())
        .await
        .expect("join")
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"))
}

/// `target/schemathesis/bin/st`, installing it first when absent.
async fn schemathesis() -> PathBuf {
    let venv = venv();
    let st = venv.join("bin/st");
    if st.exists() {
        return st;
    }
    let out = run(
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
        "python3 -m venv",
        Duration::from_secs(120),
    )
    .await;
    assert!(
        out.status.success(),
        "venv: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("schemathesis=={VERSION}")),
        "pip install schemathesis",
        Duration::from_secs(540),
    )
    .await;
    assert!(
        out.status.success(),
        "pip: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    st
}

async fn st_run(st: &Path, url: &str, extra: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("dir");
    let out = run(
        Command::new(st)
            .current_dir(dir.path())
            .args(["run", &format!("{url}/openapi.json"), "--checks", CHECKS])
            .args([
                "--max-examples",
                "30",
                "--phases",
                "examples,coverage,fuzzing",
            ])
            .args(["--generation-deterministic", "--no-color"])
            .args(extra)
            .env("NO_COLOR", "1"),
        "st run",
        Duration::from_secs(480),
    )
    .await;
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_holds_and_a_broken_constraint_is_flagged() {
    let st = schemathesis().await;
    let sandbox = Sandbox::start(SandboxOptions {
        sim: kube_sim::SimConfig::fast(),
        server: ServerConfig {
            idle_timeout_secs: 3600,
            ..ServerConfig::default()
        },
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox");
    let url = sandbox.api_url();

    let (ok, text) = st_run(&st, &url, &[]).await;
    assert!(ok, "schemathesis found problems:\n{text}");
    assert!(
        sandbox.state().counters_snapshot().configure_ok > 0,
        "no generated request opened an investigation:\n{text}"
    );

    sandbox.state().set_defect(Defect::SkipHeightCheck, true);
    let (ok, text) = st_run(&st, &url, &["--include-path", "/configure"]).await;
    assert!(!ok, "skip-height-check went unnoticed:\n{text}");
    assert!(
        text.contains("displayInfo -> height"),
        "flagged, but not for the height:\n{text}"
    );
    sandbox.shutdown().await;
}
