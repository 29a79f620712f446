//! report.html: one self-contained page (no network) rendered from the run's rows,
//! provenance, latency and history; styles and script inline.
//!
//! Size: ~150 of its lines are the page's inline style and script; the rest renders one
//! page.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{HistoryEntry, Provenance, Row, ScopeItem, Status, charts, counts, regressions};
use crate::spec::metrics::Summary;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn badge(status: &str) -> String {
    format!("<span class=\"st {}\">{}</span>", esc(status), esc(status))
}

fn lang(hebrew: bool) -> &'static str {
    if hebrew { "he" } else { "en" }
}

/// The anchor of a scenario's row in the results (its id and language).
fn anchor(r: &Row) -> String {
    format!("sc-{}-{}", lang(r.hebrew), r.id)
}

/// The investigation stages drawn as distributions, in order, with their titles.
pub const STAGES: &[(&str, &str)] = &[
    (crate::spec::metrics::kind::CONFIGURE, "POST /configure"),
    (
        crate::spec::metrics::kind::JOB_TO_SCHEDULED,
        "Job → pod scheduled",
    ),
    (
        crate::spec::metrics::kind::SCHEDULED_TO_STARTED,
        "pod scheduled → started",
    ),
    (
        crate::spec::metrics::kind::PORT_REACHABLE,
        "pod started → port reachable",
    ),
    (
        crate::spec::metrics::kind::POD_START,
        "configure answered → pod Running",
    ),
];

/// A profile bound drawn on a stage's chart: (stage kind, profile key, ms).
pub type StageBound = (String, String, f64);

/// What the page shows.
pub struct Page<'a> {
    pub provenance: &'a Provenance,
    /// The exit code and its meaning.
    pub exit_code: u8,
    pub verdict: (&'a str, &'a str),
    pub scope: &'a [ScopeItem],
    pub rows: &'a [Row],
    pub latency: &'a BTreeMap<String, Summary>,
    /// Every latency sample of the run (ms), by kind.
    pub samples: &'a BTreeMap<String, Vec<f64>>,
    pub bounds: &'a [StageBound],
    pub kubernetes_requests: u64,
    pub history: &'a [HistoryEntry],
}

