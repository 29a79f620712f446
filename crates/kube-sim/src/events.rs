//! Recording core/v1 Events the way upstream components do (deduplicated by count).

use rand::Rng;
use serde_json::{Value, json};

use crate::resources::EVENTS;
use crate::store::Store;

/// Who reports an event.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub component: &'a str,
    pub host: Option<&'a str>,
}

pub const SCHEDULER: Source<'static> = Source {
    component: "default-scheduler",
    host: None,
};
pub const JOB_CONTROLLER: Source<'static> = Source {
    component: "job-controller",
    host: None,
};
pub const DEPLOYMENT_CONTROLLER: Source<'static> = Source {
    component: "deployment-controller",
    host: None,
};

/// Record an event about `involved` (any stored object). Same object, reason, type and
/// message as an existing event → its `count` goes up instead.
pub fn record(
    store: &Store,
    involved: &Value,
    ty: &str,
    reason: &str,
    message: &str,
    source: Source<'_>,
) {
    let meta = &involved["metadata"];
    let name = meta["name"].as_str().unwrap_or("");
    let uid = meta["uid"].as_str().unwrap_or("");
    let ns = meta["namespace"].as_str().unwrap_or("default");
    let now = store.clock().now_rfc3339();
    let existing = store.read(|v| {
        v.list(&EVENTS, Some(ns))
            .into_iter()
            .find(|e| {
                e["involvedObject"]["uid"].as_str() == Some(uid)
                    && e["reason"].as_str() == Some(reason)
                    && e["message"].as_str() == Some(message)
                    && e["type"].as_str() == Some(ty)
                    && e["source"]["component"].as_str() == Some(source.component)
            })
            .and_then(|e| e["metadata"]["name"].as_str().map(String::from))
    });
    if let Some(ev_name) = existing {
        let now2 = now.clone();
        let res = store.update(&EVENTS, ns, &ev_name, false, move |_, e| {
            let count = e["count"].as_i64().unwrap_or(1);
            e["count"] = json!(count + 1);
            e["lastTimestamp"] = json!(now2);
            Ok(())
        });
        if res.is_ok() {
            return;
        }
    }
    let suffix: u64 = rand::rng().random();
    let mut source_json = json!({"component": source.component});
    if let Some(h) = source.host {
        source_json["host"] = json!(h);
    }
    let mut involved_ref = json!({
        "kind": involved["kind"],
        "name": name,
        "uid": uid,
        "apiVersion": involved["apiVersion"],
        "resourceVersion": meta["resourceVersion"],
    });
    if let Some(n) = meta["namespace"].as_str() {
        involved_ref["namespace"] = json!(n);
    }
    let event = json!({
        "metadata": {"name": format!("{name}.{suffix:016x}")},
        "involvedObject": involved_ref,
        "reason": reason,
        "message": message,
        "type": ty,
        "source": source_json,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "eventTime": null,
        "reportingComponent": source.component,
        "reportingInstance": source.host.unwrap_or(""),
    });
    if let Err(e) = store.create(&EVENTS, ns, event, false, |_, _| Ok(())) {
        tracing::debug!(error = %e, "event not recorded");
    }
}
