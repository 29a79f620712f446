//! API-layer steps: configure requests from the Examples tables' language, and what
//! the answer must be. Requests go out as raw JSON: nothing is validated here.

use cucumber::{given, then, when};

use crate::ensure_that;
use crate::spec::availability;
use crate::spec::changes;
use crate::spec::investigation::{ConfigureRequest, ViewType, check_invariants};
use crate::world::{FocusWorld, Step};

#[given("the environment's channels, sampling rate and recordings are known")]
#[given("הערוצים, קצב הדגימה וההקלטות של הסביבה ידועים")]
async fn facts_known(w: &mut FocusWorld) -> Step {
    w.facts = availability::gather(&w.suite.api).await?;
    Ok(())
}

/// The mode word of a step, in either language (failure messages name it in English,
/// the same in both twins).
fn is_historic(mode: &str) -> bool {
    mode == "historic" || mode == "היסטורית"
}

fn mode_name(mode: &str) -> &'static str {
    if is_historic(mode) {
        "historic"
    } else {
        "live"
    }
}

/// `a live multichannel investigation is requested with channels.min = lowest - 1`
#[when(
    regex = r"^an? (live|historic) (multichannel|singlechannel|waterfall) investigation is requested with (.+)$"
)]
#[when(
    regex = r"^מתבקשת חקירה (חיה|היסטורית) בתצוגת (multichannel|singlechannel|waterfall) עם (.+)$"
)]
async fn request_with(w: &mut FocusWorld, mode: String, view: String, edits: String) -> Step {
    let view: ViewType = view.parse().map_err(anyhow::Error::msg)?;
    let mut base = ConfigureRequest::live_view(view);
    if is_historic(&mode) {
        base = base.window(w.fact("rec.start")?, w.fact("rec.end")?);
    }
    let edits = changes::parse(&edits, &w.facts)?;
    w.open(changes::apply(base, &edits)).await?;
    Ok(())
}

#[when(
    regex = r"^an? (live|historic) (multichannel|singlechannel|waterfall) investigation is opened$"
)]
#[when(regex = r"^נפתחת חקירה (חיה|היסטורית) בתצוגת (multichannel|singlechannel|waterfall)$")]
async fn open_view(w: &mut FocusWorld, mode: String, view: String) -> Step {
    let mode = mode_name(&mode);
    let view: ViewType = view.parse().map_err(anyhow::Error::msg)?;
    let mut req = ConfigureRequest::live_view(view);
    if is_historic(mode) {
        req = req.window(w.fact("rec.start")?, w.fact("rec.end")?);
    }
    let resp = w.open(req).await?;
    ensure_that!(
        resp.status == 200,
        "a valid {mode} {view:?} configure was not accepted: {}",
        resp.describe()
    );
    Ok(())
}

#[then("the investigation is opened")]
#[then("החקירה נפתחת")]
async fn investigation_opened(w: &mut FocusWorld) -> Step {
    let resp = w.last_response()?;
    ensure_that!(
        resp.status == 200,
        "the request was not accepted: {}",
        resp.describe()
    );
    let name = w.current()?.objects().stream_job;
    let deadline = w.suite.config.profile.deadlines.object_appears;
    w.suite.cluster.wait_for_job(&name, deadline).await?;
    Ok(())
}

/// `the request is rejected with 400 naming "channels"` (several names: any of them).
#[then(regex = r#"^the request is rejected with (\d{3}) naming (.+)$"#)]
#[then(regex = r"^הבקשה נדחית עם (\d{3}) ומציינת את (.+)$")]
async fn rejected_naming(w: &mut FocusWorld, status: u16, names: String) -> Step {
    let resp = w.last_response()?;
    ensure_that!(
        resp.status == status,
        "expected a {status} rejection naming {names}: {}",
        resp.describe()
    );
    let wanted: Vec<&str> = names.split('"').skip(1).step_by(2).collect();
    let said = resp.error_text();
    ensure_that!(
        wanted.iter().any(|n| said.contains(n)),
        "the {status} answer does not name {names}: {}",
        resp.describe()
    );
    Ok(())
}

/// `the request is refused with 404 saying "No recording found in given time range"`
#[then(regex = r#"^the request is refused with (\d{3}) saying "(.+)"$"#)]
#[then(regex = r#"^הבקשה מסורבת עם (\d{3}) והודעה "(.+)"$"#)]
async fn refused_saying(w: &mut FocusWorld, status: u16, text: String) -> Step {
    let resp = w.last_response()?;
    ensure_that!(
        resp.status == status && resp.error_text().contains(&text),
        "expected {status} saying \"{text}\": {}",
        resp.describe()
    );
    Ok(())
}

#[then("no investigation objects were created")]
#[then("לא נוצרו אובייקטים של חקירה")]
async fn nothing_created(w: &mut FocusWorld) -> Step {
    let left = w.unclaimed_creations().await?;
    ensure_that!(
        left.is_empty(),
        "a rejected request left investigation objects behind: {}",
        left.join(", ")
    );
    Ok(())
}

