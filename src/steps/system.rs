//! System behaviour steps: error scenarios driven by fault drivers (no live stream,
//! no historic data, a taken port), clean startup and long-running stability.

use cucumber::{given, then, when};

use crate::ensure_that;
use crate::faults::Fault;
use crate::investigation::ConfigureRequest;
use crate::world::{FocusWorld, Step};

/// First stream port minus one, and how many slots the contract's range has.
const STREAM_PORT_BASE: u16 = 12300;
const MAX_SLOTS: u16 = 200;

#[given("the live stream is disconnected")]
async fn fiber_off(w: &mut FocusWorld) -> Step {
    w.suite.set_fiber(false).await?;
    w.faults.push(Fault::FiberDisconnected);
    Ok(())
}

#[when("the live stream is reconnected")]
async fn fiber_on(w: &mut FocusWorld) -> Step {
    w.suite.set_fiber(true).await?;
    w.faults.retain(|f| *f != Fault::FiberDisconnected);
    Ok(())
}

#[given("the environment has no recordings")]
async fn no_recordings(w: &mut FocusWorld) -> Step {
    w.suite.set_recordings(&[]).await?;
    w.faults.push(Fault::RecordingsReplaced);
    Ok(())
}

#[when("a live investigation is requested")]
async fn request_live(w: &mut FocusWorld) -> Step {
    w.open(ConfigureRequest::live()).await?;
    Ok(())
}

#[when("a historic investigation is requested for the last day")]
async fn request_last_day(w: &mut FocusWorld) -> Step {
    let now = crate::availability::now();
    w.open(ConfigureRequest::historic(now - 86_400, now - 3_600))
        .await?;
    Ok(())
}

#[then("the live metadata says the live stream is unavailable")]
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
async fn hold_next_port(w: &mut FocusWorld) -> Step {
    let port = w
        .suite
        .cluster
        .next_free_stream_port(STREAM_PORT_BASE, MAX_SLOTS)
        .await?;
    let fault = w.suite.hold_node_port(&w.scenario, port).await?;
    w.faults.push(fault);
    Ok(())
}

#[then("the investigation did not get the held port")]
async fn not_the_held_port(w: &mut FocusWorld) -> Step {
    let held: Vec<u16> = w
        .faults
        .iter()
        .filter_map(|f| match f {
            Fault::PortHolder { port, .. } => Some(*port),
            _ => None,
        })
        .collect();
    let got = w.current()?.stream_port;
    ensure_that!(
        !held.contains(&got),
        "the investigation got stream port {got}, held by another Service"
    );
    Ok(())
}

#[then("the investigation's Jobs and Service all exist")]
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