const STYLE: &str = r#"
:root{--ok:#1b7f3a;--bad:#c62828;--known:#b26a00;--muted:#666}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans Hebrew",Arial,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
main{padding:0 1.5em 2em;max-width:1400px;margin:auto}
#headline{padding:1em 1.5em;color:#fff;display:flex;flex-wrap:wrap;gap:.5em 2em;align-items:center}
#headline.exit-0{background:var(--ok)} #headline.exit-1,#headline.exit-5{background:var(--bad)} #headline.exit-2,#headline.exit-3,#headline.exit-4{background:#555}
#headline .verdict{font-size:2em;font-weight:700;letter-spacing:.03em} #headline .meaning{font-size:1.05em;opacity:.95}
#headline .meta{flex-basis:100%;font-size:.9em;opacity:.92}
#summary{display:flex;gap:.75em;flex-wrap:wrap;margin:1em 0}
#summary .count{background:#fff;border:1px solid #ddd;border-radius:8px;padding:.4em 1em;min-width:6em}
#summary .count strong{display:block;font-size:1.8em} #summary .passed strong{color:var(--ok)} #summary .failed strong{color:var(--bad)} #summary .known strong{color:var(--known)} #summary .notrun strong{color:var(--muted)}
nav{margin:.5em 0 1em;font-size:.95em} nav a{margin-inline-end:1em}
h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.charts{display:flex;flex-wrap:wrap;gap:12px} figure.chart{margin:0;background:#fff;border:1px solid #ddd;border-radius:6px;padding:4px;width:380px}
figure.chart figcaption{font-size:.8em;color:var(--muted);padding:0 6px 4px}
table{border-collapse:collapse;margin:.5em 0 1.5em;background:#fff}
td,th{border:1px solid #ddd;padding:.25em .5em;vertical-align:top;text-align:start} th{background:#f0f0f0}
.st{padding:0 .45em;border-radius:3px;font-size:.85em;white-space:nowrap} .passed{background:#d4f7d4} .failed{background:#f9c8c8}
.known-failure{background:#fbe7b5} .skipped,.refused,.not-run,.partly-run{background:#e2e2e2} .flag{color:var(--bad);font-weight:bold}
section.lang-he{direction:rtl} code{font-size:.9em} .he{direction:rtl;unicode-bidi:isolate}
details.feature{background:#fff;border:1px solid #ddd;border-radius:6px;margin:.4em 0;padding:.2em .6em}
details.feature>summary{cursor:pointer;font-weight:600;padding:.2em 0} details.feature table{margin:.4em 0 .6em}
#filters{position:sticky;top:0;background:#fafafa;padding:.5em 0;z-index:1;display:flex;gap:.6em;align-items:center;flex-wrap:wrap}
#filters input,#filters select{font:inherit;padding:.2em .4em}
.muted{color:var(--muted)} tr[hidden],details[hidden]{display:none}
"#;

/// The self-check (what a reader sees, read back from the page's own DOM) and the
/// filter: no remote script, the page works offline.
const SCRIPT: &str = r#"
function applyFilter(){
  var text=document.getElementById('filter-text').value.trim().toLowerCase();
  var st=document.getElementById('filter-status').value;
  var tag=document.getElementById('filter-tag').value;
  var rows=document.querySelectorAll('tr.result'), shown=0;
  Array.prototype.forEach.call(rows,function(tr){
    var ok=(!st||tr.dataset.status===st)&&(!tag||(' '+tr.dataset.tags+' ').indexOf(' '+tag+' ')>=0)&&(!text||tr.dataset.text.indexOf(text)>=0);
    tr.hidden=!ok; if(ok) shown++;
  });
  Array.prototype.forEach.call(document.querySelectorAll('details.feature'),function(d){
    var any=d.querySelector('tr.result:not([hidden])'); d.hidden=!any; if(any&&(st||tag||text)) d.open=true;
  });
  document.getElementById('filter-count').textContent=shown+' of '+rows.length+' scenarios shown';
  return shown;
}
['filter-text','filter-status','filter-tag'].forEach(function(id){
  var e=document.getElementById(id); e.addEventListener('input',applyFilter); e.addEventListener('change',applyFilter);
});
applyFilter();
(function(){
  function visible(){ return Array.prototype.filter.call(document.querySelectorAll('tr.result'),function(r){return !r.hidden;}).length; }
  function set(id,v){ var e=document.getElementById(id); e.value=v; e.dispatchEvent(new Event('input')); }
  var he=document.querySelectorAll('section.lang-he');
  var dirs=Array.prototype.map.call(he,function(e){return getComputedStyle(e).direction;});
  var s=document.getElementById('summary').dataset;
  var charts={};
  Array.prototype.forEach.call(document.querySelectorAll('figure.chart[data-kind]'),function(f){
    var marks={};
    Array.prototype.forEach.call(f.querySelectorAll('svg text'),function(t){
      var m=/^(p50|p95|p99) = ([0-9.]+) ms$/.exec(t.textContent.trim()); if(m) marks[m[1]]=+m[2];
    });
    charts[f.dataset.kind]=marks;
  });
  var opened=Array.prototype.map.call(document.querySelectorAll('details.feature'),function(d){return d.open;});
  var filter={all:visible()};
  set('filter-status','failed'); filter.failed=visible();
  set('filter-status','known-failure'); filter.known=visible();
  set('filter-status',''); set('filter-tag','lang-he'); filter.hebrew=visible();
  set('filter-tag',''); set('filter-text','zz-no-such-scenario-zz'); filter.nothing=visible();
  set('filter-text',''); filter.again=visible();
  Array.prototype.forEach.call(document.querySelectorAll('details.feature'),function(d,i){d.open=opened[i];});
  var broken=Array.prototype.filter.call(document.querySelectorAll('#scope-matrix a.scenario'),function(a){
    return !document.getElementById(decodeURIComponent(a.getAttribute('href').slice(1)));
  }).length;
  var trends=document.querySelectorAll('figure.trend svg').length;
  document.getElementById('self-check').textContent=JSON.stringify({
    hebrew_directions:dirs, passed:+s.passed, failed:+s.failed, known:+s.known, skipped:+s.skipped,
    charts:charts, trends:trends, filter:filter, broken_matrix_links:broken,
    matrix_links:document.querySelectorAll('#scope-matrix a.scenario').length
  });
})();
"#;

/// The page.
pub fn render(page: &Page) -> String {
    let prov = page.provenance;
    let rows = page.rows;
    let c = counts(rows);
    let n = |k: &str| c.get(k).copied().unwrap_or(0);
    let mut h = String::new();
    let duration = match (
        prov.started.parse::<jiff::Timestamp>(),
        prov.finished.parse::<jiff::Timestamp>(),
    ) {
        (Ok(a), Ok(b)) => {
            let secs = b.duration_since(a).as_secs().max(0);
            format!("{}m {:02}s", secs / 60, secs % 60)
        }
        _ => "?".into(),
    };
    let when = |t: &str| {
        t.parse::<jiff::Timestamp>()
            .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|_| t.to_string())
    };
    let _ = write!(
        h,
        r##"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>focus-scope {verdict} · {profile} · {run}</title>
<style>{STYLE}</style></head><body>
<header id="headline" class="exit-{code}"><span class="verdict">{verdict}</span><span class="meaning">exit {code}: {meaning}</span>
<span class="meta">profile <strong>{profile}</strong> · Focus Server {sw} · cluster {cluster} · started {started} · took {duration} · run <code>{run}</code></span></header>
<main>
<div id="summary" data-passed="{p}" data-failed="{f}" data-known="{k}" data-skipped="{s}">
<span class="count passed"><strong>{p}</strong>passed</span><span class="count failed"><strong>{f}</strong>failed</span>
<span class="count known"><strong>{k}</strong>known failures</span><span class="count notrun"><strong>{s}</strong>not run</span>
<span class="count"><strong>{total}</strong>scenario runs (English + Hebrew)</span></div>
<p class="muted">Known failures are failures the known-issues register expects (they count as failed in Cucumber JSON, skipped in JUnit, broken in Allure); not run = skipped for a missing precondition or refused by protection.</p>
<nav><a href="#charts">Latency</a><a href="#trends">Trends</a><a href="#scope">Scope matrix</a><a href="#results">Results</a><a href="#known">Known failures</a><a href="#skipped">Not run</a><a href="#provenance">Provenance</a></nav>
"##,
        verdict = esc(page.verdict.0),
        meaning = esc(page.verdict.1),
        code = page.exit_code,
        profile = esc(&prov.profile),
        run = esc(&prov.run_id),
        sw = esc(&prov.focus_server_version),
        cluster = esc(&prov.cluster_version),
        started = esc(&when(&prov.started)),
        p = n("passed"),
        f = n("failed"),
        k = n("known-failure"),
        s = n("skipped") + n("refused"),
        total = rows.len(),
    );

    // Charts: one distribution per stage, then the trends.
    h.push_str("<h2 id=\"charts\">Latency by stage</h2><div class=\"charts\">");
    for (kind, title) in STAGES {
        let Some(summary) = page.latency.get(*kind).filter(|s| s.count > 0) else {
            let _ = write!(
                h,
                "<figure class=\"chart empty\"><figcaption>{} — no samples in this run</figcaption></figure>",
                esc(title)
            );
            continue;
        };
        let samples = page.samples.get(*kind).map(Vec::as_slice).unwrap_or(&[]);
        let bound = page
            .bounds
            .iter()
            .find(|(k, _, _)| k == kind)
            .map(|(_, key, ms)| charts::Bound { key, ms: *ms });
        let svg = charts::stage_distribution(
            &format!("{title} ({} samples)", summary.count),
            samples,
            summary,
            bound.as_ref(),
        )
        .unwrap_or_else(|e| format!("<p class=\"flag\">{}</p>", esc(&e)));
        let _ = write!(
            h,
            "<figure class=\"chart\" data-kind=\"{k}\" data-p50=\"{}\" data-p95=\"{}\" data-p99=\"{}\">{svg}<figcaption><code>{k}</code> · p50 {} ms · p95 {} ms · p99 {} ms · max {} ms{}</figcaption></figure>",
            summary.p50_ms,
            summary.p95_ms,
            summary.p99_ms,
            charts::ms(summary.p50_ms),
            charts::ms(summary.p95_ms),
            charts::ms(summary.p99_ms),
            charts::ms(summary.max_ms),
            bound
                .as_ref()
                .map(|b| format!(
                    " · bound <code>{}</code> {} ms",
                    esc(b.key),
                    charts::ms(b.ms)
                ))
                .unwrap_or_default(),
            k = esc(kind),
        );
    }
    h.push_str("</div>");
    let recent: Vec<HistoryEntry> = page.history.iter().rev().take(30).rev().cloned().collect();
    let _ = write!(
        h,
        "<h2 id=\"trends\">Trends (profile {}, last {} runs)</h2><div class=\"charts\">",
        esc(&prov.profile),
        recent.len()
    );
    for svg in [
        charts::counts_trend(&recent),
        charts::p99_trend(&recent, STAGES),
    ] {
        let svg = svg.unwrap_or_else(|e| format!("<p class=\"flag\">{}</p>", esc(&e)));
        let _ = write!(h, "<figure class=\"chart trend\">{svg}</figure>");
    }
    h.push_str("</div>");

    // The scope matrix: one line per scenario, its English and Hebrew titles.
    h.push_str("<h2 id=\"scope\">Scope matrix</h2><table id=\"scope-matrix\"><tr><th>scope item</th><th>scenario (English)</th><th>תרחיש (עברית)</th><th>EN</th><th>HE</th><th>diagnostics</th></tr>");
    for item in page.scope {
        let mut ids: Vec<&str> = Vec::new();
        for r in rows.iter().filter(|r| r.scope.contains(&item.key)) {
            if !ids.contains(&r.id.as_str()) {
                ids.push(&r.id);
            }
        }
        let head = |span: usize| {
            format!(
                "<td rowspan=\"{span}\" data-scope=\"{k}\"><code>{k}</code><br>{}</td>",
                esc(&item.item),
                k = esc(&item.key)
            )
        };
        if ids.is_empty() {
            let _ = write!(
                h,
                "<tr>{}<td colspan=\"5\">{}</td></tr>",
                head(1),
                badge("not-run")
            );
            continue;
        }
        for (i, id) in ids.iter().enumerate() {
            let of = |hebrew: bool| rows.iter().find(|r| r.id == *id && r.hebrew == hebrew);
            let title = |r: Option<&Row>| match r {
                Some(r) => format!(
                    "<a class=\"scenario\" href=\"#{}\" title=\"{}\">{}</a>",
                    esc(&anchor(r)),
                    esc(&r.id),
                    esc(&r.name)
                ),
                None => "<span class=\"muted\">—</span>".into(),
            };
            let result = |r: Option<&Row>| {
                r.map(|r| badge(r.status.as_str()))
                    .unwrap_or_else(|| badge("not-run"))
            };
            let diag: Vec<String> = [of(false), of(true)]
                .into_iter()
                .flatten()
                .filter_map(|r| {
                    r.diagnostics.as_ref().map(|d| {
                        format!(
                            "<a class=\"diag-link\" href=\"{}\">{}</a>",
                            esc(d),
                            lang(r.hebrew)
                        )
                    })
                })
                .collect();
            let _ = write!(
                h,
                "<tr>{}<td>{}</td><td class=\"he\" dir=\"rtl\" lang=\"he\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if i == 0 {
                    head(ids.len())
                } else {
                    String::new()
                },
                title(of(false)),
                title(of(true)),
                result(of(false)),
                result(of(true)),
                diag.join(" ")
            );
        }
    }
    h.push_str("</table>");

    // Results: the filter, then per language the features, collapsible.
    let mut tags: Vec<&str> = rows
        .iter()
        .flat_map(|r| r.tags.iter().map(String::as_str))
        .filter(|t| !crate::spec::tags::ScenarioTags::is_structural(t))
        .collect();
    tags.sort_unstable();
    tags.dedup();
    h.push_str("<h2 id=\"results\">Results</h2><div id=\"filters\"><input id=\"filter-text\" type=\"search\" placeholder=\"filter by id, title or message\" size=\"32\"><select id=\"filter-status\"><option value=\"\">every result</option>");
    for s in Status::ALL.map(Status::as_str) {
        let _ = write!(h, "<option value=\"{s}\">{s} ({})</option>", n(s));
    }
    h.push_str("</select><select id=\"filter-tag\"><option value=\"\">every tag</option>");
    for t in tags {
        let _ = write!(h, "<option value=\"{}\">@{}</option>", esc(t), esc(t));
    }
    h.push_str("</select><span id=\"filter-count\" class=\"muted\"></span></div>");
    for (hebrew, title, class, lang) in [
        (false, "English features", "lang-en", "en"),
        (true, "תכונות בעברית", "lang-he", "he"),
    ] {
        let mut by_feature: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
        for r in rows.iter().filter(|r| r.hebrew == hebrew) {
            by_feature.entry(&r.feature).or_default().push(r);
        }
        let _ = write!(
            h,
            "<section class=\"{class}\" lang=\"{lang}\" dir=\"{}\"><h3>{title}</h3>",
            if hebrew { "rtl" } else { "ltr" }
        );
        for (feature, rs) in by_feature {
            let fc = counts(&rs.iter().map(|r| (*r).clone()).collect::<Vec<_>>());
            let troubled = rs
                .iter()
                .any(|r| matches!(r.status, Status::Failed | Status::KnownFailure));
            let _ = write!(
                h,
                "<details class=\"feature\"{}><summary>{} <span class=\"muted\">{}</span></summary><table><tr><th>id</th><th>scenario</th><th>result</th><th>note</th></tr>",
                if troubled { " open" } else { "" },
                esc(feature),
                fc.iter()
                    .map(|(k, v)| format!("{v} {k}"))
                    .collect::<Vec<_>>()
                    .join(" · ")
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
                let text = format!("{} {} {} {}", r.id, r.name, r.note, r.feature).to_lowercase();
                let _ = write!(
                    h,
                    "<tr class=\"result\" id=\"{}\" data-status=\"{}\" data-tags=\"{}\" data-text=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}{link}</td></tr>",
                    esc(&anchor(r)),
                    esc(r.status.as_str()),
                    esc(&r.tags.join(" ")),
                    esc(&text),
                    esc(&r.id),
                    esc(&r.name),
                    badge(r.status.as_str()),
                    esc(&r.note)
                );
            }
            h.push_str("</table></details>");
        }
        h.push_str("</section>");
    }

    // Known failures and skips.
    h.push_str(
        "<h2 id=\"known\">Known failures</h2><table><tr><th>scenario</th><th>known issue</th></tr>",
    );
    for r in rows.iter().filter(|r| r.status == Status::KnownFailure) {
        let _ = write!(
            h,
            "<tr><td><a href=\"#{}\"><code>{}</code></a> {}</td><td>{}</td></tr>",
            esc(&anchor(r)),
            esc(&r.id),
            lang(r.hebrew),
            esc(&r.note)
        );
    }
    h.push_str(
        "</table><h2 id=\"skipped\">Not run</h2><table><tr><th>scenario</th><th>why</th></tr>",
    );
    for r in rows.iter().filter(|r| r.status.not_run()) {
        let _ = write!(
            h,
            "<tr><td><code>{}</code> {}</td><td>{}: {}</td></tr>",
            esc(&r.id),
            lang(r.hebrew),
            esc(r.status.as_str()),
            esc(&r.note)
        );
    }
    h.push_str("</table>");

    // Latency and requests, as figures.
    h.push_str("<h2>Latency and requests</h2><table id=\"latency\"><tr><th>measure</th><th>samples</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th></tr>");
    for (kind, s) in page.latency {
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
        "</table><p>Kubernetes API requests sent by the suite: {}</p>",
        page.kubernetes_requests
    );
    h.push_str("<h3>Runs of this profile</h3><table id=\"trend-table\"><tr><th>run</th><th>passed</th><th>failed</th><th>known</th><th>configure p99 ms</th><th>pod start p99 ms</th></tr>");
    for e in page.history.iter().rev().take(10) {
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
    let previous: Vec<HistoryEntry> = page
        .history
        .iter()
        .filter(|e| e.run_id != prov.run_id)
        .cloned()
        .collect();
    let flagged = regressions(&previous, page.latency);
    h.push_str("<ul id=\"regressions\">");
    for (kind, p, now, median) in &flagged {
        let _ = write!(
            h,
            "<li class=\"flag\">{} {p}: {now} ms, more than 50% worse than the median {median} ms of the previous five runs</li>",
            esc(kind)
        );
    }
    h.push_str("</ul>");

    h.push_str("<h2 id=\"provenance\">Provenance</h2><table id=\"provenance-table\">");
    for (k, v) in [
        ("suite commit", &prov.suite_commit),
        ("profile", &prov.profile),
        ("cancel path", &prov.cancel),
        ("tag expression", &prov.tag_expression),
        ("run id", &prov.run_id),
        ("Focus Server sw_version", &prov.focus_server_version),
        ("cluster /version", &prov.cluster_version),
        ("cluster server", &prov.cluster_server),
        ("profile overrides", &prov.overrides),
        ("Focus Server TLS", &prov.tls),
        ("started", &prov.started),
        ("finished", &prov.finished),
    ] {
        let _ = write!(h, "<tr><td>{k}</td><td><code>{}</code></td></tr>", esc(v));
    }
    h.push_str("</table>");
    let _ = write!(
        h,
        "<pre id=\"self-check\" class=\"muted\"></pre></main><script>{SCRIPT}</script></body></html>"
    );
    h
}
