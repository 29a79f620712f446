//! The living-doc report: one self-contained `report.html` per run (no network) with
//! provenance, the scope matrix (scope item → scenarios in English and Hebrew → last
//! result), per-feature results in both languages (Hebrew right-to-left), known
//! failures, skipped scenarios, latency percentiles, request counts and trends.
//! Each run also appends its figures to `history.jsonl`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::metrics::Summary;

/// One IN-SCOPE item of `docs/scope.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeItem {
    pub key: String,
    pub item: String,
}

/// The IN-SCOPE keys of `docs/scope.md`: every table row whose first cell is a
/// backticked key, up to the OUT OF SCOPE heading.
pub fn scope_items(markdown: &str) -> Vec<ScopeItem> {
    let mut items = Vec::new();
    for line in markdown.lines() {
        if line.starts_with("## ") && line.to_uppercase().contains("OUT OF SCOPE") {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() > 3
            && let Some(key) = cells[1].strip_prefix('`').and_then(|k| k.strip_suffix('`'))
            && !key.is_empty()
            && !key.contains(' ')
        {
            items.push(ScopeItem {
                key: key.to_string(),
                item: cells[2].to_string(),
            });
        }
    }
    items
}

/// A scenario's line in the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub id: String,
    pub name: String,
    pub feature: String,
    pub hebrew: bool,
    pub scope: Vec<String>,
    /// passed, failed, known-failure, skipped, refused
    pub status: String,
    /// Failure, known-issue id and reason, or skip reason.
    pub note: String,
    /// The failure's diagnostics file, relative to the run directory.
    #[serde(default)]
    pub diagnostics: Option<String>,
}

/// What the run was: where, what, when.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Provenance {
    pub suite_commit: String,
    pub profile: String,
    /// The cancel path of the run (`target.cancel`).
    pub cancel: String,
    pub tag_expression: String,
    pub run_id: String,
    pub focus_server_version: String,
    pub cluster_version: String,
    pub started: String,
    pub finished: String,
}

/// One line of `history.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub run_id: String,
    pub profile: String,
    pub started: String,
    pub counts: BTreeMap<String, usize>,
    pub latency: BTreeMap<String, Summary>,
    pub known_failures: Vec<String>,
}

pub fn counts(rows: &[Row]) -> BTreeMap<String, usize> {
    let mut c = BTreeMap::new();
    for r in rows {
        *c.entry(r.status.clone()).or_insert(0) += 1;
    }
    c
}

/// Reads the history of a profile, oldest first (unreadable lines are skipped).
pub fn read_history(path: &Path, profile: &str) -> Vec<HistoryEntry> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<HistoryEntry>(l).ok())
        .filter(|h| h.profile == profile)
        .collect()
}

pub fn append_history(path: &Path, entry: &HistoryEntry) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(
        f,
        "{}",
        serde_json::to_string(entry).map_err(std::io::Error::other)?
    )
}

