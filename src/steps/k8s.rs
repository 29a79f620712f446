//! Kubernetes-layer steps: the investigation's Job, pod and Service, by exact name.

use cucumber::then;

use crate::ensure_that;
use crate::world::{FocusWorld, Step};

#[then("the response carries a job id, a stream port and a stream URL")]
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
async fn job_exists(w: &mut FocusWorld) -> Step {
    let name = w.current()?.objects().stream_job;
    let deadline = w.suite.config.profile.deadlines.object_appears;
    w.suite.cluster.wait_for_job(&name, deadline).await?;
    Ok(())
}

#[then("the investigation's pod is Running within the deadline")]
async fn pod_running(w: &mut FocusWorld) -> Step {
    let name = w.current()?.objects().stream_job;
    let deadline = w.suite.config.profile.deadlines.pod_running;
    w.suite.cluster.wait_pod_running(&name, deadline).await?;
    Ok(())
}

#[then("the investigation's Service exposes the stream port as its node port")]
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
