//! Running against shared environments: two runs exclude each other through a Lease
//! (a stale one is taken over), the run never holds more investigations than the
//! profile's cap, and a run past its global deadline stops, cleans up and exits 5.
//! Each against a sandbox started here and reached as a remote environment.

mod support;

use std::time::Duration;

use focus_sandbox::SandboxOptions;
use focus_scope::safety::lock::LOCK_NAME;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};
use support::{
    config_dir_with, path_str, remote_profile, run_suite, sandbox_cluster, start_sandbox,
};

const HEAD: &str = "protected = false\nexclusive = false\nfaults = \"kubernetes\"";

fn lease_held_by(holder: &str, renewed_secs_ago: i64, duration_secs: i32) -> Lease {
    let renewed = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(renewed_secs_ago);
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": LOCK_NAME},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration_secs,
                 "acquireTime": renewed.to_string(), "renewTime": renewed.to_string()}
    }))
    .expect("lease")
}

#[test]
fn a_run_is_refused_while_another_holds_the_lock_and_takes_over_a_stale_one() {
    let (rt, sandbox) = start_sandbox(SandboxOptions::default());
    let cluster = sandbox_cluster(&rt, &sandbox);
    let leases: Api<Lease> = Api::namespaced(sandbox.client(), "panda");
    rt.block_on(leases.create(&PostParams::default(), &lease_held_by("another-run", 0, 60)))
        .expect("another run's lock");
    let config = config_dir_with("shared", &remote_profile(&sandbox, HEAD, ""));
    let env = [
        ("FOCUS_ENV", "shared"),
        ("FOCUS_CONFIG_DIR", &path_str(config.path())),
    ];
    let tags = ["--tags", "@id:api-ports-distinct"];

    let refused = run_suite(&tags, &env, Duration::from_secs(120));
    assert_eq!(refused.code, Some(4), "{}", refused.all_output());
    assert!(
        refused.stderr.contains("locked by another run") && refused.stderr.contains("another-run"),
        "the refusal names the holder: {}",
        refused.stderr
    );
    assert!(
        rt.block_on(cluster.investigation_ids())
            .expect("ids")
            .is_empty(),
        "a refused run sends nothing"
    );

    // The other run crashed two minutes ago: its lease expired and is taken over.
    let mut stale = lease_held_by("another-run", 120, 30);
    stale.metadata.resource_version = rt
        .block_on(leases.get(LOCK_NAME))
        .expect("lease")
        .metadata
        .resource_version;
    rt.block_on(leases.replace(LOCK_NAME, &PostParams::default(), &stale))
        .expect("stale lock");
    let ran = run_suite(&tags, &env, Duration::from_secs(120));
    assert_eq!(ran.code, Some(0), "{}", ran.all_output());
    assert!(
        rt.block_on(leases.get_opt(LOCK_NAME))
            .expect("get")
            .is_none(),
        "the run releases its lock at the end"
    );
    rt.block_on(sandbox.shutdown());
}

#[test]
fn the_run_never_holds_more_investigations_than_its_cap() {
    let (rt, sandbox) = start_sandbox(SandboxOptions::default());
    let profile = format!(
        "{}\n[limits]\nmax_held_investigations = 2\n",
        remote_profile(&sandbox, HEAD, "")
    );
    let config = config_dir_with("capped", &profile);
    let env = [
        ("FOCUS_ENV", "capped"),
        ("FOCUS_CONFIG_DIR", &path_str(config.path())),
    ];
    // Four scenarios of one or two investigations each, run concurrently.
    let run = run_suite(
        &[
            "--tags",
            "@id:api-ports-distinct or @id:k8s-200-in-parallel or @id:api-ip-stream-port-reachable or @id:k8s-live-investigation-opens",
        ],
        &env,
        Duration::from_secs(180),
    );
    let metrics: serde_json::Value = serde_json::from_slice(
        &std::fs::read(run.output_dir.path().join("metrics.json")).expect("metrics.json"),
    )
    .expect("json");
    let peak = metrics["held_investigations"]["peak"]
        .as_u64()
        .expect("peak");
    assert!(
        (1..=2).contains(&peak),
        "peak held {peak}\n{}",
        run.all_output()
    );
    // The 200 scenario cannot fit and says so instead of queueing forever.
    assert_eq!(
        run.failed_ids(),
        vec!["k8s-200-in-parallel".to_string()],
        "{}",
        run.all_output()
    );
    assert!(
        run.all_output().contains(
            "more than the profile lets the run hold (limits.max_held_investigations = 2)"
        ),
        "{}",
        run.all_output()
    );
    let cluster = sandbox_cluster(&rt, &sandbox);
    assert!(
        rt.block_on(cluster.investigation_ids())
            .expect("ids")
            .is_empty()
    );
    rt.block_on(sandbox.shutdown());
}

#[test]
fn a_run_past_its_deadline_stops_cleans_up_and_exits_5() {
    let (rt, sandbox) = start_sandbox(SandboxOptions::default());
    // The churn lasts 10 s; the run may last 3 s.
    let profile = format!("{}run = \"3s\"\n", remote_profile(&sandbox, HEAD, ""));
    let config = config_dir_with("hurried", &profile);
    let env = [
        ("FOCUS_ENV", "hurried"),
        ("FOCUS_CONFIG_DIR", &path_str(config.path())),
    ];
    let started = std::time::Instant::now();
    let run = run_suite(
        &["--tags", "@id:system-soak"],
        &env,
        Duration::from_secs(120),
    );
    assert_eq!(run.code, Some(5), "{}", run.all_output());
    assert!(
        run.stderr.contains("deadlines.run"),
        "the message names the key: {}",
        run.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "stopped near its deadline"
    );
    let cluster = sandbox_cluster(&rt, &sandbox);
    assert!(
        rt.block_on(cluster.investigation_ids())
            .expect("ids")
            .is_empty(),
        "everything the run opened is cleaned up: {}",
        run.all_output()
    );
    let leases: Api<Lease> = Api::namespaced(sandbox.client(), "panda");
    assert!(
        rt.block_on(leases.get_opt(LOCK_NAME))
            .expect("get")
            .is_none()
    );
    rt.block_on(sandbox.shutdown());
}