#[then("the response's fields are consistent with the request")]
#[then("שדות התשובה תואמים לבקשה")]
async fn response_consistent(w: &mut FocusWorld) -> Step {
    let resp = w.last_response()?;
    let request = resp
        .request_body
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the last answer had no request body"))?;
    let violations = check_invariants(&request, &resp.body);
    ensure_that!(
        violations.is_empty(),
        "the configure response breaks the contract: {}",
        violations.join("; ")
    );
    Ok(())
}

#[then("the investigation's pod carries the requested time window")]
#[then("ה-Pod של החקירה נושא את טווח הזמנים המבוקש")]
async fn pod_has_window(w: &mut FocusWorld) -> Step {
    let (start, end) = (w.fact("rec.start")?, w.fact("rec.end")?);
    let job = w.current()?.objects().stream_job;
    w.suite
        .cluster
        .wait_pod_running(&job, w.suite.config.profile.deadlines.pod_running)
        .await?;
    let args = w.suite.cluster.pod_args(&job).await?;
    let ok = |a: &Vec<String>| {
        arg_value(a, "--time-start").is_some_and(|v| v.contains(&start.to_string()))
            && arg_value(a, "--time-end").is_some_and(|v| v.contains(&end.to_string()))
    };
    ensure_that!(
        !args.is_empty() && args.iter().all(ok),
        "the historic pod of {job} does not carry --time-start {start} --time-end {end}: {args:?}"
    );
    Ok(())
}

#[then("the investigation's pod carries no time window")]
#[then("ה-Pod של החקירה אינו נושא טווח זמנים")]
async fn pod_has_no_window(w: &mut FocusWorld) -> Step {
    let job = w.current()?.objects().stream_job;
    w.suite
        .cluster
        .wait_pod_running(&job, w.suite.config.profile.deadlines.pod_running)
        .await?;
    let args = w.suite.cluster.pod_args(&job).await?;
    ensure_that!(
        args.iter().all(|a| arg_value(a, "--time-start").is_none() && arg_value(a, "--time-end").is_none()),
        "the live pod of {job} carries a time window: {args:?}"
    );
    Ok(())
}

/// `--flag value` or `--flag=value`.
fn arg_value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter().enumerate().find_map(|(i, a)| {
        if a == flag {
            args.get(i + 1).map(String::as_str)
        } else {
            a.strip_prefix(flag).and_then(|r| r.strip_prefix('='))
        }
    })
}

#[when(
    regex = r"^the recordings of (the recorded window|the window between recordings|a window partly overlapping a recording) are listed$"
)]
#[when(
    regex = r"^מתבקשת רשימת ההקלטות של (החלון המוקלט|החלון שבין ההקלטות|חלון החופף חלקית להקלטה)$"
)]
async fn list_recordings(w: &mut FocusWorld, window: String) -> Step {
    let (s, e) = window_of(w, &window)?;
    let recs = availability::recordings(&w.suite.api, s, e).await?;
    w.listed = Some(((s, e), recs));
    Ok(())
}

#[then(regex = r"^(at least one recording|no recording) is listed$")]
#[then(regex = r"^(לפחות הקלטה אחת רשומה|אף הקלטה אינה רשומה)$")]
async fn recordings_listed(w: &mut FocusWorld, expect: String) -> Step {
    let ((s, e), recs) = w
        .listed
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no recordings were listed in this scenario"))?;
    let none = expect == "no recording" || expect == "אף הקלטה אינה רשומה";
    let expect = if none { "none" } else { "some" };
    ensure_that!(
        none == recs.is_empty(),
        "/recordings_in_time_range for [{s}, {e}] listed {recs:?}, expected {expect}"
    );
    Ok(())
}

#[when(
    regex = r"^a historic investigation is requested for (the recorded window|the window between recordings|a window partly overlapping a recording)$"
)]
#[when(
    regex = r"^מתבקשת חקירה היסטורית עבור (החלון המוקלט|החלון שבין ההקלטות|חלון החופף חלקית להקלטה)$"
)]
async fn historic_for(w: &mut FocusWorld, window: String) -> Step {
    let (s, e) = window_of(w, &window)?;
    w.open(ConfigureRequest::historic(s, e)).await?;
    Ok(())
}

fn window_of(w: &FocusWorld, which: &str) -> anyhow::Result<(i64, i64)> {
    Ok(match which {
        // The Hebrew steps name the same windows: החלון המוקלט, החלון שבין ההקלטות.
        "the recorded window" | "החלון המוקלט" => {
            (w.fact("rec.start")?, w.fact("rec.end")?)
        }
        "the window between recordings" | "החלון שבין ההקלטות" => {
            (w.fact("gap.start")?, w.fact("gap.end")?)
        }
        _ => {
            // Starts inside the gap and ends inside the next recording: partial overlap.
            let gap_end = w.fact("gap.end")?;
            (gap_end - 60, gap_end + 120)
        }
    })
}

#[given("the live stream is available")]
#[given("הזרם החי זמין")]
async fn live_available(w: &mut FocusWorld) -> Step {
    let live = w.suite.api.live_metadata().await?;
    let prr = live.body.get("prr").and_then(|p| p.as_f64()).unwrap_or(0.0);
    ensure_that!(
        live.status == 200 && prr > 0.0,
        "premise not met: the live stream is not available: {}",
        live.describe()
    );
    Ok(())
}
