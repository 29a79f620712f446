//! System behaviour steps: error scenarios driven by fault drivers (no live stream,
//! no historic data, a taken port), clean startup and long-running stability.

use cucumber::{given, then, when};

use crate::ensure_that;
use crate::safety::faults::Fault;
use crate::spec::investigation::ConfigureRequest;
use crate::world::{FocusWorld, Step};

#[given("the live stream is disconnected")]
#[given("הזרם החי מנותק")]
async fn fiber_off(w: &mut FocusWorld) -> Step {
    let fault = w.suite.cut_live_stream(&w.scenario).await?;
    w.inject(fault)?;
    Ok(())
}

#[when("the live stream is reconnected")]
#[when("הזרם החי מחובר מחדש")]
async fn fiber_on(w: &mut FocusWorld) -> Step {
    w.reconnect_live_stream().await?;
    Ok(())
}

/// No historic data at all: the live stream stops (which finishes the ongoing
/// recording) and then every recording is removed. Undone in reverse.
#[given("the environment has no recordings")]
#[given("אין בסביבה הקלטות")]
async fn no_recordings(w: &mut FocusWorld) -> Step {
    let fault = Fault::FiberDisconnected;
    w.suite
        .making(&w.scenario, &fault, w.suite.set_fiber(false))
        .await?;
    w.inject(fault)?;
    let fault = Fault::RecordingsReplaced;
    w.suite
        .making(&w.scenario, &fault, w.suite.set_recordings(&[]))
        .await?;
    w.inject(fault)?;
    Ok(())
}

#[when("a live investigation is requested")]
#[when("מתבקשת חקירה חיה")]
async fn request_live(w: &mut FocusWorld) -> Step {
    w.open(ConfigureRequest::live()).await?;
    Ok(())
}

#[when("a historic investigation is requested for the last day")]
#[when("מתבקשת חקירה היסטורית עבור היום האחרון")]
async fn request_last_day(w: &mut FocusWorld) -> Step {
    let now = crate::spec::availability::now();
    w.open(ConfigureRequest::historic(now - 86_400, now - 3_600))
        .await?;
    Ok(())
}

#[then("the live metadata says the live stream is unavailable")]
#[then("ה-live metadata מציין שהזרם החי אינו זמין")]
async fn live_metadata_unavailable(w: &mut FocusWorld) -> Step {
    let live = w.suite.api.live_metadata().await?;
    ensure_that!(
        live.status == 404,
        "/live_metadata must answer 404 while the live stream is unavailable: {}",
        live.describe()
    );
    Ok(())
}

#[given("another Service holds the stream port the server would pick next")]
#[given("Service אחר מחזיק את פורט הזרם שהשרת היה בוחר בפעם הבאה")]
async fn hold_next_port(w: &mut FocusWorld) -> Step {
    let port = w.suite.next_free_stream_port().await?.ok_or_else(|| {
        crate::spec::premise::PremiseNotMet("every stream slot is taken: no port to hold".into())
    })?;
    let fault = w.suite.hold_node_port(&w.scenario, port).await?;
    w.inject(fault)?;
    Ok(())
}

#[when("live investigations are opened until one is answered beyond the held port")]
#[when("נפתחות חקירות חיות עד שאחת מהן נענית בפורט שמעבר לפורט המוחזק")]
async fn open_past_held(w: &mut FocusWorld) -> Step {
    w.open_past_held_ports().await?;
    Ok(())
}

#[then("no investigation got the held port")]
#[then("אף חקירה לא קיבלה את הפורט המוחזק")]
async fn not_the_held_port(w: &mut FocusWorld) -> Step {
    let got: Vec<u16> = w.opened.iter().map(|o| o.stream_port).collect();
    let probe = crate::spec::premise::held_port_probe(&w.held_ports(), &got);
    if let crate::spec::premise::HeldPortProbe::Taken { port } = probe {
        return Err(anyhow::anyhow!(
            "an investigation got stream port {port}, the held port, held by another Service (ports answered: {got:?})"
        )
        .into());
    }
    Ok(())
}

#[then("the investigation's Jobs and Service all exist")]
#[then("ה-Jobs וה-Service של החקירה קיימים כולם")]
async fn all_three_exist(w: &mut FocusWorld) -> Step {
    let o = w.current()?.objects();
    let mut missing = Vec::new();
    for j in o.jobs() {
        if w.suite.cluster.job(j).await?.is_none() {
            missing.push(format!("Job/{j}"));
        }
    }
    if w.suite.cluster.service(&o.service).await?.is_none() {
        missing.push(format!("Service/{}", o.service));
    }
    ensure_that!(
        missing.is_empty(),
        "the investigation is half-created: missing {}",
        missing.join(", ")
    );
    Ok(())
}

#[given("the Focus Server pod is Running without restarts")]
#[given("ה-Pod של Focus Server במצב Running ללא הפעלות מחדש")]
async fn server_pod_healthy(w: &mut FocusWorld) -> Step {
    let pods = w
        .suite
        .cluster
        .wait_focus_server_running(w.suite.config.profile.deadlines.pod_running)
        .await?;
    let restarted: Vec<_> = pods.iter().filter(|p| p.restarts > 0).collect();
    ensure_that!(
        restarted.is_empty(),
        "Focus Server pods restarted: {restarted:?}"
    );
    w.server_pods = pods;
    Ok(())
}

