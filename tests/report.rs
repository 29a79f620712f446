//! The reports read back as people read them, from one run in both languages with a
//! pass, a failure, known failures and a skipped scenario:
//! - `report.html` in a real headless Chromium (Debian's package, installed by
//!   `.ci/run`): from the page's own DOM, the Hebrew sections are right-to-left, the
//!   counts equal those in cucumber.json, each stage chart carries the percentiles of
//!   metrics.json, the filter hides and shows rows and the scope matrix's links land;
//!   a screenshot of the first screen is left in the run directory;
//! - `allure-results/` through the real Allure command line (npm `allure`, installed
//!   into target/ by the test) and the generated report in Chromium: the counts equal
//!   cucumber.json's, the Hebrew titles are there, a `@PZ-…` tag links to the URL the
//!   profile configures.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use support::{MetaRun, manifest_dir, path_str, run_capped, run_suite_in};

/// The profile's TMS link template: loopback, never visited.
const TMS_URL: &str = "http://127.0.0.1:9/tms/{key}";
/// A pass (k8s-live-investigation-opens), a failure (k8s-gpu-slice under the
/// no-gpu-request defect), known failures (api-time-range-rejected rows of the
/// as-observed profile's register) and a skip (system-no-historic-data needs the
/// sandbox fault driver this run's profile lacks); the latency scenario, in English
/// only, measures every stage for the charts.
const TAGS: &str = "@id:k8s-live-investigation-opens or @id:k8s-gpu-slice or @id:api-time-range-rejected or @id:system-no-historic-data or (@id:k8s-latency-slo and not @lang-he)";

/// The one run of this file (both languages), shared by its tests. Its output stays in
/// `target/tmp/report-run-*` (removed by the next run) for people to look at: the
/// reports, the screenshot of report.html, the generated Allure report.
fn shared_run() -> &'static MetaRun {
    static RUN: OnceLock<MetaRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        for e in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with("report-run-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let output = tempfile::Builder::new()
            .prefix("report-run-")
            .tempdir_in(tmp)
            .expect("output dir");
        let config = tempfile::tempdir().expect("temp config dir");
        for e in std::fs::read_dir(manifest_dir().join("config"))
            .expect("config dir")
            .flatten()
        {
            if e.path().is_file() {
                std::fs::copy(e.path(), config.path().join(e.file_name())).expect("copy");
            }
        }
        let observed = std::fs::read_to_string(manifest_dir().join("config/sandbox-observed.toml"))
            .expect("profile");
        assert!(observed.contains("faults = \"sandbox\""), "{observed}");
        std::fs::write(
            config.path().join("sandbox-observed.toml"),
            format!(
                "{}\n[reports]\ntms_url = \"{TMS_URL}\"\n",
                observed.replace("faults = \"sandbox\"", "faults = \"none\"")
            ),
        )
        .expect("write profile");
        let run = run_suite_in(
            output,
            &["--tags", TAGS],
            &[
                ("FOCUS_ENV", "sandbox-observed"),
                ("FOCUS_CONFIG_DIR", &path_str(config.path())),
                (
                    "FOCUS_FEATURES",
                    &path_str(&manifest_dir().join("features")),
                ),
                ("FOCUS_SANDBOX_DEFECTS", "no-gpu-request"),
            ],
            Duration::from_secs(240),
        );
        assert_eq!(run.code, Some(1), "{}", run.all_output());
        run
    })
}

fn run_dir(run: &MetaRun) -> PathBuf {
    let id = run.summary.as_ref().expect("summary.json")["run_id"]
        .as_str()
        .expect("run_id")
        .to_string();
    run.output_dir.path().join("runs").join(id)
}

fn chromium() -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("chromium is not installed: .ci/run must install Debian's `chromium`");
        }
        eprintln!(
            "\n*** SKIPPED: tests/report.rs browser checks: /usr/bin/chromium is absent (apt-get install chromium) ***\n"
        );
    }
    found
}

/// Headless Chromium on a local file, with a fresh profile and no network features;
/// `action` is `--dump-dom` or `--screenshot=<path>`.
fn chromium_run(browser: &Path, url: &str, action: &str) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--window-size=1280,860",
        "--virtual-time-budget=5000",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .arg(action)
    .arg(url);
    let out = run_capped(cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "chromium {action} {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (passed, failed) scenarios of a Cucumber JSON report: a scenario failed when any of
/// its steps or hooks did.
fn cucumber_counts(path: &Path) -> (usize, usize) {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("cucumber.json")).expect("json");
    let (mut passed, mut failed) = (0, 0);
    for feature in json.as_array().into_iter().flatten() {
        for el in feature["elements"].as_array().into_iter().flatten() {
            if el["type"] != "scenario" {
                continue;
            }
            let results = ["before", "steps", "after"]
                .iter()
                .flat_map(|k| el[*k].as_array().cloned().unwrap_or_default())
                .map(|s| s["result"]["status"].as_str().unwrap_or("").to_string())
                .collect::<Vec<_>>();
            if results.iter().any(|s| s != "passed") {
                failed += 1;
            } else {
                passed += 1;
            }
        }
    }
    (passed, failed)
}