/// Percentiles of the current run more than 50% worse than the median of the
/// previous five runs of the profile: `(kind, percentile, now, median)`.
pub fn regressions(
    previous: &[HistoryEntry],
    now: &BTreeMap<String, Summary>,
) -> Vec<(String, &'static str, f64, f64)> {
    let last5: Vec<&HistoryEntry> = previous.iter().rev().take(5).collect();
    let mut out = Vec::new();
    if last5.is_empty() {
        return out;
    }
    for (kind, s) in now {
        for (name, value, pick) in [
            (
                "p50",
                s.p50_ms,
                (|x: &Summary| x.p50_ms) as fn(&Summary) -> f64,
            ),
            ("p95", s.p95_ms, |x: &Summary| x.p95_ms),
            ("p99", s.p99_ms, |x: &Summary| x.p99_ms),
        ] {
            let mut past: Vec<f64> = last5
                .iter()
                .filter_map(|h| h.latency.get(kind))
                .map(pick)
                .collect();
            if past.is_empty() {
                continue;
            }
            past.sort_by(f64::total_cmp);
            let median = past[past.len() / 2];
            if median > 0.0 && value > median * 1.5 {
                out.push((kind.clone(), name, value, median));
            }
        }
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn badge(status: &str) -> String {
    format!("<span class=\"st {}\">{}</span>", esc(status), esc(status))
}

/// The page. `counts` are per status over all rows (both languages).
pub fn render(
    prov: &Provenance,
    scope: &[ScopeItem],
    rows: &[Row],
    latency: &BTreeMap<String, Summary>,
    kubernetes_requests: u64,
    history: &[HistoryEntry],
) -> String {
    let c = counts(rows);
    let n = |k: &str| c.get(k).copied().unwrap_or(0);
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>focus-scope report {run}</title>
<style>
body{{font-family:sans-serif;margin:1.5em;color:#222}} table{{border-collapse:collapse;margin:.5em 0 1.5em}}
td,th{{border:1px solid #ccc;padding:.25em .5em;vertical-align:top;text-align:start}} th{{background:#f3f3f3}}
.st{{padding:0 .4em;border-radius:3px;font-size:.85em}} .passed{{background:#d4f7d4}} .failed{{background:#f9c8c8}}
.known-failure{{background:#fbe7b5}} .skipped,.refused{{background:#e2e2e2}} .flag{{color:#b00;font-weight:bold}}
section.lang-he{{direction:rtl}} code{{font-size:.9em}}
</style></head><body>
<h1>focus-scope — living scope report</h1>
<table id="provenance"><tr><th colspan="2">Provenance</th></tr>"#,
        run = esc(&prov.run_id)
    );
    for (k, v) in [
        ("suite commit", &prov.suite_commit),
        ("profile", &prov.profile),
        ("cancel path", &prov.cancel),
        ("tag expression", &prov.tag_expression),
        ("run id", &prov.run_id),
        ("Focus Server sw_version", &prov.focus_server_version),
        ("cluster /version", &prov.cluster_version),
        ("started", &prov.started),
        ("finished", &prov.finished),
    ] {
        let _ = write!(h, "<tr><td>{k}</td><td><code>{}</code></td></tr>", esc(v));
    }
    let _ = write!(
        h,
        r#"</table>
<h2>Summary</h2><p id="summary" data-passed="{p}" data-failed="{f}" data-known="{k}" data-skipped="{s}">
{p} passed · {f} failed · {k} known failures (failed in Cucumber JSON) · {s} not run</p>"#,
        p = n("passed"),
        f = n("failed"),
        k = n("known-failure"),
        s = n("skipped") + n("refused"),
    );

    // The scope matrix.
    h.push_str("<h2>Scope matrix</h2><table id=\"scope-matrix\"><tr><th>scope key</th><th>scope item</th><th>English scenarios</th><th>Hebrew scenarios</th><th>last result</th></tr>");
    for item in scope {
        let of = |hebrew: bool| -> Vec<&Row> {
            rows.iter()
                .filter(|r| r.hebrew == hebrew && r.scope.contains(&item.key))
                .collect()
        };
        let cell = |rs: &[&Row]| -> String {
            rs.iter()
                .map(|r| format!("<code>{}</code> {}", esc(&r.id), badge(&r.status)))
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let (en, he) = (of(false), of(true));
        let all: Vec<&Row> = en.iter().chain(he.iter()).copied().collect();
        let result = if all.is_empty() {
            "not run".to_string()
        } else if all.iter().any(|r| r.status == "failed") {
            "failed".to_string()
        } else if all.iter().any(|r| r.status == "known-failure") {
            "known-failure".to_string()
        } else if all.iter().all(|r| r.status == "passed") {
            "passed".to_string()
        } else {
            "partly run".to_string()
        };
        let _ = write!(
            h,
            "<tr data-scope=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td dir=\"rtl\">{}</td><td>{}</td></tr>",
            esc(&item.key),
            esc(&item.key),
            esc(&item.item),
            cell(&en),
            cell(&he),
            badge(&result)
        );
    }
    h.push_str("</table>");

    // Per-feature results, one section per language.
    for (hebrew, title, class, lang) in [
        (false, "Results — English features", "lang-en", "en"),
        (true, "תוצאות — תכונות בעברית", "lang-he", "he"),
    ] {
        let mut by_feature: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
        for r in rows.iter().filter(|r| r.hebrew == hebrew) {
            by_feature.entry(&r.feature).or_default().push(r);
        }
        let _ = write!(
            h,
            "<section class=\"{class}\" lang=\"{lang}\"><h2>{title}</h2>"
        );
        for (feature, rs) in by_feature {
            let _ = write!(
                h,
                "<h3>{}</h3><table><tr><th>id</th><th>scenario</th><th>result</th><th>note</th></tr>",
                esc(feature)
            );
            for r in rs {
                let link = r
                    .diagnostics
                    .as_deref()
                    .map(|d| {
                        format!(
                            " <a class=\"diagnostics\" href=\"{}\">diagnostics</a>",
                            esc(d)
                        )
                    })
                    .unwrap_or_default();
                let _ = write!(
                    h,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}{link}</td></tr>",
                    esc(&r.id),
                    esc(&r.name),
                    badge(&r.status),
                    esc(&r.note)
                );
            }
            h.push_str("</table>");
        }
        h.push_str("</section>");
    }

    // Known failures and skips.
    h.push_str(
        "<h2>Known failures</h2><table id=\"known\"><tr><th>scenario</th><th>known issue</th></tr>",
    );
    for r in rows.iter().filter(|r| r.status == "known-failure") {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td></tr>",
            esc(&r.id),
            esc(&r.note)
        );
    }
    h.push_str(
        "</table><h2>Not run</h2><table id=\"skipped\"><tr><th>scenario</th><th>why</th></tr>",
    );
    for r in rows
        .iter()
        .filter(|r| r.status == "skipped" || r.status == "refused")
    {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td>{}: {}</td></tr>",
            esc(&r.id),
            esc(&r.status),
            esc(&r.note)
        );
    }
    h.push_str("</table>");

    // Latency and requests.
    h.push_str("<h2>Latency and requests</h2><table id=\"latency\"><tr><th>measure</th><th>samples</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th></tr>");
    for (kind, s) in latency {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(kind),
            s.count,
            s.p50_ms,
            s.p95_ms,
            s.p99_ms,
            s.max_ms
        );
    }
    let _ = write!(
        h,
        "</table><p>Kubernetes API requests sent by the suite: {kubernetes_requests}</p>"
    );

    // Trends.
    h.push_str("<h2>Trends (same profile)</h2><table id=\"trends\"><tr><th>run</th><th>passed</th><th>failed</th><th>known</th><th>configure p99 ms</th><th>pod start p99 ms</th></tr>");
    for e in history.iter().rev().take(10) {
        let g = |k: &str| e.counts.get(k).copied().unwrap_or(0);
        let p = |k: &str| {
            e.latency
                .get(k)
                .map(|s| s.p99_ms.to_string())
                .unwrap_or_default()
        };
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&e.run_id),
            g("passed"),
            g("failed"),
            g("known-failure"),
            p("configure"),
            p("pod_start")
        );
    }
    h.push_str("</table>");
    let previous: Vec<HistoryEntry> = history
        .iter()
        .filter(|e| e.run_id != prov.run_id)
        .cloned()
        .collect();
    let flagged = regressions(&previous, latency);
    h.push_str("<ul id=\"regressions\">");
    for (kind, p, now, median) in &flagged {
        let _ = write!(
            h,
            "<li class=\"flag\">{} {p}: {now} ms, more than 50% worse than the median {median} ms of the previous five runs</li>",
            esc(kind)
        );
    }
    h.push_str("</ul>");

    // The page checks itself: what a reader sees, read back from its own DOM.
    h.push_str(
        r#"<pre id="self-check"></pre>
<script>
(function(){
  var he = document.querySelectorAll('section.lang-he');
  var dirs = Array.prototype.map.call(he, function(e){ return getComputedStyle(e).direction; });
  var s = document.getElementById('summary').dataset;
  var badges = document.querySelectorAll('section .st');
  var shown = {passed:0, failed:0, known:0};
  Array.prototype.forEach.call(badges, function(b){
    if (b.classList.contains('passed')) shown.passed++;
    if (b.classList.contains('failed')) shown.failed++;
    if (b.classList.contains('known-failure')) shown.known++;
  });
  document.getElementById('self-check').textContent = JSON.stringify({
    hebrew_directions: dirs, passed: +s.passed, failed: +s.failed, known: +s.known, shown: shown
  });
})();
</script></body></html>"#,
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(p99: f64) -> Summary {
        Summary {
            count: 10,
            p50_ms: p99 / 2.0,
            p95_ms: p99,
            p99_ms: p99,
            max_ms: p99,
        }
    }

    #[test]
    fn scope_keys_come_from_backticked_first_cells_before_out_of_scope() {
        let md = "## IN SCOPE\n| key | item | f |\n|---|---|---|\n| `k8s-a` | A thing | x |\n| not a key | y | z |\n## OUT OF SCOPE\n| `grpc` | no | x |\n";
        assert_eq!(
            scope_items(md),
            vec![ScopeItem {
                key: "k8s-a".into(),
                item: "A thing".into()
            }]
        );
    }

    #[test]
    fn a_percentile_half_again_worse_than_the_median_is_flagged() {
        let past: Vec<HistoryEntry> = (0..5)
            .map(|i| HistoryEntry {
                run_id: format!("r{i}"),
                profile: "p".into(),
                started: String::new(),
                counts: BTreeMap::new(),
                latency: BTreeMap::from([("configure".to_string(), summary(100.0))]),
                known_failures: vec![],
            })
            .collect();
        let fine = BTreeMap::from([("configure".to_string(), summary(140.0))]);
        assert!(regressions(&past, &fine).is_empty());
        let worse = BTreeMap::from([("configure".to_string(), summary(160.0))]);
        assert!(
            regressions(&past, &worse)
                .iter()
                .any(|(_, p, _, _)| *p == "p99")
        );
    }

    #[test]
    fn the_page_escapes_text_and_marks_hebrew_rtl() {
        let rows = vec![Row {
            id: "x".into(),
            name: "<b>".into(),
            feature: "תכונה".into(),
            hebrew: true,
            scope: vec![],
            status: "passed".into(),
            note: String::new(),
            diagnostics: None,
        }];
        let html = render(&Provenance::default(), &[], &rows, &BTreeMap::new(), 0, &[]);
        assert!(html.contains("&lt;b&gt;") && !html.contains("<b>"));
        assert!(html.contains("section.lang-he{direction:rtl}"));
        assert!(html.contains("data-passed=\"1\""));
    }
}
