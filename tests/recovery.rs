//! Crash recovery: the suite is SIGKILLed in the middle of the 200-investigation
//! scenario against a separately started sandbox that holds someone else's
//! investigation. `focus-scope cleanup --all` removes every ledgered investigation and
//! reports the configures that were in flight; with `--include-in-flight` nothing of
//! the run remains; the foreign investigation survives both.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    config_dir_with, manifest_dir, open_foreign_investigation, remote_profile, run_capped,
    start_sandbox,
};
use focus_sandbox::SandboxOptions;
use focus_scope::cluster::Cluster;
use focus_scope::ledger::{Entry, Ledger};

#[test]
fn sigkill_mid_run_then_cleanup_removes_exactly_the_runs_investigations() {
    let (rt, sandbox) = start_sandbox(SandboxOptions::default());
    let foreign_id = open_foreign_investigation(&rt, &sandbox.api_url());

    let config = config_dir_with(
        "crashy",
        &remote_profile(
            &sandbox,
            "protected = false\nexclusive = false\nfaults = \"kubernetes\"",
            "",
        ),
    );
    let output = tempfile::tempdir().expect("output dir");
    let env = |cmd: &mut Command| {
        cmd.env("FOCUS_ENV", "crashy")
            .env("FOCUS_CONFIG_DIR", config.path())
            .env("FOCUS_OUTPUT_DIR", output.path())
            .env("FOCUS_FEATURES", manifest_dir().join("features/en"))
            .current_dir(manifest_dir());
    };
    let mut suite = Command::new(env!("CARGO_BIN_EXE_focus-scope"));
    suite
        .args(["--tags", "@id:k8s-200-in-parallel"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    env(&mut suite);
    let mut child = suite.spawn().expect("start the suite");

    // Kill it once it has ledgered a good part of the batch.
    let started = Instant::now();
    let ledger_path = loop {
        let found = std::fs::read_dir(output.path().join("runs"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("ledger.jsonl"))
            .find(|p| {
                Ledger::read(p)
                    .map(|es| {
                        es.iter()
                            .filter(|e| matches!(e, Entry::Opened { .. }))
                            .count()
                            >= 40
                    })
                    .unwrap_or(false)
            });
        if let Some(p) = found {
            break p;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the suite never opened 40 investigations"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().expect("SIGKILL the suite");
    let _ = child.wait();

    let cluster = rt
        .block_on(Cluster::connect(
            Some(sandbox.kubeconfig_path()),
            None,
            "panda",
            Duration::from_secs(10),
        ))
        .expect("cluster");
    let opened: BTreeSet<String> = Ledger::read(&ledger_path)
        .expect("ledger")
        .into_iter()
        .filter_map(|e| match e {
            Entry::Opened { job_id, .. } => Some(job_id),
            _ => None,
        })
        .collect();
    assert!(!opened.is_empty());

    // A fault object the crashed run left (as a port-holder Service would be), and one
    // of another run: only the crashed run's goes.
    let run_id = Ledger::read(&ledger_path)
        .expect("ledger")
        .into_iter()
        .find_map(|e| match e {
            Entry::Baseline { run_id, .. } => Some(run_id),
            _ => None,
        })
        .expect("baseline entry");
    let services: kube::Api<k8s_openapi::api::core::v1::Service> =
        kube::Api::namespaced(cluster.client(), "panda");
    for (name, label) in [
        (
            "focus-scope-port-holder-12499",
            focus_scope::faults::label_value(&run_id),
        ),
        ("focus-scope-port-holder-12498", "another-run".to_string()),
    ] {
        let svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {focus_scope::faults::RUN_LABEL: label}},
            "spec": {"type": "NodePort", "selector": {"x": "y"},
                     "ports": [{"port": 5000, "nodePort": name.rsplit('-').next().and_then(|p| p.parse::<i32>().ok()).unwrap_or(0)}]}
        }))
        .expect("service");
        rt.block_on(services.create(&kube::api::PostParams::default(), &svc))
            .expect("create holder");
    }

    let cleanup = |extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_focus-scope"));
        cmd.arg("cleanup").arg("--all").args(extra);
        env(&mut cmd);
        run_capped(cmd, Duration::from_secs(180))
    };
    let out = cleanup(&[]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("deleted investigation"), "{text}");
    assert!(
        text.contains("deleted Service/focus-scope-port-holder-12499"),
        "{text}"
    );
    let holders: Vec<String> = rt
        .block_on(services.list(&kube::api::ListParams::default()))
        .expect("services")
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .filter(|n| n.starts_with("focus-scope-port-holder-"))
        .collect();
    assert_eq!(
        holders,
        vec!["focus-scope-port-holder-12498".to_string()],
        "only the crashed run's fault object goes"
    );
    let left = rt.block_on(cluster.investigation_ids()).expect("ids");
    assert!(
        left.contains(&foreign_id),
        "the foreign investigation survives"
    );
    let ledgered_left: Vec<_> = left.intersection(&opened).collect();
    assert!(
        ledgered_left.is_empty(),
        "ledgered investigations remain: {ledgered_left:?}\n{text}"
    );

    let out = cleanup(&["--include-in-flight"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    let left = rt.block_on(cluster.investigation_ids()).expect("ids");
    assert_eq!(
        left,
        BTreeSet::from([foreign_id.clone()]),
        "nothing of the run remains; the foreign one does\n{text}"
    );
    rt.block_on(sandbox.shutdown());
}
