//! Crash recovery: the suite is SIGKILLed in the middle of the 200-investigation
//! scenario against a separately started sandbox that holds someone else's
//! investigation. `focus-scope cleanup --all` removes every ledgered investigation and
//! reports the configures that were in flight; with `--include-in-flight` nothing of
//! the run remains; the foreign investigation survives both. The first cleanup runs
//! on "another machine" (an empty output directory): it works from the ledger's
//! ConfigMap mirror alone.

mod support;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use focus_sandbox::SandboxOptions;
use focus_scope::safety::ledger::{Entry, Ledger};
use support::{
    config_dir_with, manifest_dir, open_foreign_investigation, remote_profile, run_capped,
    sandbox_cluster, start_sandbox,
};

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

    let cluster = sandbox_cluster(&rt, &sandbox);
    let mirrored_some = || {
        rt.block_on(focus_scope::safety::ledger_mirror::list(&cluster))
            .map(|ms| {
                ms.iter()
                    .any(|m| m.entries.iter().any(|e| matches!(e, Entry::Opened { .. })))
            })
            .unwrap_or(false)
    };
    // Kill it once it has ledgered a good part of the batch, and mirrored some of it.
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
            })
            .filter(|_| mirrored_some());
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
        kube::Api::namespaced(sandbox.client(), "panda");
    for (name, label) in [
        (
            "focus-scope-port-holder-12499",
            focus_scope::target::names::label_value(&run_id),
        ),
        ("focus-scope-port-holder-12498", "another-run".to_string()),
    ] {
        let svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {focus_scope::target::names::RUN_LABEL: label}},
            "spec": {"type": "NodePort", "selector": {"x": "y"},
                     "ports": [{"port": 5000, "nodePort": name.rsplit('-').next().and_then(|p| p.parse::<i32>().ok()).unwrap_or(0)}]}
        }))
        .expect("service");
        rt.block_on(services.create(&kube::api::PostParams::default(), &svc))
            .expect("create holder");
    }

    // The ledger's mirror in the namespace: what recovery needs when the machine is gone.
    let mirrors = rt
        .block_on(focus_scope::safety::ledger_mirror::list(&cluster))
        .expect("list mirrors");
    let mirror = mirrors
        .iter()
        .find(|m| m.run_id == run_id)
        .expect("the crashed run's ledger is mirrored to a ConfigMap");
    let mirrored_at: jiff::Timestamp = mirror
        .entries
        .iter()
        .find_map(|e| match e {
            Entry::Intent { scenario, at, .. }
                if scenario == focus_scope::safety::ledger::UNMIRRORED_TAIL =>
            {
                at.parse().ok()
            }
            _ => None,
        })
        .expect("the mirror marks its unmirrored tail");
    assert!(
        mirror
            .entries
            .iter()
            .any(|e| matches!(e, Entry::Opened { .. })),
        "the mirror lists the opened investigations"
    );
    let opened_after_mirror: BTreeSet<String> = Ledger::read(&ledger_path)
        .expect("ledger")
        .into_iter()
        .filter_map(|e| match e {
            Entry::Opened { job_id, at, .. }
                if at
                    .parse::<jiff::Timestamp>()
                    .is_ok_and(|t| t >= mirrored_at - jiff::SignedDuration::from_secs(1)) =>
            {
                Some(job_id)
            }
            _ => None,
        })
        .collect();

    // The machine that ran the suite is gone: recovery from the mirror alone.
    let elsewhere = tempfile::tempdir().expect("another machine's output dir");
    let cleanup = |extra: &[&str], output: &std::path::Path| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_focus-scope"));
        // The killed run's Lease is still live until it expires: the operator knows
        // the run is dead (--force); a live run is refused (tests/hostile.rs).
        cmd.arg("cleanup").arg("--all").arg("--force").args(extra);
        env(&mut cmd);
        cmd.env("FOCUS_OUTPUT_DIR", output);
        run_capped(cmd, Duration::from_secs(180))
    };
    let out = cleanup(&[], elsewhere.path());
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
    let ledgered_left: Vec<_> = left
        .intersection(&opened)
        .filter(|j| !opened_after_mirror.contains(*j))
        .collect();
    assert!(
        ledgered_left.is_empty(),
        "mirrored investigations remain: {ledgered_left:?}\n{text}"
    );
    let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(sandbox.client(), "panda");
    assert!(
        rt.block_on(leases.get_opt(focus_scope::safety::lock::LOCK_NAME))
            .expect("get lease")
            .is_none(),
        "the crashed run's lock is released by cleanup\n{text}"
    );

    // Back on the machine that ran it: the local ledger, and the in-flight window.
    let out = cleanup(&["--include-in-flight"], output.path());
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
    let mirrors = rt
        .block_on(focus_scope::safety::ledger_mirror::list(&cluster))
        .expect("list mirrors");
    assert!(
        mirrors.is_empty(),
        "a recovered run's mirror is deleted: {mirrors:?}"
    );
    rt.block_on(sandbox.shutdown());
}

