//! Limits steps: the 200-investigation requirement, latency SLOs, concurrent clients,
//! stream port exhaustion. The measured ceiling is reported, never hidden.

use cucumber::{given, then, when};

use crate::ensure_that;
use crate::spec::capacity::CapacityReport;
use crate::spec::metrics::summarize;
use crate::target::kube::EventSubject;
use crate::world::{FocusWorld, Step};

#[when("the required number of live investigations is opened in parallel")]
#[when("נפתחות במקביל חקירות חיות במספר הנדרש")]
async fn open_required(w: &mut FocusWorld) -> Step {
    let l = w.suite.config.profile.limits.clone();
    run_batch(w, l.parallel_investigations, l.client_concurrency).await
}

#[when("as many live investigations as the latency sample size are opened")]
#[when("נפתחות חקירות חיות כגודל מדגם ההשהיה")]
async fn open_latency_sample(w: &mut FocusWorld) -> Step {
    let l = w.suite.config.profile.limits.clone();
    run_batch(w, l.latency_samples, l.client_concurrency).await
}

async fn run_batch(w: &mut FocusWorld, n: usize, concurrency: usize) -> Step {
    let report = w.suite.open_many(&w.scenario, n, concurrency).await?;
    w.opened.extend(report.opened.iter().cloned());
    tracing::info!(
        scenario = %w.scenario_id,
        "opened {} of {n}, {} reachable, {} refused, in {:?}; {} Kubernetes requests ({:.2} per investigation)",
        report.opened.len(),
        report.ceiling(),
        report.refused.len(),
        report.elapsed,
        report.k8s_requests,
        report.k8s_requests as f64 / n.max(1) as f64
    );
    w.capacity = Some(report);
    Ok(())
}

fn report(w: &FocusWorld) -> anyhow::Result<&CapacityReport> {
    w.capacity
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no batch of investigations was opened in this scenario"))
}

#[then("every one of them is Running with a reachable stream port")]
#[then("כל אחת מהן במצב Running עם פורט זרם נגיש")]
async fn all_reachable(w: &mut FocusWorld) -> Step {
    let r = report(w)?;
    if r.ceiling() < r.wanted {
        let reason = r.first_reason(&w.suite.cluster).await;
        return Err(anyhow::anyhow!("reached {} of {}: {reason}", r.ceiling(), r.wanted).into());
    }
    Ok(())
}

#[then("their job ids and stream ports are all distinct")]
#[then("ה-job ids ופורטי הזרם שלהן שונים כולם")]
async fn all_distinct(w: &mut FocusWorld) -> Step {
    let r = report(w)?;
    ensure_that!(
        r.distinct_ports(),
        "investigations share job ids or stream ports"
    );
    Ok(())
}

#[then("the configure latency p99 is within the profile's bound")]
#[then("ה-p99 של השהיית configure בתוך הגבול של הפרופיל")]
async fn configure_p99(w: &mut FocusWorld) -> Step {
    let bound = w.suite.config.profile.thresholds.configure_p99;
    let s = summarize(&report(w)?.configure);
    let within_bound = s.count > 0 && s.p99_ms <= bound.as_secs_f64() * 1000.0;
    ensure_that!(
        within_bound,
        "configure latency p99 {} ms over {} samples exceeds the bound {:?}",
        s.p99_ms,
        s.count,
        bound
    );
    Ok(())
}

#[then("the pod start p99 is within the profile's bound")]
#[then("ה-p99 של עליית ה-Pod בתוך הגבול של הפרופיל")]
async fn pod_start_p99(w: &mut FocusWorld) -> Step {
    let bound = w.suite.config.profile.thresholds.pod_start_p99;
    let r = report(w)?;
    ensure_that!(
        r.stuck.is_empty(),
        "pod start p99 exceeds the bound {bound:?}: {} of {} pods did not start ({})",
        r.stuck.len(),
        r.opened.len(),
        r.stuck.values().next().cloned().unwrap_or_default()
    );
    let s = summarize(&r.pod_start);
    let within_bound = s.p99_ms <= bound.as_secs_f64() * 1000.0;
    ensure_that!(
        within_bound,
        "pod start p99 {} ms over {} samples exceeds the bound {bound:?}",
        s.p99_ms,
        s.count
    );
    Ok(())
}

#[when("the configured number of clients each open a live investigation at the same moment")]
#[when("כל אחד מהלקוחות, במספר המוגדר, פותח חקירה חיה באותו רגע")]
async fn concurrent_clients(w: &mut FocusWorld) -> Step {
    let n = w.suite.config.profile.limits.concurrent_clients;
    // Everyone at once: the client concurrency is the number of clients.
    run_batch(w, n, n).await
}

#[then("every client's investigation was accepted")]
#[then("החקירה של כל לקוח התקבלה")]
async fn all_accepted(w: &mut FocusWorld) -> Step {
    let r = report(w)?;
    ensure_that!(
        r.refused.is_empty(),
        "{} of {} concurrent configures were refused; first: {}",
        r.refused.len(),
        r.wanted,
        r.refused.first().map(|x| x.describe()).unwrap_or_default()
    );
    Ok(())
}

#[given("every free stream port is held by another Service")]
#[given("כל פורט זרם פנוי מוחזק על ידי Service אחר")]
async fn hold_all_ports(w: &mut FocusWorld) -> Step {
    // Each holder is read back by hold_node_port; the loop ends when the cluster
    // shows every slot taken (a failing list fails the step).
    while let Some(port) = w.suite.next_free_stream_port().await? {
        let fault = w.suite.faults().hold_node_port(&w.scenario, port).await?;
        w.inject(fault)?;
    }
    crate::spec::premise::require(!w.held_ports().is_empty(), || {
        "no stream port was free to hold".into()
    })?;
    Ok(())
}