/// The summary's scenarios that ran, and those that did not.
fn summary_lists(run: &MetaRun) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let s = run.summary.as_ref().expect("summary.json");
    let list = |k: &str| s[k].as_array().cloned().unwrap_or_default();
    (list("scenarios"), list("not_run"))
}

fn is_hebrew(s: &serde_json::Value) -> bool {
    s["tags"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t == "lang-he"))
}

/// Each failed row links its diagnostics: the exchange with Focus Server and the
/// investigation's manifests, events and log tail, as the failure left them.
fn failure_diagnostics_are_linked(output_root: &Path) {
    let html = std::fs::read_to_string(output_root.join("report.html")).expect("report");
    let links: Vec<&str> = html
        .split("<tr class=\"result\"")
        .skip(1)
        .filter(|row| row.contains("data-status=\"failed\""))
        .filter_map(|row| row.split("class=\"diagnostics\" href=\"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert_eq!(
        links.len(),
        2,
        "the failed scenario's English and Hebrew rows link their diagnostics: {links:?}"
    );
    for link in links {
        let text = std::fs::read_to_string(output_root.join(link))
            .unwrap_or_else(|e| panic!("{link}: {e}"));
        for part in [
            "`POST /configure` → **200**",
            "Response headers (secrets redacted)",
            "### Job `grpc-job-",
            "kind: Job",
            "### Pod `grpc-job-",
            "Log tail",
            "### Service `grpc-service-",
            "### Events",
            "SuccessfulCreate",
        ] {
            assert!(text.contains(part), "{link} lacks `{part}`:\n{text}");
        }
    }
}

#[test]
fn the_report_reads_right_in_a_real_browser() {
    let run = shared_run();
    let report = run.output_dir.path().join("report.html");
    assert!(
        report.is_file(),
        "report.html missing: {}",
        run.all_output()
    );
    failure_diagnostics_are_linked(run.output_dir.path());
    // Self-contained: no remote script, style, font or image.
    let html = std::fs::read_to_string(&report).expect("report");
    // What the browser would load: attributes and CSS that name a URL (text that shows
    // one, like the provenance's cluster server, loads nothing).
    let remote: Vec<String> = ["src=\"", "href=\"", "src='", "href='", "url(", "@import"]
        .iter()
        .flat_map(|at| html.match_indices(at).map(|(i, _)| i))
        .map(|i| html[i..].chars().take(48).collect::<String>())
        .filter(|r| r.contains("//"))
        .collect();
    assert!(
        remote.is_empty(),
        "report.html refers to the network: {remote:?}"
    );
    let Some(browser) = chromium() else { return };

    let dom = chromium_run(
        &browser,
        &format!("file://{}", report.display()),
        "--dump-dom",
    );
    let start = dom
        .find("<pre id=\"self-check\" class=\"muted\">")
        .expect("self-check block")
        + "<pre id=\"self-check\" class=\"muted\">".len();
    let end = start + dom[start..].find("</pre>").expect("end of self-check");
    let check: serde_json::Value = serde_json::from_str(&dom[start..end].replace("&quot;", "\""))
        .unwrap_or_else(|e| panic!("self-check is not JSON ({e}): {}", &dom[start..end]));

    let dirs = check["hebrew_directions"].as_array().expect("directions");
    assert!(!dirs.is_empty(), "the page has Hebrew sections: {check}");
    assert!(
        dirs.iter().all(|d| d == "rtl"),
        "Hebrew sections are right-to-left: {check}"
    );

    let (passed, failed) = cucumber_counts(&run.output_dir.path().join("cucumber.json"));
    assert_eq!(check["passed"].as_u64(), Some(passed as u64), "{check}");
    assert_eq!(
        check["failed"].as_u64().unwrap_or(0) + check["known"].as_u64().unwrap_or(0),
        failed as u64,
        "{check}"
    );
    let (ran, not_run) = summary_lists(run);
    let status = |s: &str| ran.iter().filter(|r| r["status"] == s).count() as u64;
    assert!(
        passed > 0 && status("failed") > 0 && status("known-failure") > 0 && !not_run.is_empty(),
        "every kind of result exercised: {check}"
    );

    // Each stage chart is labelled with the percentiles of metrics.json.
    let metrics: serde_json::Value = serde_json::from_slice(
        &std::fs::read(run.output_dir.path().join("metrics.json")).expect("metrics.json"),
    )
    .expect("metrics json");
    let stages = [
        "configure",
        "job_to_scheduled",
        "scheduled_to_started",
        "port_reachable",
        "pod_start",
    ];
    let mut charted = 0;
    for kind in stages {
        let Some(s) = metrics["latency"]
            .get(kind)
            .filter(|s| s["count"].as_u64() > Some(0))
        else {
            continue;
        };
        charted += 1;
        for p in ["p50", "p95", "p99"] {
            assert_eq!(
                check["charts"][kind][p].as_f64(),
                s[format!("{p}_ms")].as_f64(),
                "{kind} chart's {p} vs metrics.json: {check}"
            );
        }
    }
    assert!(
        charted >= 3,
        "the run measured configure and the pod's stages: {metrics}"
    );
    assert_eq!(check["trends"], 2, "two trend charts: {check}");

    // The filter hides and shows rows.
    let hebrew = ran.iter().chain(&not_run).filter(|s| is_hebrew(s)).count() as u64;
    let all = (ran.len() + not_run.len()) as u64;
    let f = &check["filter"];
    assert_eq!(f["all"], all, "{check}");
    assert_eq!(f["failed"], status("failed"), "{check}");
    assert_eq!(f["known"], status("known-failure"), "{check}");
    assert_eq!(f["hebrew"], hebrew, "{check}");
    assert_eq!(f["nothing"], 0, "{check}");
    assert_eq!(f["again"], all, "{check}");
    assert!(check["matrix_links"].as_u64() > Some(0), "{check}");
    assert_eq!(check["broken_matrix_links"], 0, "{check}");

    // The first screen, for people to glance at.
    let shot = run_dir(run).join("report-first-screen.png");
    chromium_run(
        &browser,
        &format!("file://{}", report.display()),
        &format!("--screenshot={}", shot.display()),
    );
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "{} is {size} bytes", shot.display());
    eprintln!("report.html's first screen: {}", shot.display());
}

