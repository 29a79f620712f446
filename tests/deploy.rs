//! In-cluster runs (`deploy/`):
//!
//! - the RBAC of `deploy/rbac.yaml` allows every Kubernetes request a run and a
//!   cleanup send, `rbac-destructive.yaml` adds what `--allow-destructive` runs need,
//!   and no rule of either could be dropped: the suite runs against a sandbox whose
//!   simulated API server logs every request with its User-Agent (the suite's is
//!   `focus-scope/<version>`, set in `Cluster::connect`), and each request is checked
//!   against the rules as an API server's authorizer would;
//! - the manifests apply with the real kubectl and read back;
//! - the image layout of `deploy/Dockerfile` with the Job's profile mounted finds its
//!   features, its configuration and the profile, and plans the Job's run.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use focus_sandbox::SandboxOptions;
use focus_sandbox::config::ServerConfig;
use focus_sandbox::kube_sim::{KubeSim, SimConfig};
use focus_scope::target::kube::Cluster;
use serde_json::{Value, json};
use support::{config_dir_with, manifest_dir, remote_profile, run_capped, start_sandbox};
use test_support::rbac::{Rbac, Request, strings, superfluous};

// ---------------------------------------------------------------- manifests

fn deploy_dir() -> PathBuf {
    manifest_dir().join("deploy")
}

/// Every YAML document of `deploy/<file>`, as JSON values.
fn documents(file: &str) -> Vec<Value> {
    let path = deploy_dir().join(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn the<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "exactly one {kind} expected");
    found[0]
}

/// `(namespace, name)` of the service account the Job runs as.
fn job_identity() -> (String, String) {
    let docs = documents("job.yaml");
    let job = the(&docs, "Job");
    let ns = job["metadata"]["namespace"]
        .as_str()
        .expect("the Job names its namespace");
    let sa = job["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .expect("the Job names its service account");
    (ns.to_string(), sa.to_string())
}

fn text_of(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every request of the log file, in order (complete lines only: the sandbox may
/// be sending one while the file is read).
fn read_log(log: &Path) -> Vec<Request> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("request log line {l}: {e}")))
        .collect()
}

fn is_suite(r: &Request) -> bool {
    r.user_agent.as_deref() == Some(focus_scope::target::kube::USER_AGENT)
}

fn kinds(requests: &[Request]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in requests {
        *m.entry(r.kind()).or_insert(0) += 1;
    }
    m
}

// ---------------------------------------------------------------- the runs

/// The phases of the checked run, as slices of the request log.
struct Phases {
    /// A protected profile's run without --allow-destructive, a failing one (its
    /// diagnostics), then `cleanup --all`.
    protected: Vec<Request>,
    /// The same profile with --allow-destructive on the @destructive scenarios, and
    /// the kubernetes driver's live-stream cut (a Deployment scaled to 0 and back).
    destructive: Vec<Request>,
    /// Requests whose User-Agent is neither the suite's nor the sandbox's.
    strangers: Vec<Request>,
}

