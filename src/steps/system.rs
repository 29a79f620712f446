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
    let fault = w.suite.faults().cut_live_stream(&w.scenario).await?;
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
        .faults()
        .making(&w.scenario, &fault, w.suite.faults().set_fiber(false))
        .await?;
    w.inject(fault)?;
    let fault = Fault::RecordingsReplaced;
    w.suite
        .faults()
        .making(&w.scenario, &fault, w.suite.faults().set_recordings(&[]))
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
    Ok(w.suite.system().ensure_live_stream_unavailable().await?)
}

#[given("another Service holds the stream port the server would pick next")]
#[given("Service אחר מחזיק את פורט הזרם שהשרת היה בוחר בפעם הבאה")]
async fn hold_next_port(w: &mut FocusWorld) -> Step {
    let port = w.suite.next_free_stream_port().await?.ok_or_else(|| {
        crate::spec::premise::PremiseNotMet("every stream slot is taken: no port to hold".into())
    })?;
    let fault = w.suite.faults().hold_node_port(&w.scenario, port).await?;
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
    Ok(w.suite
        .system()
        .ensure_objects_exist(&w.current()?.objects())
        .await?)
}

#[given("the Focus Server pod is Running without restarts")]
#[given("ה-Pod של Focus Server במצב Running ללא הפעלות מחדש")]
async fn server_pod_healthy(w: &mut FocusWorld) -> Step {
    w.server_pods = w.suite.system().healthy_server_pods().await?;
    Ok(())
}

#[given("the environment holds no investigation but ours, or reports the others when it is shared")]
#[given("בסביבה אין חקירה מלבד שלנו, או שהאחרות מדווחות כשהיא משותפת")]
async fn clean_or_reported(w: &mut FocusWorld) -> Step {
    w.foreign = w
        .suite
        .system()
        .foreign_investigations(&w.scenario_id, |id| w.suite.ledger.owns(id))
        .await?;
    Ok(())
}

#[then("the investigations of others present before are untouched")]
#[then("החקירות של אחרים שהיו בסביבה קודם לא נפגעו")]
async fn others_untouched(w: &mut FocusWorld) -> Step {
    Ok(w.suite.system().ensure_untouched(&w.foreign).await?)
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
    tracing::info!(
        scenario = %w.scenario_id,
        "churned {} investigations in {:?}, {} errors, configure p99 {} ms, {} distinct ports",
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