/// Faults that are not objects of ours (a Deployment of the environment scaled to 0,
/// the sandbox's fiber cut) cannot be found by label: a crashed run's ledger names them
/// and `cleanup` undoes them.
#[test]
fn cleanup_undoes_a_crashed_runs_faults_that_are_not_objects() {
    use focus_scope::safety::faults::Fault;
    use k8s_openapi::api::apps::v1::Deployment;

    let (rt, sandbox) = start_sandbox(SandboxOptions::default());
    let config = config_dir_with(
        "crashed",
        &remote_profile(
            &sandbox,
            "protected = false\nexclusive = false\nfaults = \"kubernetes\"",
            "",
        ),
    );
    let deployments: kube::Api<Deployment> = kube::Api::namespaced(sandbox.client(), "panda");
    let d: Deployment = serde_json::from_value(serde_json::json!({
        // As the crashed run left it: marked with its label and the replicas it had.
        "metadata": {"name": "fiber-ingest",
                     "labels": {focus_scope::target::names::RUN_LABEL: "crashed-run"},
                     "annotations": {focus_scope::target::names::ORIGINAL_REPLICAS: "2"}},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "fiber-ingest"}},
                 "template": {"metadata": {"labels": {"app": "fiber-ingest"}},
                              "spec": {"containers": [{"name": "ingest", "image": "busybox"}]}}}
    }))
    .expect("deployment");
    rt.block_on(deployments.create(&kube::api::PostParams::default(), &d))
        .expect("create");
    // The crashed run cut the fiber and scaled the Deployment from 2 to 0.
    let api = focus_scope::target::focus_api::FocusApi::new(
        &sandbox.api_url(),
        Duration::from_secs(10),
        true,
    )
    .expect("api");
    rt.block_on(focus_scope::safety::faults::set_fiber(&api, false))
        .expect("cut the fiber");
    let output = tempfile::tempdir().expect("output dir");
    let run_dir = output.path().join("runs").join("crashed-run");
    std::fs::create_dir_all(&run_dir).expect("run dir");
    let ledger = Ledger::create(&run_dir.join("ledger.jsonl"), "crashed-run").expect("ledger");
    ledger
        .baseline(vec![], focus_scope::safety::ledger::Place::default())
        .expect("baseline");
    ledger
        .fault_injected("s1", &Fault::FiberDisconnected)
        .expect("fault");
    ledger
        .fault_injected(
            "s2",
            &Fault::DeploymentScaled {
                name: "fiber-ingest".into(),
                replicas: 2,
            },
        )
        .expect("fault");
    assert_eq!(
        rt.block_on(api.live_metadata()).expect("live").status,
        404,
        "the fiber is cut"
    );

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_focus-scope"));
    cmd.args(["cleanup", "--run", "crashed-run"])
        .env("FOCUS_ENV", "crashed")
        .env("FOCUS_CONFIG_DIR", config.path())
        .env("FOCUS_OUTPUT_DIR", output.path())
        .current_dir(manifest_dir());
    let out = run_capped(cmd, Duration::from_secs(120));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("undid"), "{text}");
    let scale = rt
        .block_on(deployments.get_scale("fiber-ingest"))
        .expect("scale");
    assert_eq!(
        scale.spec.and_then(|s| s.replicas),
        Some(2),
        "the Deployment has its replicas back\n{text}"
    );
    assert_eq!(
        rt.block_on(api.live_metadata()).expect("live").status,
        200,
        "the fiber is reconnected\n{text}"
    );
    rt.block_on(sandbox.shutdown());
}