fn run_the_suite_against_a_logging_sandbox() -> Phases {
    let logdir = tempfile::tempdir().expect("log dir");
    let log = logdir.path().join("requests.jsonl");
    let (rt, sandbox) = start_sandbox(SandboxOptions {
        sim: SimConfig {
            request_log_file: Some(log.clone()),
            ..SimConfig::fast()
        },
        // as many stream slots as the profile says the environment has (200)
        server: ServerConfig {
            max_slots: 200,
            ..ServerConfig::default()
        },
        ..SandboxOptions::default()
    });
    let (ns, _) = job_identity();
    assert_eq!(
        ns, "panda",
        "the Job runs in Focus Server's namespace (the sandbox's)"
    );
    // The in-cluster profile's shape: protected, shared, kubernetes fault driver. A
    // short churn and a short lease, so that a lease renewal happens within the run.
    let profile = remote_profile(
        &sandbox,
        "protected = true\nexclusive = false\nfaults = \"kubernetes\"\n[limits]\nsoak_duration = \"2s\"",
        "",
    );
    assert!(profile.contains("[deadlines]\n"), "{profile}");
    let profile = profile.replace("[deadlines]\n", "[deadlines]\nlease = \"3s\"\n");
    let config = config_dir_with("incluster", &profile);
    let output = tempfile::tempdir().expect("output dir");
    // The same profile with the server's cancel endpoint (`cancel = "endpoint"`).
    let endpoint = profile.replacen("[target]\n", "[target]\ncancel = \"endpoint\"\n", 1);
    assert_ne!(endpoint, profile, "{profile}");
    std::fs::write(config.path().join("incluster-endpoint.toml"), endpoint)
        .expect("write the endpoint-cancel profile");
    let focus_scope_as = |env: &str, args: &[&str], code: i32| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_focus-scope"));
        cmd.args(args)
            .env_remove("CUCUMBER_FILTER_TAGS")
            .env("FOCUS_ENV", env)
            .env("FOCUS_CONFIG_DIR", config.path())
            .env("FOCUS_OUTPUT_DIR", output.path())
            .env("FOCUS_FEATURES", manifest_dir().join("features/en"))
            .env("NO_COLOR", "1")
            .current_dir(manifest_dir());
        let out = run_capped(cmd, Duration::from_secs(180));
        assert_eq!(
            out.status.code(),
            Some(code),
            "focus-scope {args:?}:\n{}",
            text_of(&out)
        );
        out
    };
    let focus_scope = |args: &[&str], code: i32| focus_scope_as("incluster", args, code);
    let lines = || read_log(&log).len();

    focus_scope(&[], 0);
    // A failing scenario: its diagnostics read the investigation's Job, pods, pod log,
    // Service and events before cleanup.
    sandbox
        .state()
        .set_defect(focus_sandbox::defects::Defect::WrongJobPolicy, true);
    let failed = focus_scope(&["--tags", "@id:k8s-job-spec"], 1);
    let diagnostics: Vec<String> = std::fs::read_dir(output.path().join("runs"))
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|run| std::fs::read_dir(run.path().join("diagnostics")).into_iter())
        .flatten()
        .flatten()
        .filter_map(|f| std::fs::read_to_string(f.path()).ok())
        .collect();
    assert!(
        diagnostics.iter().any(|d| d.contains("Log tail")),
        "the failed scenario's diagnostics describe its pods:\n{}",
        text_of(&failed)
    );
    sandbox.state().clear_defects();
    // A server that orphans the pods when its cancel endpoint is called: the run's
    // cleanup deletes those pods itself (pods of a live Job go with it by Background
    // propagation), so the `delete pods` rule is needed, and used here.
    sandbox
        .state()
        .set_defect(focus_sandbox::defects::Defect::OrphanPodsOnCancel, true);
    focus_scope_as(
        "incluster-endpoint",
        &["--tags", "@id:k8s-cancel-removes-everything"],
        1,
    );
    sandbox.state().clear_defects();
    let protected_end = lines();

    focus_scope(&["--allow-destructive", "--tags", "@destructive"], 0);
    // The live-stream cut of the kubernetes driver needs a Deployment that feeds the
    // server; the sandbox has none, so the suite's own call is made here, on a
    // Deployment the sandbox creates, with the suite's client (its User-Agent).
    rt.block_on(async {
        let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
            kube::Api::namespaced(sandbox.client(), "panda");
        let d = serde_json::from_value(json!({
            "metadata": {"name": "fiber-ingest"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "fiber-ingest"}},
                     "template": {"metadata": {"labels": {"app": "fiber-ingest"}},
                                  "spec": {"containers": [{"name": "ingest", "image": "busybox"}]}}}
        }))
        .expect("deployment");
        deployments
            .create(&kube::api::PostParams::default(), &d)
            .await
            .expect("create the Deployment");
        let cluster = Cluster::connect(
            Some(sandbox.kubeconfig_path()),
            None,
            "panda",
            Duration::from_secs(10),
        )
        .await
        .expect("cluster");
        let before = cluster
            .deployment_replicas("fiber-ingest")
            .await
            .expect("replicas");
        cluster
            .scale_deployment_for_run("fiber-ingest", 0, before, "a-run")
            .await
            .expect("scale to 0");
        cluster
            .restore_deployment_scale("fiber-ingest", before, "a-run")
            .await
            .expect("scale back");
    });
    let destructive_end = lines();

    let out = focus_scope(&["cleanup", "--all"], 0);
    let cleanup_text = text_of(&out);

    let all = read_log(&log);
    rt.block_on(sandbox.shutdown());
    let sandbox_agent = focus_sandbox::USER_AGENT;
    let strangers = all
        .iter()
        .filter(|r| !is_suite(r) && r.user_agent.as_deref() != Some(sandbox_agent))
        .cloned()
        .collect();
    let suite_of = |rs: &[Request]| rs.iter().filter(|r| is_suite(r)).cloned().collect();
    let mut protected: Vec<Request> = suite_of(&all[..protected_end]);
    let cleanup: Vec<Request> = suite_of(&all[destructive_end..]);
    assert!(
        !cleanup.is_empty(),
        "cleanup --all sent no Kubernetes request:\n{cleanup_text}"
    );
    protected.extend(cleanup);
    Phases {
        protected,
        destructive: suite_of(&all[protected_end..destructive_end]),
        strangers,
    }
}

