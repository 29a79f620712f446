//! Recording core/v1 Events the way upstream components do (deduplicated by count).

use std::collections::HashMap;
use std::sync::Mutex;

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

/// Records events, remembering each (object, reason, type, source, message) so a
/// repeat bumps `count` instead of scanning every event.
#[derive(Debug, Default)]
pub struct Recorder {
    index: Mutex<HashMap<String, (String, String)>>,
}

impl Recorder {
    fn lookup(&self, key: &str) -> Option<(String, String)> {
        self.index
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    fn remember(&self, key: String, at: Option<(String, String)>) {
        let mut idx = self.index.lock().unwrap_or_else(|p| p.into_inner());
        match at {
            Some(v) => {
                idx.insert(key, v);
            }
            None => {
                idx.remove(&key);
            }
        }
    }

    /// Record an event about `involved` (any stored object). Same object, reason, type,
    /// source and message as an earlier event → its `count` goes up instead.
    pub fn record(
        &self,
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
        let key = format!(
            "{uid}\u{0}{reason}\u{0}{ty}\u{0}{}\u{0}{message}",
            source.component
        );
        if let Some((ens, ename)) = self.lookup(&key) {
            let now2 = now.clone();
            let res = store.update(&EVENTS, &ens, &ename, false, move |_, e| {
                let count = e["count"].as_i64().unwrap_or(1);
                e["count"] = json!(count + 1);
                e["lastTimestamp"] = json!(now2);
                Ok(())
            });
            if res.is_ok() {
                return;
            }
            self.remember(key.clone(), None);
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
        let ev_name = format!("{name}.{suffix:016x}");
        let event = json!({
            "metadata": {"name": ev_name},
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
        match store.create(&EVENTS, ns, event, false, |_, _| Ok(())) {
            Ok(_) => self.remember(key, Some((ns.to_string(), ev_name))),
            Err(e) => tracing::debug!(error = %e, "event not recorded"),
        }
    }
}
