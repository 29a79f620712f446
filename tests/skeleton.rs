//! The walking skeleton's promises, checked by running the suite as a user would.

mod support;

use std::time::Duration;

use support::{config_dir_with, path_str, run_suite};

const WALL: Duration = Duration::from_secs(240);

#[test]
fn k8s_scenario_passes_and_ignores_a_garbage_kubeconfig() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let garbage = tmp.path().join("kubeconfig");
    std::fs::write(&garbage, "{{{ this is not a kubeconfig").expect("write garbage");
    let run = run_suite(
        &["--tags", "@k8s"],
        &[("KUBECONFIG", &path_str(&garbage))],
        WALL,
    );
    assert_eq!(run.code, Some(0), "{}", run.all_output());
    assert!(
        run.results()
            .iter()
            .any(|(id, s)| id == "k8s-live-investigation-opens" && s == "passed"),
        "{}",
        run.all_output()
    );
    for f in ["junit.xml", "cucumber.json", "ledger.jsonl", "summary.json"] {
        assert!(run.output_dir.path().join(f).is_file(), "{f} missing");
    }
}

#[test]
fn a_filter_selecting_nothing_fails() {
    let run = run_suite(&["--tags", "@nothing"], &[], WALL);
    assert_eq!(run.code, Some(2), "{}", run.all_output());
    assert!(
        run.stderr.contains("no scenario selected"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_scenario_fails_clearly_when_the_job_is_never_created() {
    let run = run_suite(
        &["--tags", "@id:k8s-live-investigation-opens"],
        &[("FOCUS_SANDBOX_DEFECTS", "no-stream-job")],
        WALL,
    );
    assert_eq!(run.code, Some(1), "{}", run.all_output());
    assert_eq!(
        run.failed_ids(),
        vec!["k8s-live-investigation-opens".to_string()]
    );
    assert!(
        run.stderr.contains("waiting for Job grpc-job-"),
        "the failure must say which Job never appeared: {}",
        run.stderr
    );
}

#[test]
fn an_unknown_profile_is_a_configuration_error() {
    let run = run_suite(&[], &[("FOCUS_ENV", "no-such-profile")], WALL);
    assert_eq!(run.code, Some(2), "{}", run.all_output());
    assert!(run.stderr.contains("no-such-profile"), "{}", run.stderr);
}

#[test]
fn a_bad_key_names_key_and_file() {
    let dir = config_dir_with(
        "broken",
        "protected = false\nexclusive = true\nspeed = 3\n[target]\nkind = \"sandbox\"\n",
    );
    let run = run_suite(
        &[],
        &[
            ("FOCUS_ENV", "broken"),
            ("FOCUS_CONFIG_DIR", &path_str(dir.path())),
        ],
        WALL,
    );
    assert_eq!(run.code, Some(2), "{}", run.all_output());
    assert!(
        run.stderr.contains("broken.toml") && run.stderr.contains("speed"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_dead_endpoint_fails_within_its_deadline() {
    // A loopback port nobody listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    // The cluster too is dead (the same port): the profile names it, as it must.
    let kc_dir = tempfile::tempdir().expect("kubeconfig dir");
    let kubeconfig = kc_dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            r#"{{"apiVersion":"v1","kind":"Config","clusters":[{{"name":"dead","cluster":{{"server":"http://127.0.0.1:{port}"}}}}],"users":[{{"name":"dead","user":{{}}}}],"contexts":[{{"name":"dead","context":{{"cluster":"dead","user":"dead"}}}}],"current-context":"dead"}}"#
        ),
    )
    .expect("write kubeconfig");
    let dir = config_dir_with(
        "dead",
        &format!(
            r#"protected = true
exclusive = false
[target]
kind = "remote"
api_url = "http://127.0.0.1:{port}/focus-server"
kubeconfig = "{kubeconfig}"
[deadlines]
request = "1s"
object_appears = "1s"
pod_running = "1s"
port_reachable = "1s"
deletion = "1s"
startup = "2s"
"#,
            kubeconfig = path_str(&kubeconfig)
        ),
    );
    let started = std::time::Instant::now();
    let run = run_suite(
        &[],
        &[
            ("FOCUS_ENV", "dead"),
            ("FOCUS_CONFIG_DIR", &path_str(dir.path())),
        ],
        WALL,
    );
    assert_eq!(run.code, Some(4), "{}", run.all_output());
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert!(run.stderr.contains("Focus Server"), "{}", run.stderr);
}

/// The binary's own command line, without running any scenario.
fn focus_scope(args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_focus-scope"));
    cmd.args(args)
        .env_remove("FOCUS_ENV")
        .current_dir(support::manifest_dir());
    support::run_capped(cmd, Duration::from_secs(30))
}

#[test]
fn the_command_line_explains_itself() {
    let help = focus_scope(&["--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert_eq!(help.status.code(), Some(0), "{text}");
    assert!(text.contains("Focus Server"), "our own about text:\n{text}");
    assert!(
        !text.contains("pet a dog"),
        "cucumber's about text:\n{text}"
    );
    for sub in ["run", "plan", "scope", "config", "cleanup"] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(sub)),
            "`{sub}` listed:\n{text}"
        );
    }
    for sub in ["cleanup", "plan", "run", "scope", "config"] {
        let out = focus_scope(&[sub, "--help"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{sub} --help:\n{text}");
        assert!(text.contains("Usage: focus-scope"), "{sub} --help:\n{text}");
    }
    let out = focus_scope(&["cleanup", "--run", "x", "--bogus"]);
    assert_eq!(out.status.code(), Some(2), "a usage error is exit 2");
    let version = focus_scope(&["--version"]);
    let text = String::from_utf8_lossy(&version.stdout);
    assert_eq!(version.status.code(), Some(0), "{text}");
    assert!(
        text.starts_with(&format!(
            "focus-scope {} (commit ",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
}

#[test]
fn a_closed_stdout_ends_quietly() {
    use std::io::{BufRead as _, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_focus-scope"))
        .args(["plan"])
        .env_remove("FOCUS_ENV")
        .current_dir(support::manifest_dir())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("focus-scope starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("one line");
    // The reader is gone (as with `| head -1`); the rest of the plan meets a closed pipe.
    let out = child.wait_with_output().expect("focus-scope ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(first.starts_with("RUN"), "{first}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