#[test]
fn every_request_of_a_run_is_allowed_by_the_deployed_rbac_and_every_rule_is_needed() {
    let phases = run_the_suite_against_a_logging_sandbox();
    let (ns, sa) = job_identity();
    let base_docs = documents("rbac.yaml");
    let mut all_docs = base_docs.clone();
    all_docs.extend(documents("rbac-destructive.yaml"));
    let base = Rbac::for_service_account(&base_docs, &ns, &sa);
    let all = Rbac::for_service_account(&all_docs, &ns, &sa);

    // Every request is someone's: the suite's filter misses none of its requests.
    assert!(
        phases.strangers.is_empty(),
        "requests with another User-Agent than the suite's or the sandbox's (a client \
         built outside Cluster::connect?): {:#?}",
        kinds(&phases.strangers)
    );
    // The check is meaningful: the runs sent requests of many kinds.
    let seen: BTreeSet<String> = phases
        .protected
        .iter()
        .chain(&phases.destructive)
        .map(|r| format!("{} {}", r.verb, r.resource_path()))
        .collect();
    for expected in [
        "list pods",
        "watch pods",
        "delete jobs",
        "delete services",
        "list nodes",
        "get pods/log",
        "list events",
        "create services",
        "create resourcequotas",
        "patch nodes",
        "patch deployments/scale",
    ] {
        assert!(
            seen.contains(expected),
            "no `{expected}` request was logged; seen: {seen:#?}"
        );
    }

    let denied = base.denied(&phases.protected);
    assert!(
        denied.is_empty(),
        "deploy/rbac.yaml does not allow these requests of a protected run or of \
         cleanup (add them there):\n{denied:#?}"
    );
    let denied = all.denied(&phases.destructive);
    assert!(
        denied.is_empty(),
        "deploy/rbac.yaml with rbac-destructive.yaml does not allow these requests of \
         an --allow-destructive run (add them to rbac-destructive.yaml):\n{denied:#?}"
    );
    // Minimal: every rule of rbac.yaml is needed by the protected run or cleanup, and
    // every rule of rbac-destructive.yaml by the destructive run beyond rbac.yaml.
    let extra = superfluous(&base_docs, &ns, &sa, &phases.protected);
    assert!(
        extra.is_empty(),
        "deploy/rbac.yaml grants more than a protected run and cleanup use:\n{extra:#?}\n\
         requests: {:#?}",
        kinds(&phases.protected)
    );
    let destructive_docs = documents("rbac-destructive.yaml");
    let extra: Vec<String> = superfluous(&all_docs, &ns, &sa, &phases.destructive)
        .into_iter()
        .filter(|e| {
            destructive_docs.iter().any(|d| {
                e.starts_with(&format!(
                    "{} {}:",
                    d["kind"].as_str().unwrap_or("?"),
                    d["metadata"]["name"].as_str().unwrap_or("?")
                ))
            })
        })
        .collect();
    assert!(
        extra.is_empty(),
        "deploy/rbac-destructive.yaml grants more than a destructive run needs beyond \
         rbac.yaml:\n{extra:#?}\nrequests: {:#?}",
        kinds(&phases.destructive)
    );
}

