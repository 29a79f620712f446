//! Kubernetes-layer steps: the investigation's Job, pod and Service, by exact name.

use cucumber::{given, then, when};

use crate::ensure_that;
use crate::spec::footprint;
use crate::world::{FocusWorld, Step};

#[then("the response carries a job id, a stream port and a stream URL")]
#[then("התשובה מכילה job id, פורט זרם ו-stream URL")]
async fn response_identifies_investigation(w: &mut FocusWorld) -> Step {
    let o = w.current()?;
    ensure_that!(!o.job_id.trim().is_empty(), "job_id is empty");
    ensure_that!(o.stream_port > 0, "stream_port is 0");
    ensure_that!(
        o.stream_url.starts_with("http://") && o.stream_url.len() > "http://".len(),
        "stream_url `{}` is not an http:// address",
        o.stream_url
    );
    Ok(())
}

#[then("the investigation's Job exists under its exact name")]
#[then("ה-Job של החקירה קיים בשמו המדויק")]
async fn job_exists(w: &mut FocusWorld) -> Step {
    let name = w.current()?.objects().stream_job;
    let deadline = w.suite.config.profile.deadlines.object_appears;
    w.suite.cluster.wait_for_job(&name, deadline).await?;
    Ok(())
}

#[given("the investigation's pod is Running within the deadline")]
#[given("ה-Pod של החקירה במצב Running בתוך זמן היעד")]
#[then("the investigation's pod is Running within the deadline")]
#[then("ה-Pod של החקירה במצב Running בתוך זמן היעד")]
async fn pod_running(w: &mut FocusWorld) -> Step {
    w.suite
        .wait_investigation_running(&w.current()?.job_id)
        .await?;
    Ok(())
}

#[then("the investigation's Service exposes the stream port as its node port")]
#[then("ה-Service של החקירה חושף את פורט הזרם כ-NodePort שלו")]
async fn service_node_port(w: &mut FocusWorld) -> Step {
    let o = w.current()?;
    let name = o.objects().service;
    let Some(node_ports) = w.suite.cluster.service_node_ports(&name).await? else {
        return Err(anyhow::anyhow!("Service {name} does not exist").into());
    };
    ensure_that!(
        node_ports == vec![i32::from(o.stream_port)],
        "Service {name} exposes node ports {node_ports:?}, the response's stream_port is {}",
        o.stream_port
    );
    Ok(())
}

/// Fails with every violation a footprint check found.
fn no_violations(v: Vec<String>) -> Step {
    ensure_that!(v.is_empty(), "{}", v.join("; "));
    Ok(())
}

impl FocusWorld {
    /// The current investigation's stream Job, which must exist.
    async fn stream_job(&self) -> anyhow::Result<k8s_openapi::api::batch::v1::Job> {
        let name = self.current()?.objects().stream_job;
        let deadline = self.suite.config.profile.deadlines.object_appears;
        Ok(self.suite.cluster.wait_for_job(&name, deadline).await?)
    }
}

#[then("the investigation's Jobs have the required restart and retention policy")]
#[then("ל-Jobs של החקירה יש מדיניות ה-restart והשמירה הנדרשת")]
async fn jobs_policy(w: &mut FocusWorld) -> Step {
    let o = w.current()?.objects();
    let deadline = w.suite.config.profile.deadlines.object_appears;
    let stream = w
        .suite
        .cluster
        .wait_for_job(&o.stream_job, deadline)
        .await?;
    let cleanup = w
        .suite
        .cluster
        .wait_for_job(&o.cleanup_job, deadline)
        .await?;
    let mut v = footprint::job_policy(&stream, 0, 120);
    v.extend(footprint::job_policy(&cleanup, 0, 10));
    v.extend(footprint::stream_template(&stream));
    no_violations(v)
}

#[then("the investigation's pod belongs to its Job")]
#[then("ה-Pod של החקירה שייך ל-Job שלה")]
async fn pod_belongs(w: &mut FocusWorld) -> Step {
    let o = w.current()?;
    let job = o.objects().stream_job;
    let pod = w.suite.wait_investigation_running(&o.job_id).await?;
    no_violations(footprint::pod_belongs_to(&pod, &job))
}

#[then("the investigation's Job is active with no terminal condition")]
#[then("ה-Job של החקירה פעיל ללא מצב סופי")]
async fn job_active(w: &mut FocusWorld) -> Step {
    w.suite
        .wait_investigation_running(&w.current()?.job_id)
        .await?;
    let j = w.stream_job().await?;
    no_violations(footprint::job_active(&j))
}

#[when("the investigation's pod is deleted")]
#[when("ה-Pod של החקירה נמחק")]
async fn delete_own_pod(w: &mut FocusWorld) -> Step {
    let job = w.current()?.objects().stream_job;
    let pod = w
        .suite
        .cluster
        .wait_pod_running(&job, w.suite.config.profile.deadlines.pod_running)
        .await?;
    w.suite
        .cluster
        .delete_pod(pod.metadata.name.as_deref().unwrap_or_default())
        .await?;
    Ok(())
}

