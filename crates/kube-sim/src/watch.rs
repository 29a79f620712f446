//! Watch streams: initial ADDED events or history replay, live changes filtered by
//! resource type, namespace and selectors (with ADDED/DELETED on selector transitions),
//! bookmarks, `timeoutSeconds`, 410 Expired as an in-stream ERROR, and closing lagging
//! watchers so the client re-lists.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch as tokio_watch};

use crate::resources::ResourceType;
use crate::selector::Selectors;
use crate::status::ApiError;
use crate::store::{EventType, Store, StoreEvent};

/// What a watch asks for.
#[derive(Debug, Clone)]
pub struct WatchParams {
    pub rt: ResourceType,
    pub namespace: Option<String>,
    pub selectors: Selectors,
    pub resource_version: Option<u64>,
    pub timeout: Duration,
    pub bookmarks: bool,
    pub bookmark_interval: Duration,
    /// `sendInitialEvents=true`: ADDED for current objects, then the initial-events-end bookmark.
    pub send_initial_events: bool,
}

fn line(ty: &str, object: &Value) -> Bytes {
    let mut s = json!({"type": ty, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

fn bookmark(rt: &ResourceType, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    line(
        "BOOKMARK",
        &json!({"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": meta}),
    )
}

/// Decide what (if anything) a watcher sees for one store event.
pub fn translate(p: &WatchParams, e: &StoreEvent) -> Option<(&'static str, Arc<Value>)> {
    if e.rt != p.rt {
        return None;
    }
    if let Some(ns) = &p.namespace
        && *ns != e.namespace
    {
        return None;
    }
    let now = p.selectors.matches(&e.object);
    let before = e
        .old
        .as_ref()
        .map(|o| p.selectors.matches(o))
        .unwrap_or(false);
    match e.kind {
        EventType::Added => now.then_some(("ADDED", e.object.clone())),
        EventType::Deleted => (now || before).then_some(("DELETED", e.object.clone())),
        EventType::Modified => match (before, now) {
            (true, true) => Some(("MODIFIED", e.object.clone())),
            (false, true) => Some(("ADDED", e.object.clone())),
            (true, false) => Some(("DELETED", e.object.clone())),
            (false, false) => None,
        },
    }
}

/// The newline-delimited JSON event stream of one watch.
pub fn stream(
    store: Arc<Store>,
    p: WatchParams,
    mut shutdown: tokio_watch::Receiver<bool>,
) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static {
    async_stream::stream! {
        let from = if p.send_initial_events { None } else { p.resource_version };
        let start = match store.watch_start(&p.rt, p.namespace.as_deref(), from) {
            Ok(s) => s,
            Err(e @ ApiError::Expired { .. }) => {
                yield Ok(line("ERROR", &e.to_status()));
                return;
            }
            Err(e) => {
                yield Ok(line("ERROR", &e.to_status()));
                return;
            }
        };
        let mut rx = start.rx;
        let mut seen = start.start_rv;
        for o in &start.initial {
            if p.selectors.matches(o) {
                yield Ok(line("ADDED", o));
            }
        }
        if p.send_initial_events {
            yield Ok(bookmark(&p.rt, seen, true));
        }
        for e in &start.replay {
            seen = seen.max(e.rv);
            if let Some((ty, o)) = translate(&p, e) {
                yield Ok(line(ty, &o));
            }
        }
        let deadline = tokio::time::sleep(p.timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(p.bookmark_interval.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.reset();
        loop {
            tokio::select! {
                r = rx.recv() => match r {
                    Ok(e) => {
                        if e.rv <= seen {
                            continue;
                        }
                        seen = e.rv;
                        if let Some((ty, o)) = translate(&p, &e) {
                            yield Ok(line(ty, &o));
                        }
                    }
                    // A lagging watcher is closed, never silently skipped: the client re-lists.
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = tick.tick(), if p.bookmarks => {
                    yield Ok(bookmark(&p.rt, seen, false));
                }
                _ = &mut deadline => {
                    if p.bookmarks {
                        yield Ok(bookmark(&p.rt, seen, false));
                    }
                    break;
                }
                _ = shutdown.changed() => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::PODS;
    use crate::selector::LabelSelector;

    fn ev(kind: EventType, new: Value, old: Option<Value>) -> StoreEvent {
        StoreEvent {
            rv: 1,
            rt: PODS,
            namespace: "ns".into(),
            name: "p".into(),
            kind,
            object: Arc::new(new),
            old: old.map(Arc::new),
        }
    }

    #[test]
    fn selector_transitions() {
        let p = WatchParams {
            rt: PODS,
            namespace: Some("ns".into()),
            selectors: Selectors {
                labels: LabelSelector::parse("a=1").expect("sel"),
                ..Default::default()
            },
            resource_version: None,
            timeout: Duration::from_secs(1),
            bookmarks: false,
            bookmark_interval: Duration::from_secs(1),
            send_initial_events: false,
        };
        let yes = json!({"metadata": {"labels": {"a": "1"}}});
        let no = json!({"metadata": {"labels": {"a": "2"}}});
        let t = |e: StoreEvent| translate(&p, &e).map(|(t, _)| t);
        assert_eq!(
            t(ev(EventType::Modified, yes.clone(), Some(no.clone()))),
            Some("ADDED")
        );
        assert_eq!(
            t(ev(EventType::Modified, no.clone(), Some(yes.clone()))),
            Some("DELETED")
        );
        assert_eq!(
            t(ev(EventType::Modified, yes.clone(), Some(yes.clone()))),
            Some("MODIFIED")
        );
        assert_eq!(
            t(ev(EventType::Modified, no.clone(), Some(no.clone()))),
            None
        );
        assert_eq!(t(ev(EventType::Added, no, None)), None);
    }
}
