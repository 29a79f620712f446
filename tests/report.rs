//! The HTML report in a real headless Chromium (Debian's package, installed by
//! `.ci/run`): read back from the page's own DOM, Hebrew sections are right-to-left and
//! the pass/fail counts equal those in cucumber.json.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{manifest_dir, path_str, run_capped, run_suite};

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
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

/// Each failed row links its diagnostics: the exchange with Focus Server and the
/// investigation's manifests, events and log tail, as the failure left them.
fn failure_diagnostics_are_linked(output_root: &Path) {
    let html = std::fs::read_to_string(output_root.join("report.html")).expect("report");
    let links: Vec<&str> = html
        .split("class=\"diagnostics\" href=\"")
        .skip(1)
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
    // A run in both languages, with one failing scenario so both counts are non-zero.
    let features = manifest_dir().join("features");
    let run = run_suite(
        &[
            "--tags",
            "@id:k8s-live-investigation-opens or @id:k8s-gpu-slice",
        ],
        &[
            ("FOCUS_FEATURES", &path_str(&features)),
            ("FOCUS_SANDBOX_DEFECTS", "no-gpu-request"),
        ],
        Duration::from_secs(240),
    );
    assert_eq!(run.code, Some(1), "{}", run.all_output());
    let report = run.output_dir.path().join("report.html");
    assert!(
        report.is_file(),
        "report.html missing: {}",
        run.all_output()
    );

    failure_diagnostics_are_linked(run.output_dir.path());

    let Some(browser) = chromium() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("chromium is not installed: .ci/run must install Debian's `chromium`");
        }
        eprintln!(
            "\n*** SKIPPED: the_report_reads_right_in_a_real_browser: /usr/bin/chromium is absent (apt-get install chromium) ***\n"
        );
        return;
    };
    let profile = tempfile::tempdir().expect("profile dir");
    let mut cmd = Command::new(&browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--virtual-time-budget=2000",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .arg("--dump-dom")
    .arg(format!("file://{}", report.display()));
    let out = run_capped(cmd, Duration::from_secs(60));
    let dom = String::from_utf8_lossy(&out.stdout);
    let start = dom
        .find("<pre id=\"self-check\">")
        .expect("self-check block")
        + "<pre id=\"self-check\">".len();
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
    assert!(
        passed > 0 && failed > 0,
        "both counts exercised: {passed} passed, {failed} failed"
    );
}