#[then(regex = r#"^the investigation's Job fails with reason "([A-Za-z]+)" within the deadline$"#)]
#[then(regex = r#"^ה-Job של החקירה נכשל עם הסיבה "([A-Za-z]+)" בתוך זמן היעד$"#)]
async fn job_fails(w: &mut FocusWorld, reason: String) -> Step {
    let job = w.current()?.objects().stream_job;
    let deadline = w.suite.config.profile.deadlines.pod_running;
    let j = w
        .suite
        .cluster
        .wait_job_condition(&job, "Failed", deadline)
        .await?;
    let failed: Vec<_> = crate::target::kube::true_conditions(&j)
        .into_iter()
        .filter(|(t, _)| t == "Failed")
        .collect();
    ensure_that!(
        failed.iter().any(|(_, r)| *r == reason),
        "Job {job} failed with {failed:?}, expected reason {reason}"
    );
    Ok(())
}

#[then("the investigation requests and is limited to exactly one GPU slice")]
#[then("החקירה מבקשת פרוסת GPU אחת בדיוק ומוגבלת לה")]
async fn one_gpu_slice(w: &mut FocusWorld) -> Step {
    no_violations(footprint::gpu_slice(&w.stream_job().await?))
}

#[then("the investigation has a memory request and limit")]
#[then("לחקירה יש בקשת זיכרון ומגבלת זיכרון")]
async fn memory_set(w: &mut FocusWorld) -> Step {
    let (request, limit) = w.suite.config.expected_memory()?;
    no_violations(footprint::memory(&w.stream_job().await?, &request, &limit))
}

#[then("the investigation mounts the recordings storage")]
#[then("החקירה מחברת את אחסון ההקלטות")]
async fn storage_mounted(w: &mut FocusWorld) -> Step {
    let expected = w.suite.config.expected_recordings_volume()?;
    no_violations(footprint::recordings_storage(
        &w.stream_job().await?,
        &expected,
    ))
}

#[given(regex = r"^the next investigation's pod is made to fail by (crash|oom|image-pull)$")]
#[given(regex = r"^ה-Pod של החקירה הבאה ייכשל עקב (crash|oom|image-pull)$")]
async fn fail_next_pod(w: &mut FocusWorld, kind: String) -> Step {
    let fault = w.suite.faults().fail_next_pod(&w.scenario, &kind).await?;
    w.inject(fault)?;
    Ok(())
}

#[given("the next investigation's idle time is shortened where the fault driver allows it")]
#[given("זמן חוסר הפעילות של החקירה הבאה מקוצר היכן שמנגנון התקלות מאפשר זאת")]
async fn shorten_next_idle(w: &mut FocusWorld) -> Step {
    if let Some((fault, deadline)) = w.suite.faults().shorten_next_idle(&w.scenario).await? {
        w.inject(fault)?;
        w.idle_removal = Some(deadline);
    }
    Ok(())
}

#[then(
    regex = r"^the investigation's pod reports ([A-Za-z]+(?: or [A-Za-z]+)*) within the deadline$"
)]
#[then(regex = r"^ה-Pod של החקירה מדווח ([A-Za-z]+(?: or [A-Za-z]+)*) בתוך זמן היעד$")]
async fn pod_reports(w: &mut FocusWorld, reasons: String) -> Step {
    let job = w.current()?.objects().stream_job;
    let wanted: Vec<&str> = reasons.split(" or ").map(str::trim).collect();
    let deadline = w.suite.config.profile.deadlines.pod_running;
    w.suite
        .cluster
        .wait_pod_reason(&job, &wanted, deadline)
        .await?;
    Ok(())
}

#[then("with no client connected, its cleanup Job succeeds within the idle deadline")]
#[then("כשאף לקוח אינו מחובר, ה-cleanup job שלה מסתיים בהצלחה בתוך זמן היעד להסרה בחוסר פעילות")]
async fn cleanup_job_succeeds(w: &mut FocusWorld) -> Step {
    let shortened = w.idle_removal;
    w.suite
        .wait_cleanup_job_completes(&w.current()?.job_id, shortened)
        .await?;
    Ok(())
}

#[then("with no client connected, none of its objects remain within the idle deadline")]
#[then("כשאף לקוח אינו מחובר, לא נותר אף אחד מהאובייקטים שלה בתוך זמן היעד להסרה בחוסר פעילות")]
async fn idle_removed(w: &mut FocusWorld) -> Step {
    let shortened = w.idle_removal;
    w.suite
        .wait_idle_removal(&w.current()?.job_id, shortened)
        .await?;
    Ok(())
}