// ---------------------------------------------------------------- kubectl apply

#[test]
fn the_manifests_apply_with_kubectl_and_read_back() {
    let Some(kubectl) = support::kubectl::Kubectl::new("deploy") else {
        return;
    };
    let mut config = SimConfig::fast();
    config.namespaces.push("panda".into());
    config.nodes = focus_sandbox::kube_sim::config::NodesConfig::Count(1);
    let sim = KubeSim::start_detached(config).expect("kube-sim starts");
    sim.write_kubeconfig(&kubectl.kubeconfig_path())
        .expect("kubeconfig written");
    let files = [
        "serviceaccount.yaml",
        "rbac.yaml",
        "rbac-destructive.yaml",
        "profile.yaml",
        "job.yaml",
    ];
    let mut args = vec!["apply".to_string()];
    for f in files {
        args.push("-f".into());
        args.push(deploy_dir().join(f).display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = kubectl.ok(&args);
    for created in [
        "serviceaccount/focus-scope created",
        "role.rbac.authorization.k8s.io/focus-scope created",
        "rolebinding.rbac.authorization.k8s.io/focus-scope created",
        "clusterrole.rbac.authorization.k8s.io/focus-scope-nodes-read created",
        "clusterrolebinding.rbac.authorization.k8s.io/focus-scope-nodes-read created",
        "role.rbac.authorization.k8s.io/focus-scope-destructive created",
        "clusterrole.rbac.authorization.k8s.io/focus-scope-destructive created",
        "configmap/focus-scope-profile created",
        "job.batch/focus-scope created",
    ] {
        assert!(out.contains(created), "`{created}` missing:\n{out}");
    }
    // Applying again changes nothing.
    let again = kubectl.ok(&args);
    assert!(
        again.lines().all(|l| l.ends_with(" unchanged")),
        "a second apply changed something:\n{again}"
    );

    // Read back: what the server stored is what the files say.
    let get = |what: &str, namespaced: bool| -> Value {
        let mut a = vec!["get", what, "-o", "json"];
        if namespaced {
            a.extend(["-n", "panda"]);
        }
        serde_json::from_str(&kubectl.ok(&a)).expect("kubectl get -o json")
    };
    for file in ["rbac.yaml", "rbac-destructive.yaml"] {
        for doc in documents(file) {
            let kind = doc["kind"].as_str().expect("kind").to_lowercase();
            let name = doc["metadata"]["name"].as_str().expect("name");
            let stored = get(
                &format!("{kind}.rbac.authorization.k8s.io/{name}"),
                doc["metadata"]["namespace"].is_string(),
            );
            for field in ["rules", "roleRef", "subjects"] {
                assert_eq!(stored[field], doc[field], "{kind}/{name} {field}");
            }
        }
    }
    let sa = get("serviceaccount/focus-scope", true);
    assert_eq!(sa["metadata"]["name"], "focus-scope");
    let cm = get("configmap/focus-scope-profile", true);
    let profile = cm["data"]["staging.toml"].as_str().expect("the profile");
    assert!(profile.contains("kind = \"remote\""), "{profile}");
    let job = get("job/focus-scope", true);
    assert_eq!(job["spec"]["backoffLimit"], 0);
    let pod_spec = &job["spec"]["template"]["spec"];
    assert_eq!(pod_spec["serviceAccountName"], "focus-scope");
    assert_eq!(pod_spec["restartPolicy"], "Never");
    assert_eq!(
        pod_spec["containers"][0]["volumeMounts"][0]["subPath"],
        "staging.toml"
    );
    // The Job's pod runs under the service account (kube-sim runs any image).
    let pods = kubectl.poll(
        &[
            "get",
            "pods",
            "-n",
            "panda",
            "-l",
            "job-name=focus-scope",
            "-o",
            "json",
        ],
        |s| s.contains("serviceAccountName"),
    );
    let pods: Value = serde_json::from_str(&pods).expect("pods json");
    assert_eq!(
        pods["items"][0]["spec"]["serviceAccountName"], "focus-scope",
        "{pods}"
    );
    // kubectl's requests are logged as kubectl's.
    let log = sim.request_log();
    assert!(
        log.iter().any(|r| r.verb == "create"
            && r.resource == "jobs"
            && r.user_agent
                .as_deref()
                .is_some_and(|ua| ua.starts_with("kubectl/v1.37.1"))),
        "{log:#?}"
    );
    // Nothing stays behind: the Job (with its pod) is deleted, then the cluster stops.
    kubectl.ok(&[
        "delete",
        "-f",
        &deploy_dir().join("job.yaml").display().to_string(),
        "--cascade=foreground",
        "--wait=true",
    ]);
    sim.shutdown();
}

// ---------------------------------------------------------------- the image

/// `(instruction, arguments)` of each line of the Dockerfile's last stage, with
/// continuation lines joined and comments dropped.
fn runtime_stage() -> (Vec<(String, String)>, String) {
    let text = std::fs::read_to_string(deploy_dir().join("Dockerfile")).expect("Dockerfile");
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || t.is_empty() {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(t);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    let instructions: Vec<(String, String)> = joined
        .iter()
        .filter_map(|l| {
            let (i, rest) = l.split_once(char::is_whitespace)?;
            Some((i.to_uppercase(), rest.trim().to_string()))
        })
        .collect();
    let build_workdir = instructions
        .iter()
        .find(|(i, _)| i == "WORKDIR")
        .map(|(_, a)| a.clone())
        .expect("the build stage's WORKDIR");
    let last_from = instructions
        .iter()
        .rposition(|(i, _)| i == "FROM")
        .expect("FROM");
    (instructions[last_from..].to_vec(), build_workdir)
}

/// The runtime stage's `ENV` variables.
fn image_env(stage: &[(String, String)]) -> BTreeMap<String, String> {
    stage
        .iter()
        .filter(|(i, _)| i == "ENV")
        .flat_map(|(_, a)| {
            a.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The image's files (runtime stage COPYs from the build context) and the Job's
/// profile mount, laid out under a temporary root; `focus-scope config` and `plan`
/// with the image's and the Job's environment find everything there.
#[test]
fn the_image_layout_and_the_job_plan_a_run_with_the_mounted_profile() {
    let (stage, build_workdir) = runtime_stage();
    let env = image_env(&stage);
    let root = tempfile::tempdir().expect("image root");
    let in_image = |p: &str| root.path().join(p.trim_start_matches('/'));
    let mut copied = Vec::new();
    for (_, args) in stage.iter().filter(|(i, _)| i == "COPY") {
        if args.starts_with("--from") {
            continue;
        }
        let parts: Vec<&str> = args.split_whitespace().collect();
        let [src, dest] = parts[..] else {
            panic!("COPY with one source expected: {args}");
        };
        let from = manifest_dir().join(src.trim_end_matches('/'));
        let to = in_image(dest.trim_end_matches('/'));
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        let status = Command::new("cp")
            .arg("-r")
            .arg(&from)
            .arg(&to)
            .status()
            .expect("cp");
        assert!(status.success(), "cp {} {}", from.display(), to.display());
        copied.push(dest.trim_end_matches('/').to_string());
    }
    // The binary's built-in fallback (the build directory) holds docs/scope.md.
    assert!(
        copied.contains(&format!("{build_workdir}/docs/scope.md")),
        "docs/scope.md must be copied to {build_workdir}/docs/ (read from the build \
         directory at run time): {copied:?}"
    );
    for var in ["FOCUS_CONFIG_DIR", "FOCUS_FEATURES", "FOCUS_OUTPUT_DIR"] {
        assert!(env.contains_key(var), "the image sets {var}: {env:?}");
    }
    assert!(
        in_image(&env["FOCUS_FEATURES"]).join("en").is_dir(),
        "FOCUS_FEATURES names the copied features"
    );
    assert!(
        in_image(&env["FOCUS_CONFIG_DIR"])
            .join("known-issues.toml")
            .is_file(),
        "FOCUS_CONFIG_DIR holds the known-issues register"
    );

    // The Job: its profile mount over FOCUS_CONFIG_DIR/<FOCUS_ENV>.toml, its output
    // volume at FOCUS_OUTPUT_DIR.
    let job_docs = documents("job.yaml");
    let job = the(&job_docs, "Job");
    let pod = &job["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let job_env: BTreeMap<String, String> = container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e["name"].as_str()?.into(), e["value"].as_str()?.into())))
        .collect();
    let profile_name = job_env.get("FOCUS_ENV").expect("the Job sets FOCUS_ENV");
    let mounts = container["volumeMounts"].as_array().expect("volumeMounts");
    let mount_of = |path: &str| mounts.iter().find(|m| m["mountPath"] == path);
    let profile_path = format!("{}/{profile_name}.toml", env["FOCUS_CONFIG_DIR"]);
    let profile_mount = mount_of(&profile_path)
        .unwrap_or_else(|| panic!("the Job mounts its profile at {profile_path}"));
    assert!(
        mount_of(&env["FOCUS_OUTPUT_DIR"]).is_some(),
        "the Job mounts a volume at FOCUS_OUTPUT_DIR"
    );
    let volume = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == profile_mount["name"])
        .expect("the profile's volume");
    let cm_name = volume["configMap"]["name"]
        .as_str()
        .expect("the profile comes from a ConfigMap");
    let cm_docs = documents("profile.yaml");
    let cm = the(&cm_docs, "ConfigMap");
    assert_eq!(cm["metadata"]["name"], cm_name);
    let key = profile_mount["subPath"].as_str().expect("subPath");
    let text = cm["data"][key]
        .as_str()
        .expect("the ConfigMap holds the key");
    std::fs::write(in_image(&profile_path), text).expect("mount the profile");
    // A full run (its soak included) ends by its own deadline, and before the Job's.
    let p: focus_scope::target::config::Profile = toml::from_str(text).expect("the profile parses");
    let active = Duration::from_secs(job["spec"]["activeDeadlineSeconds"].as_u64().unwrap_or(0));
    assert!(
        p.deadlines.run >= p.limits.soak_duration + Duration::from_secs(15 * 60)
            && p.deadlines.run + Duration::from_secs(10 * 60) <= active,
        "deadlines.run ({:?}) must cover the soak ({:?}) plus the rest of the suite, and end (with cleanup) before the Job's activeDeadlineSeconds ({active:?})",
        p.deadlines.run,
        p.limits.soak_duration
    );
    std::fs::create_dir_all(in_image(&env["FOCUS_OUTPUT_DIR"])).expect("output volume");

    let image_cmd = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_focus-scope"));
        cmd.args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .current_dir(root.path());
        for (k, v) in &env {
            let v = if k.ends_with("_DIR") || k == "FOCUS_FEATURES" {
                in_image(v).display().to_string()
            } else {
                v.clone()
            };
            cmd.env(k, v);
        }
        for (k, v) in &job_env {
            cmd.env(k, v);
        }
        run_capped(cmd, Duration::from_secs(30))
    };
    let out = image_cmd(&["config"]);
    let shown = text_of(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(shown.contains("kind = \"remote\""), "{shown}");
    // Bound to the cluster the pod runs in, never to a kubeconfig found on the way.
    assert!(
        shown.contains("in_cluster = true")
            && !shown.contains("kubeconfig =")
            && !shown.contains("kube_context ="),
        "the in-cluster profile is bound to its own cluster:\n{shown}"
    );
    let job_args: Vec<String> = strings(&container["args"]);
    let mut plan_args = vec!["plan"];
    plan_args.extend(job_args.iter().map(String::as_str));
    let out = image_cmd(&plan_args);
    let plan = text_of(&out);
    assert_eq!(out.status.code(), Some(0), "{plan}");
    assert!(
        plan.lines().any(|l| l.starts_with("RUN ")),
        "the Job's run selects scenarios:\n{plan}"
    );
    assert!(
        plan.contains("/features/he/"),
        "both languages are in the image:\n{plan}"
    );
}