#[given("the environment holds no investigation but ours, or reports the others when it is shared")]
#[given("בסביבה אין חקירה מלבד שלנו, או שהאחרות מדווחות כשהיא משותפת")]
async fn clean_or_reported(w: &mut FocusWorld) -> Step {
    let objects = w.suite.cluster.investigation_object_uids().await?;
    let ledger = &w.suite.ledger;
    w.foreign = objects
        .into_iter()
        .filter(|(name, _)| {
            let id = name
                .split_once('/')
                .and_then(|(_, n)| crate::target::kube::job_id_of(n));
            !id.is_some_and(|id| ledger.owns(id))
        })
        .collect();
    let foreign: Vec<&String> = w.foreign.keys().collect();
    if foreign.is_empty() {
        return Ok(());
    }
    if w.suite.config.profile.exclusive {
        return Err(anyhow::anyhow!(
            "the environment is exclusive to this run but is not clean: foreign investigations {}",
            list(&foreign)
        )
        .into());
    }
    eprintln!(
        "focus-scope: {}: shared environment, foreign investigations present (not ours, must stay untouched): {}",
        w.scenario_id,
        list(&foreign)
    );
    Ok(())
}

fn list(names: &[&String]) -> String {
    names
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[then("the investigations of others present before are untouched")]
#[then("החקירות של אחרים שהיו בסביבה קודם לא נפגעו")]
async fn others_untouched(w: &mut FocusWorld) -> Step {
    let now = w.suite.cluster.investigation_object_uids().await?;
    let touched = crate::spec::investigation::touched_objects(&w.foreign, &now);
    ensure_that!(
        touched.is_empty(),
        "investigations of others were touched during the scenario: {}",
        touched.join("; ")
    );
    Ok(())
}

#[when("the system is churned for the soak duration")]
#[when("המערכת עוברת פתיחות וביטולים לאורך משך ה-soak")]
async fn churn(w: &mut FocusWorld) -> Step {
    let l = w.suite.config.profile.limits.clone();
    if w.server_pods.is_empty() {
        w.server_pods = w.suite.cluster.focus_server_pods().await?;
    }
    let r = w
        .suite
        .churn(&w.scenario, l.soak_duration, l.soak_workers)
        .await?;
    eprintln!(
        "focus-scope: {}: churned {} investigations in {:?}, {} errors, configure p99 {} ms, {} distinct ports",
        w.scenario_id,
        r.opened.len(),
        r.duration,
        r.errors.len(),
        r.p99(),
        r.ports.len()
    );
    w.churn = Some(r);
    Ok(())
}

fn churned(w: &FocusWorld) -> anyhow::Result<&crate::spec::soak::ChurnReport> {
    w.churn
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("the system was not churned in this scenario"))
}

#[then("no request failed during the churn")]
#[then("אף בקשה לא נכשלה במהלך הפתיחות והביטולים")]
async fn churn_no_errors(w: &mut FocusWorld) -> Step {
    let r = churned(w)?;
    ensure_that!(!r.opened.is_empty(), "the churn opened no investigation");
    ensure_that!(
        r.errors.is_empty(),
        "{} of {} churn requests failed; first: {}",
        r.errors.len(),
        r.latencies.len(),
        r.errors.first().cloned().unwrap_or_default()
    );
    Ok(())
}

#[then("configure latency did not drift")]
#[then("השהיית configure לא נסחפה")]
async fn churn_no_drift(w: &mut FocusWorld) -> Step {
    let r = churned(w)?;
    let t = &w.suite.config.profile.thresholds;
    let (first, last) = r.drift();
    // Coarse: relative to the first window, with the absolute SLO as a floor.
    let bound = first.mul_f64(t.latency_drift_factor).max(t.configure_p99);
    ensure_that!(
        last <= bound,
        "configure latency drifted: p99 {last:?} in the last window, {first:?} in the first (bound {bound:?})"
    );
    Ok(())
}

#[then("freed stream ports were reused")]
#[then("פורטי זרם שהתפנו שימשו מחדש")]
async fn churn_ports_reused(w: &mut FocusWorld) -> Step {
    let r = churned(w)?;
    let workers = w.suite.config.profile.limits.soak_workers;
    // Each worker holds at most one investigation at a time; allow for the
    // moments a cancel is still completing.
    r.ports_reused(workers * 2)
        .map_err(|e| anyhow::anyhow!("{e} ({workers} clients)"))?;
    Ok(())
}

#[then("nothing the churn opened remains")]
#[then("לא נותר דבר ממה שנפתח בפתיחות והביטולים")]
async fn churn_nothing_left(w: &mut FocusWorld) -> Step {
    let r = churned(w)?;
    let left: Vec<String> = w
        .suite
        .cluster
        .investigation_ids()
        .await?
        .into_iter()
        .filter(|id| r.opened.contains(id))
        .collect();
    ensure_that!(
        left.is_empty(),
        "churned investigations remain: {}",
        left.join(", ")
    );
    Ok(())
}

#[then("the Focus Server pod did not restart")]
#[then("ה-Pod של Focus Server לא הופעל מחדש")]
async fn server_not_restarted(w: &mut FocusWorld) -> Step {
    let now = w.suite.cluster.focus_server_pods().await?;
    let before = &w.server_pods;
    let same = |a: &crate::target::kube::ServerPod| {
        before
            .iter()
            .any(|b| b.uid == a.uid && b.restarts == a.restarts)
    };
    ensure_that!(
        !before.is_empty() && now.iter().all(same) && now.len() == before.len(),
        "Focus Server restarted during the run: before {before:?}, now {now:?}"
    );
    Ok(())
}
