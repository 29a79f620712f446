//! Stream port and stream address steps: allocation, uniqueness, reuse, the node
//! address in the stream URL, and TCP reachability (no bytes sent).

use cucumber::{given, then, when};

use crate::ensure_that;
use crate::spec::investigation::{ConfigureRequest, STREAM_PORT_BASE};
use crate::target::net;
use crate::world::{FocusWorld, Step};

#[when("two live investigations are opened")]
#[when("נפתחות שתי חקירות חיות")]
async fn open_two(w: &mut FocusWorld) -> Step {
    for _ in 0..2 {
        let resp = w.open(ConfigureRequest::live()).await?;
        ensure_that!(
            resp.status == 200,
            "a valid live configure was not accepted: {}",
            resp.describe()
        );
    }
    Ok(())
}

#[then("their stream ports differ")]
#[then("פורטי הזרם שלהן שונים")]
async fn ports_differ(w: &mut FocusWorld) -> Step {
    let ports: Vec<u16> = w.opened.iter().map(|o| o.stream_port).collect();
    let mut distinct = ports.clone();
    distinct.sort_unstable();
    distinct.dedup();
    ensure_that!(
        ports.len() >= 2 && distinct.len() == ports.len(),
        "investigations share stream ports: {ports:?}"
    );
    Ok(())
}

#[then("each investigation's Service exposes its stream port as its node port")]
#[then("ה-Service של כל חקירה חושף את פורט הזרם שלה כ-NodePort שלו")]
async fn each_service_node_port(w: &mut FocusWorld) -> Step {
    for o in &w.opened {
        let name = o.objects().service;
        let ports = w.suite.cluster.service_node_ports(&name).await?;
        ensure_that!(
            ports == Some(vec![i32::from(o.stream_port)]),
            "Service {name} exposes node ports {ports:?}, its stream_port is {}",
            o.stream_port
        );
    }
    Ok(())
}

/// The port of a slot is `STREAM_PORT_BASE` (12300) plus the slot; the slot is the
/// first part of the job id (`<slot>-<seq>`).
#[then("the stream port is the port of the slot in its job id")]
#[then("פורט הזרם הוא הפורט של ה-slot שב-job id שלה")]
async fn port_is_slot_based(w: &mut FocusWorld) -> Step {
    let o = w.current()?;
    let slot: u16 = o
        .job_id
        .split_once('-')
        .and_then(|(slot, _)| slot.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("job_id `{}` is not `<slot>-<seq>`", o.job_id))?;
    ensure_that!(
        o.stream_port == STREAM_PORT_BASE + slot,
        "job {} (slot {slot}) got stream port {}, expected {}",
        o.job_id,
        o.stream_port,
        STREAM_PORT_BASE + slot
    );
    Ok(())
}

#[then("it has the stream port of the cancelled investigation")]
#[then("יש לה את פורט הזרם של החקירה שבוטלה")]
async fn port_reused(w: &mut FocusWorld) -> Step {
    let freed = w.last_cancelled()?.stream_port;
    let now = w.current()?.stream_port;
    ensure_that!(
        now == freed,
        "the freed stream port {freed} was not reused: got {now}"
    );
    Ok(())
}

#[given("the environment's configured addresses resolve and answer")]
#[given("הכתובות המוגדרות של הסביבה נפתרות ועונות")]
async fn addresses_answer(w: &mut FocusWorld) -> Step {
    w.suite.preflight_addresses().await?;
    Ok(())
}

#[then("the stream URL is http:// and the IP address of a Ready node")]
#[then("ה-stream URL הוא http:// וכתובת ה-IP של Node במצב Ready")]
async fn stream_url_is_node(w: &mut FocusWorld) -> Step {
    let ip = net::stream_url_ip(&w.current()?.stream_url)?;
    let nodes = w.suite.cluster.ready_node_addresses().await?;
    ensure_that!(
        nodes.iter().any(|a| a.parse().ok() == Some(ip)),
        "stream address {ip} is not the InternalIP/ExternalIP of a Ready node ({nodes:?})"
    );
    Ok(())
}

#[then("the stream port accepts TCP connections at the stream address within the deadline")]
#[then("פורט הזרם מקבל חיבורי TCP בכתובת הזרם בתוך זמן היעד")]
async fn stream_port_accepts(w: &mut FocusWorld) -> Step {
    let o = w.current()?;
    let ip = net::stream_url_ip(&o.stream_url)?;
    net::port_accepts_tcp(
        ip,
        o.stream_port,
        w.suite.config.profile.deadlines.port_reachable,
    )
    .await?;
    Ok(())
}
