//! Watch streams: initial ADDED events or history replay, live changes filtered by
//! resource type, namespace and selectors (with ADDED/DELETED on selector transitions),
//! bookmarks (periodic, at the deadline, and one right after a resumed watch's replay),
//! `timeoutSeconds`, 410 Expired as an in-stream ERROR, and closing lagging
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
use crate::table;

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
    /// `Accept: …;as=PartialObjectMetadata`: send only metadata.
    pub metadata_only: bool,
    /// `Accept: …;as=Table` (`kubectl get -w`): send each object as a one-row Table.
    pub table: bool,
}

fn object_line(p: &WatchParams, ty: &str, object: &Value) -> Bytes {
    if p.table {
        let meta = json!({"resourceVersion": object["metadata"]["resourceVersion"]});
        let now = jiff::Timestamp::now();
        line(ty, &table::table(&p.rt, &[object], meta, now))
    } else if p.metadata_only {
        line(ty, &table::partial_metadata(object))
    } else {
        line(ty, object)
    }
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
                yield Ok(object_line(&p, "ADDED", o));
            }
        }
        if p.send_initial_events {
            yield Ok(bookmark(&p.rt, seen, true));
        }
        for e in &start.replay {
            seen = seen.max(e.rv);
            if let Some((ty, o)) = translate(&p, e) {
                yield Ok(object_line(&p, ty, &o));
            }
        }
        if from.is_some_and(|rv| rv > 0) {
            // The replay owed since the requested resourceVersion is sent: a bookmark
            // at the current one tells the client it has every change up to there
            // (a client comparing it with a list's resourceVersion can stop waiting).
            seen = seen.max(start.current_rv);
            if p.bookmarks {
                yield Ok(bookmark(&p.rt, seen, false));
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
                            yield Ok(object_line(&p, ty, &o));
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
    use crate::clock::Clock;
    use crate::resources::{NAMESPACES, PODS};
    use futures::StreamExt;

    #[tokio::test]
    async fn lagging_watcher_is_closed_not_skipped() {
        let store = Arc::new(Store::new(1000, 4, Clock::new(1.0)));
        let ns = |n: String| json!({"metadata": {"name": n}});
        store
            .create(&NAMESPACES, "", ns("first".into()), false, |_, _| Ok(()))
            .expect("ns");
        let (_tx, rx) = tokio_watch::channel(false);
        let p = WatchParams {
            rt: NAMESPACES,
            namespace: None,
            selectors: Selectors::default(),
            resource_version: None,
            timeout: Duration::from_secs(30),
            bookmarks: false,
            bookmark_interval: Duration::from_secs(30),
            send_initial_events: false,
            metadata_only: false,
            table: false,
        };
        let mut s = Box::pin(stream(store.clone(), p, rx));
        let first = s.next().await.expect("initial ADDED");
        assert!(String::from_utf8_lossy(&first.expect("bytes")).contains("\"ADDED\""));
        for i in 0..20 {
            store
                .create(&NAMESPACES, "", ns(format!("n{i}")), false, |_, _| Ok(()))
                .expect("ns");
        }
        let rest: Vec<_> = tokio::time::timeout(Duration::from_secs(5), s.collect::<Vec<_>>())
            .await
            .expect("stream closes instead of hanging");
        assert!(rest.len() < 20, "closed early, got {}", rest.len());
    }

    #[tokio::test]
    async fn expired_resource_version_is_an_error_event() {
        let store = Arc::new(Store::new(2, 64, Clock::new(1.0)));
        for i in 0..5 {
            store
                .create(
                    &NAMESPACES,
                    "",
                    json!({"metadata": {"name": format!("n{i}")}}),
                    false,
                    |_, _| Ok(()),
                )
                .expect("ns");
        }
        let (_tx, rx) = tokio_watch::channel(false);
        let p = WatchParams {
            rt: NAMESPACES,
            namespace: None,
            selectors: Selectors::default(),
            resource_version: Some(1),
            timeout: Duration::from_secs(30),
            bookmarks: false,
            bookmark_interval: Duration::from_secs(30),
            send_initial_events: false,
            metadata_only: false,
            table: false,
        };
        let out: Vec<_> = stream(store, p, rx).collect().await;
        assert_eq!(out.len(), 1);
        let line = String::from_utf8(out[0].clone().expect("bytes").to_vec()).expect("utf8");
        let v: Value = serde_json::from_str(line.trim()).expect("json");
        assert_eq!(v["type"], "ERROR");
        assert_eq!(v["object"]["code"], 410);
        assert_eq!(v["object"]["reason"], "Expired");
        assert_eq!(v["object"]["message"], "too old resource version: 1 (4)");
    }
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
            metadata_only: false,
            table: false,
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