#[given("a ResourceQuota leaves no room for another GPU slice")]
#[given("ResourceQuota לא משאירה מקום לפרוסת GPU נוספת")]
async fn quota_full(w: &mut FocusWorld) -> Step {
    let fault = w.suite.faults().quota_no_more_gpu(&w.scenario).await?;
    w.inject(fault)?;
    Ok(())
}

#[given("every free GPU slice is taken")]
#[given("כל פרוסות ה-GPU הפנויות תפוסות")]
async fn gpu_taken(w: &mut FocusWorld) -> Step {
    let fault = w.suite.faults().fill_gpu_slices(&w.scenario).await?;
    w.inject(fault)?;
    Ok(())
}

#[then("the investigation is refused clearly, by the API or by its Job naming the quota")]
#[then("החקירה מסורבת בבירור, על ידי ה-API או על ידי ה-Job שלה בציון ה-quota")]
async fn refused_by_quota(w: &mut FocusWorld) -> Step {
    let resp = w.last_response()?;
    if resp.status == 503 {
        let words = w.suite.config.quota_refusal_words()?;
        crate::spec::capacity::refused_for_quota(resp, &words).map_err(anyhow::Error::msg)?;
        return Ok(());
    }
    ensure_that!(
        resp.status == 200,
        "expected 503 from the API or an accepted configure whose Job reports the quota: {}",
        resp.describe()
    );
    let job = w.current()?.objects().stream_job;
    let deadline = w.suite.config.profile.deadlines.pod_running;
    let message = w
        .suite
        .cluster
        .wait_event(EventSubject::Job(&job), "FailedCreate", deadline)
        .await?;
    ensure_that!(
        message.contains("exceeded quota") && message.contains("focus-scope-no-more-gpu"),
        "Job {job} reports FailedCreate without naming the quota: {message}"
    );
    Ok(())
}

#[then("the investigation's pod reports FailedScheduling naming the GPU slice within the deadline")]
#[then("ה-Pod של החקירה מדווח FailedScheduling בציון פרוסת ה-GPU בתוך זמן היעד")]
async fn failed_scheduling(w: &mut FocusWorld) -> Step {
    scheduler_says(w, crate::target::names::GPU_SLICE).await
}

#[given("every node is cordoned")]
#[given("כל ה-Nodes עברו cordon")]
async fn cordon_all(w: &mut FocusWorld) -> Step {
    let fault = w.suite.faults().cordon_every_node(&w.scenario).await?;
    w.inject(fault)?;
    Ok(())
}

#[then(
    "the investigation's pod reports FailedScheduling naming unschedulable nodes within the deadline"
)]
#[then("ה-Pod של החקירה מדווח FailedScheduling בציון Nodes שאינם ניתנים לתזמון בתוך זמן היעד")]
async fn failed_scheduling_cordoned(w: &mut FocusWorld) -> Step {
    scheduler_says(w, "unschedulable").await
}

#[given("no pod IP address is left on any node")]
#[given("לא נותרה כתובת IP ל-Pods באף Node")]
async fn exhaust_pod_network(w: &mut FocusWorld) -> Step {
    let fault = w.suite.faults().exhaust_pod_network(&w.scenario).await?;
    w.inject(fault)?;
    Ok(())
}

#[then(
    "the investigation's pod reports FailedCreatePodSandBox naming no IP addresses within the deadline"
)]
#[then("ה-Pod של החקירה מדווח FailedCreatePodSandBox בציון שאין כתובות IP בתוך זמן היעד")]
async fn no_pod_ip(w: &mut FocusWorld) -> Step {
    pod_event_names(w, "FailedCreatePodSandBox", "no IP addresses available").await
}

/// The accepted investigation's pod reports FailedScheduling, within the pod deadline,
/// with a message naming `cause`.
async fn scheduler_says(w: &FocusWorld, cause: &str) -> Step {
    pod_event_names(w, "FailedScheduling", cause).await
}

/// The accepted investigation's pod reports an event of `reason`, within the pod
/// deadline, with a message naming `cause`.
async fn pod_event_names(w: &FocusWorld, reason: &str, cause: &str) -> Step {
    let resp = w.last_response()?;
    ensure_that!(
        resp.status == 200,
        "the configure was not accepted: {}",
        resp.describe()
    );
    let job = w.current()?.objects().stream_job;
    let deadline = w.suite.config.profile.deadlines.pod_running;
    let message = w
        .suite
        .cluster
        .wait_event(EventSubject::PodsOfJob(&job), reason, deadline)
        .await?;
    ensure_that!(
        message.contains(cause),
        "the pod of {job} reports {reason} without naming {cause}: {message}"
    );
    Ok(())
}

#[then("the earlier investigation is still Running")]
#[then("החקירה הקודמת עדיין במצב Running")]
async fn earlier_unaffected(w: &mut FocusWorld) -> Step {
    let first = w
        .opened
        .first()
        .ok_or_else(|| anyhow::anyhow!("no earlier investigation in this scenario"))?;
    let job = first.objects().stream_job;
    w.suite
        .cluster
        .wait_pod_running(&job, w.suite.config.profile.deadlines.pod_running)
        .await?;
    Ok(())
}