/// One Allure result as the test reads it.
fn results(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("-result.json"))
        .map(|e| serde_json::from_slice(&std::fs::read(e.path()).expect("result")).expect("json"))
        .collect()
}

fn label<'a>(r: &'a serde_json::Value, name: &str) -> Vec<&'a str> {
    r["labels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["name"] == name)
        .filter_map(|l| l["value"].as_str())
        .collect()
}

/// The text of the element after each `data-testid="<id>"` (the Allure report's own test hooks).
fn testid_values(dom: &str, id: &str) -> Vec<String> {
    dom.split(&format!("data-testid=\"{id}\""))
        .skip(1)
        .filter_map(|rest| {
            let text: String = rest
                .split('<')
                .filter_map(|t| t.split_once('>').map(|(_, v)| v.trim().to_string()))
                .find(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()))?;
            Some(text)
        })
        .collect()
}

#[test]
fn allure_results_read_right_in_allure() {
    let run = shared_run();
    let dir = run_dir(run).join("allure-results");
    let rs = results(&dir);
    let (ran, not_run) = summary_lists(run);
    assert_eq!(
        rs.len(),
        ran.len() + not_run.len(),
        "one result per scenario run"
    );
    let latest = results(&run.output_dir.path().join("allure-results"));
    assert_eq!(
        latest.len(),
        rs.len(),
        "the latest run's results are copied"
    );

    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for r in &rs {
        *by_status
            .entry(r["status"].as_str().unwrap_or("?").into())
            .or_default() += 1;
        for name in ["epic", "feature", "story", "language", "suite"] {
            assert!(!label(r, name).is_empty(), "label {name} missing: {r}");
        }
        assert!(
            r["start"].as_u64() > Some(0) && r["stop"].as_u64() >= r["start"].as_u64(),
            "{r}"
        );
    }
    let status = |s: &str| ran.iter().filter(|r| r["status"] == s).count();
    assert_eq!(
        by_status.get("broken").copied().unwrap_or(0),
        status("known-failure")
    );
    assert_eq!(
        by_status.get("skipped").copied().unwrap_or(0),
        not_run.len()
    );

    let known = rs
        .iter()
        .find(|r| {
            r["status"] == "broken" && r["name"].as_str().is_some_and(|n| n.contains("(future)"))
        })
        .expect("the future row is a known failure");
    assert_eq!(known["statusDetails"]["known"], true, "{known}");
    assert!(
        known["statusDetails"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("known failure (PZ-13984): ")),
        "{known}"
    );
    assert!(
        known["parameters"].as_array().is_some_and(|p| p
            .iter()
            .any(|p| p["name"] == "case" && p["value"] == "future")),
        "the Examples row is the result's parameters: {known}"
    );
    let failed = rs
        .iter()
        .find(|r| r["status"] == "failed")
        .expect("a failure");
    let steps = failed["steps"].as_array().expect("steps");
    assert!(
        steps.iter().any(|s| s["status"] == "passed")
            && steps.iter().any(|s| s["status"] == "failed"),
        "steps carry their own status: {failed}"
    );
    let attachments = failed["attachments"].as_array().expect("attachments");
    assert!(
        attachments.len() >= 2,
        "diagnostics and the last exchange: {failed}"
    );
    for a in attachments {
        let text = std::fs::read_to_string(dir.join(a["source"].as_str().expect("source")))
            .expect("attachment");
        assert!(text.contains("Last Focus Server exchange"), "{text}");
    }
    let skipped = rs
        .iter()
        .find(|r| r["status"] == "skipped")
        .expect("a skip");
    assert!(
        skipped["statusDetails"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("fault driver")),
        "{skipped}"
    );
    let env = std::fs::read_to_string(dir.join("environment.properties")).expect("environment");
    for key in [
        "profile=sandbox-observed",
        "focus_server.sw_version=",
        "cluster.version=",
        "suite.commit=",
    ] {
        assert!(env.contains(key), "{key}: {env}");
    }
    let categories: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("categories.json")).expect("categories"))
            .expect("json");
    assert_eq!(categories.as_array().map(Vec::len), Some(4), "{categories}");
    assert!(dir.join("executor.json").is_file());

    // The real command line generates a report from them; read back in Chromium.
    let Some(cli) = support::allure::allure_or_skip() else {
        return;
    };
    let Some(browser) = chromium() else { return };
    let out = run.output_dir.path().join("allure-report");
    let index = support::allure::generate(&cli, &dir, &out).unwrap_or_else(|e| panic!("{e}"));
    let url = format!("file://{}", index.display());
    let dom = chromium_run(&browser, &url, "--dump-dom");
    let count = |id: &str| -> u64 {
        testid_values(&dom, &format!("metadata-item-{id}"))
            .first()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let (passed, failed_cucumber) = cucumber_counts(&run.output_dir.path().join("cucumber.json"));
    assert_eq!(
        count("passed"),
        passed as u64,
        "passed in the Allure report"
    );
    assert_eq!(
        count("failed") + count("broken"),
        failed_cucumber as u64,
        "failed and broken (known failures) in the Allure report = failed in cucumber.json"
    );
    assert_eq!(
        count("skipped"),
        not_run.len() as u64,
        "skipped in the Allure report"
    );
    assert_eq!(
        count("total"),
        rs.len() as u64,
        "total in the Allure report"
    );
    for s in ran.iter().chain(&not_run).filter(|s| is_hebrew(s)) {
        let name = s["name"].as_str().expect("name");
        assert!(
            dom.contains(name),
            "the Allure report shows the Hebrew title `{name}`"
        );
    }

    // A scenario tagged @PZ-… links to the URL the profile configures.
    let (pz, link) = rs
        .iter()
        .filter(|r| {
            r["name"]
                .as_str()
                .is_some_and(|n| !n.contains(['<', '&', '"']))
        })
        .find_map(|r| {
            let l = r["links"].as_array()?.iter().find(|l| {
                l["type"] == "tms" && l["name"].as_str().is_some_and(|n| n.starts_with("PZ-"))
            })?;
            Some((r, l))
        })
        .expect("a result with a PZ link");
    let key = link["name"].as_str().expect("key");
    let expected = TMS_URL.replace("{key}", key);
    assert_eq!(link["url"], expected.as_str(), "{pz}");
    let title = pz["name"].as_str().expect("name");
    let leaf = dom
        .split("data-testid=\"tree-leaf\"")
        .skip(1)
        .find(|leaf| leaf.contains(&format!(">{title}<")))
        .and_then(|leaf| leaf.split(" id=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("`{title}` is in the report's tree"))
        .to_string();
    let page = chromium_run(&browser, &format!("{url}#{leaf}"), "--dump-dom");
    assert!(
        page.contains(&format!("href=\"{expected}\"")),
        "the result page of `{title}` links {key} to {expected}"
    );
}
