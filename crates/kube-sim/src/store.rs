//! The object store: every object as JSON keyed by (resource type, namespace, name),
//! one global resourceVersion counter, a bounded event history and a broadcast of
//! changes (sent after the store lock is released, in resourceVersion order).
//!
//! One module past ~400 lines: objects, resourceVersions, the event history and the
//! broadcast change together under one lock; the last ~140 lines are tests.

use crate::podspec::At;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::clock::Clock;
use crate::resources::{self, ResourceType};
use crate::status::ApiError;

/// A stored object (shared, immutable; writes replace it).
pub type Obj = Arc<Value>;

/// Kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(&self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change in the store.
#[derive(Debug, Clone)]
pub struct StoreEvent {
    pub rv: u64,
    pub rt: ResourceType,
    pub namespace: String,
    pub name: String,
    pub kind: EventType,
    /// The object after the change (for DELETED: its last state, with the deletion RV).
    pub object: Obj,
    /// The object before the change (MODIFIED, DELETED).
    pub old: Option<Obj>,
}

type Key = (String, String);

/// An object's identity: type, namespace, name.
pub type ObjectRef = (ResourceType, String, String);

#[derive(Debug, Default)]
struct Inner {
    objects: BTreeMap<ResourceType, BTreeMap<Key, Obj>>,
    /// owner uid → objects whose ownerReferences name it.
    dependents: HashMap<String, BTreeSet<ObjectRef>>,
    rv: u64,
    history: VecDeque<Arc<StoreEvent>>,
    /// Highest resourceVersion whose event was dropped from `history`.
    compacted: u64,
}

fn owner_uids(obj: &Value) -> impl Iterator<Item = &str> {
    obj.get("metadata")
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("uid").and_then(Value::as_str))
}

impl Inner {
    /// Keep the owner → dependents index in step with one object's change.
    fn index_owners(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        old: Option<&Value>,
        new: Option<&Value>,
    ) {
        let me: ObjectRef = (*rt, ns.to_string(), name.to_string());
        if let Some(old) = old {
            for u in owner_uids(old) {
                if let Some(set) = self.dependents.get_mut(u) {
                    set.remove(&me);
                    if set.is_empty() {
                        self.dependents.remove(u);
                    }
                }
            }
        }
        if let Some(new) = new {
            for u in owner_uids(new) {
                self.dependents
                    .entry(u.to_string())
                    .or_default()
                    .insert(me.clone());
            }
        }
    }
}

/// Read access to the store inside one critical section.
pub struct View<'a> {
    inner: &'a Inner,
}

impl View<'_> {
    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<&Obj> {
        self.inner
            .objects
            .get(rt)
            .and_then(|m| m.get(&(ns.to_string(), name.to_string())))
    }

    /// Objects of a type, in one namespace (`Some`) or all (`None`), sorted by namespace/name.
    pub fn list(&self, rt: &ResourceType, ns: Option<&str>) -> Vec<&Obj> {
        match self.inner.objects.get(rt) {
            None => Vec::new(),
            Some(m) => match ns {
                None => m.values().collect(),
                Some(ns) => m
                    .range((ns.to_string(), String::new())..)
                    .take_while(|((n, _), _)| n == ns)
                    .map(|(_, v)| v)
                    .collect(),
            },
        }
    }

    pub fn resource_version(&self) -> u64 {
        self.inner.rv
    }

    /// Objects whose ownerReferences name `owner_uid`.
    pub fn dependents(&self, owner_uid: &str) -> Vec<ObjectRef> {
        self.inner
            .dependents
            .get(owner_uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every object of every type (for owner-reference scans).
    pub fn all(&self) -> impl Iterator<Item = (&ResourceType, &Obj)> {
        self.inner
            .objects
            .iter()
            .flat_map(|(rt, m)| m.values().map(move |o| (rt, o)))
    }
}

/// How a delete should proceed.
#[derive(Debug, Clone, Default)]
pub struct DeleteRequest {
    /// Seconds of grace (pods); 0 removes as soon as no finalizer remains.
    pub grace_seconds: i64,
    /// Finalizers to add (`orphan`, `foregroundDeletion`).
    pub add_finalizers: Vec<String>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

/// Result of a delete.
#[derive(Debug, Clone)]
pub enum DeleteOutcome {
    /// Removed from the store (last state).
    Removed(Obj),
    /// Marked with `deletionTimestamp`; removal waits for finalizers or grace.
    Pending(Obj),
}

/// The store.
#[derive(Debug)]
pub struct Store {
    /// Readers (GET, LIST, controller scans) share it; only writes exclude each other
    /// and readers.
    inner: RwLock<Inner>,
    publish: Mutex<()>,
    tx: broadcast::Sender<Arc<StoreEvent>>,
    history_cap: usize,
    clock: Clock,
}

const NAME_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `prefix` + 5 random characters, as upstream `generateName`.
pub fn generate_name(prefix: &str) -> String {
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| char::from(NAME_CHARS[rng.random_range(0..NAME_CHARS.len())]))
        .collect();
    format!("{prefix}{suffix}")
}

/// A random RFC 4122 version-4 UID.
pub fn new_uid() -> String {
    let b: [u8; 16] = rand::rng().random();
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-4{:01x}{:02x}-{:01x}{:01x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[0],
        b[1],
        b[2],
        b[3],
        b[4],
        b[5],
        b[6] & 0x0f,
        b[7],
        8 | (b[8] & 0x3),
        b[8] >> 4,
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// Whether an object marked for deletion may now be removed.
pub fn can_remove(rt: &ResourceType, obj: &Value) -> bool {
    let meta = obj.get("metadata");
    let marked = meta.and_then(|m| m.get("deletionTimestamp")).is_some();
    let finalizers_empty = meta
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    let spec_finalizers_empty = *rt != resources::NAMESPACES
        || obj
            .at("/spec/finalizers")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
    let grace_over = meta
        .and_then(|m| m.get("deletionGracePeriodSeconds"))
        .and_then(Value::as_i64)
        .is_none_or(|g| g <= 0);
    marked && finalizers_empty && spec_finalizers_empty && grace_over
}

impl Store {
    /// `history_cap` events are kept for resuming watches; `channel_cap` events may be
    /// queued for a slow watcher before it is closed as lagging.
    pub fn new(history_cap: usize, channel_cap: usize, clock: Clock) -> Self {
        let (tx, _) = broadcast::channel(channel_cap.max(1));
        Store {
            inner: RwLock::new(Inner::default()),
            publish: Mutex::new(()),
            tx,
            history_cap: history_cap.max(1),
            clock,
        }
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    fn lock(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Record events and broadcast them once the store lock is released, in order.
    fn commit(&self, mut guard: RwLockWriteGuard<'_, Inner>, events: Vec<StoreEvent>) {
        let mut arcs = Vec::with_capacity(events.len());
        for e in events {
            let e = Arc::new(e);
            guard.history.push_back(e.clone());
            while guard.history.len() > self.history_cap {
                if let Some(old) = guard.history.pop_front() {
                    guard.compacted = old.rv;
                }
            }
            arcs.push(e);
        }
        let order = self.publish.lock().unwrap_or_else(|p| p.into_inner());
        drop(guard);
        for e in arcs {
            // No receivers is fine.
            let _ = self.tx.send(e);
        }
        drop(order);
    }

    /// Subscribe to all future changes.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoreEvent>> {
        self.tx.subscribe()
    }

    /// Run a read-only closure over a consistent snapshot.
    pub fn read<R>(&self, f: impl FnOnce(&View<'_>) -> R) -> R {
        let g = self.lock_read();
        f(&View { inner: &g })
    }

    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<Obj> {
        self.read(|v| v.get(rt, ns, name).cloned())
    }

    /// Objects and the current resourceVersion.
    pub fn list(&self, rt: &ResourceType, ns: Option<&str>) -> (Vec<Obj>, u64) {
        self.read(|v| {
            (
                v.list(rt, ns).into_iter().cloned().collect(),
                v.resource_version(),
            )
        })
    }

    pub fn resource_version(&self) -> u64 {
        self.read(|v| v.resource_version())
    }

    /// Start a watch: subscribe, then return what precedes the live stream.
    ///
    /// `from = None` (or 0): the current objects of `rt` (namespace-filtered) as ADDED;
    /// `from = Some(n)`: the retained events after `n` (all types), or 410 Expired.
    pub fn watch_start(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        from: Option<u64>,
    ) -> Result<WatchStart, ApiError> {
        // subscribing under the read lock: no write commits between the snapshot and
        // the subscription (a write publishes only after taking the write lock)
        let g = self.lock_read();
        let rx = self.tx.subscribe();
        let current = g.rv;
        match from {
            None | Some(0) => {
                let view = View { inner: &g };
                let objects = view.list(rt, ns).into_iter().cloned().collect();
                Ok(WatchStart {
                    rx,
                    initial: objects,
                    replay: Vec::new(),
                    start_rv: current,
                    current_rv: current,
                })
            }
            Some(n) => {
                if n < g.compacted {
                    let oldest = g.history.front().map(|e| e.rv).unwrap_or(current);
                    return Err(ApiError::Expired {
                        requested: n,
                        current: oldest,
                    });
                }
                let replay = g.history.iter().filter(|e| e.rv > n).cloned().collect();
                Ok(WatchStart {
                    rx,
                    initial: Vec::new(),
                    replay,
                    start_rv: n.min(current),
                    current_rv: current,
                })
            }
        }
    }

    /// Create an object. `admit` runs under the lock after metadata is filled in
    /// (name, uid, timestamps) and may default, validate or reject it.
    pub fn create(
        &self,
        rt: &ResourceType,
        ns: &str,
        mut obj: Value,
        dry_run: bool,
        admit: impl FnOnce(&View<'_>, &mut Value) -> Result<(), ApiError>,
    ) -> Result<Obj, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::BadRequest(
                "the body must be a JSON object".into(),
            ));
        }
        let mut g = self.lock();
        let ns = if rt.namespaced { ns } else { "" };
        if rt.namespaced {
            let view = View { inner: &g };
            match view.get(&resources::NAMESPACES, "", ns) {
                None => return Err(ApiError::not_found(&resources::NAMESPACES, ns)),
                Some(n) if n.at("/metadata/deletionTimestamp").is_some() => {
                    return Err(ApiError::forbidden(
                        rt,
                        meta_str(&obj, "name").unwrap_or(""),
                        format!(
                            "unable to create new content in namespace {ns} because it is being terminated"
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        let name = match meta_str(&obj, "name").filter(|n| !n.is_empty()) {
            Some(n) => n.to_string(),
            None => match meta_str(&obj, "generateName").filter(|n| !n.is_empty()) {
                Some(prefix) => {
                    let prefix = prefix.to_string();
                    let view = View { inner: &g };
                    let mut candidate = generate_name(&prefix);
                    let mut tries = 0;
                    while view.get(rt, ns, &candidate).is_some() && tries < 100 {
                        candidate = generate_name(&prefix);
                        tries += 1;
                    }
                    candidate
                }
                None => {
                    return Err(ApiError::invalid(
                        rt,
                        "",
                        vec![crate::status::Cause::required("metadata.name")],
                    ));
                }
            },
        };
        if let Err(msg) = validate_name(&name) {
            return Err(ApiError::invalid(
                rt,
                &name,
                vec![crate::status::Cause::invalid(
                    "metadata.name",
                    &Value::String(name.clone()),
                    &msg,
                )],
            ));
        }
        if (View { inner: &g }).get(rt, ns, &name).is_some() {
            return Err(ApiError::already_exists(rt, &name));
        }
        let rv = g.rv + 1;
        {
            let m = &mut obj["metadata"];
            m["name"] = json!(name);
            if rt.namespaced {
                m["namespace"] = json!(ns);
            } else if let Some(o) = m.as_object_mut() {
                o.remove("namespace");
            }
            m["uid"] = json!(new_uid());
            m["creationTimestamp"] = json!(self.clock.now_rfc3339());
            m["resourceVersion"] = json!(rv.to_string());
            if rt.has_status || obj.get("spec").is_some() {
                obj["metadata"]["generation"] = json!(1);
            }
            if let Some(o) = obj["metadata"].as_object_mut() {
                o.remove("deletionTimestamp");
                o.remove("deletionGracePeriodSeconds");
                o.remove("selfLink");
            }
        }
        obj["apiVersion"] = json!(rt.api_version());
        obj["kind"] = json!(rt.kind);
        admit(&View { inner: &g }, &mut obj)?;
        let obj = Arc::new(obj);
        if dry_run {
            return Ok(obj);
        }
        g.rv = rv;
        g.objects
            .entry(*rt)
            .or_default()
            .insert((ns.to_string(), name.clone()), obj.clone());
        g.index_owners(rt, ns, &name, None, Some(&obj));
        let ev = StoreEvent {
            rv,
            rt: *rt,
            namespace: ns.to_string(),
            name,
            kind: EventType::Added,
            object: obj.clone(),
            old: None,
        };
        self.commit(g, vec![ev]);
        Ok(obj)
    }

    /// Read-modify-write one object. `f` edits a copy; an unchanged copy writes nothing.
    /// Identity metadata (name, namespace, uid, creationTimestamp) is preserved, the
    /// resourceVersion bumped, `generation` bumped when `spec` changes, and an object
    /// marked for deletion whose finalizers are gone is removed.
    pub fn update(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        dry_run: bool,
        f: impl FnOnce(&View<'_>, &mut Value) -> Result<(), ApiError>,
    ) -> Result<Obj, ApiError> {
        let mut g = self.lock();
        let ns = if rt.namespaced { ns } else { "" };
        let key = (ns.to_string(), name.to_string());
        let old = g
            .objects
            .get(rt)
            .and_then(|m| m.get(&key))
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        let mut new = (*old).clone();
        f(&View { inner: &g }, &mut new)?;
        if !new.get("metadata").is_some_and(Value::is_object) {
            new["metadata"] = json!({});
        }
        for field in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            match old["metadata"].get(field) {
                Some(v) => new["metadata"][field] = v.clone(),
                None => {
                    if let Some(o) = new["metadata"].as_object_mut() {
                        o.remove(field);
                    }
                }
            }
        }
        new["apiVersion"] = json!(rt.api_version());
        new["kind"] = json!(rt.kind);
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        if let Some(gen_old) = old["metadata"].get("generation").and_then(Value::as_i64) {
            new["metadata"]["generation"] = json!(gen_old);
            if new.get("spec") != old.get("spec") {
                new["metadata"]["generation"] = json!(gen_old + 1);
            }
        }
        if new == *old {
            return Ok(old);
        }
        let rv = g.rv + 1;
        new["metadata"]["resourceVersion"] = json!(rv.to_string());
        let new = Arc::new(new);
        if dry_run {
            return Ok(new);
        }
        g.rv = rv;
        let remove = can_remove(rt, &new);
        let map = g.objects.entry(*rt).or_default();
        if remove {
            map.remove(&key);
        } else {
            map.insert(key, new.clone());
        }
        g.index_owners(rt, ns, name, Some(&old), (!remove).then_some(&new));
        let ev = StoreEvent {
            rv,
            rt: *rt,
            namespace: ns.to_string(),
            name: name.to_string(),
            kind: if remove {
                EventType::Deleted
            } else {
                EventType::Modified
            },
            object: new.clone(),
            old: Some(old),
        };
        self.commit(g, vec![ev]);
        Ok(new)
    }

    /// Delete an object: remove it now, or mark it (`deletionTimestamp`) when a grace
    /// period or finalizers keep it.
    pub fn delete(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        req: &DeleteRequest,
    ) -> Result<DeleteOutcome, ApiError> {
        let mut g = self.lock();
        let ns = if rt.namespaced { ns } else { "" };
        let key = (ns.to_string(), name.to_string());
        let old = g
            .objects
            .get(rt)
            .and_then(|m| m.get(&key))
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        let uid = meta_str(&old, "uid").unwrap_or("").to_string();
        if let Some(p) = &req.precondition_uid
            && *p != uid
        {
            return Err(ApiError::conflict(
                rt,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {p}, UID in object meta: {uid}"
                ),
            ));
        }
        if let Some(p) = &req.precondition_rv {
            let cur = meta_str(&old, "resourceVersion").unwrap_or("");
            if p != cur {
                return Err(ApiError::conflict(
                    rt,
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {p}, ResourceVersion in object meta: {cur}"
                    ),
                ));
            }
        }
        let mut new = (*old).clone();
        let already = new["metadata"].get("deletionTimestamp").is_some();
        {
            let m = &mut new["metadata"];
            let mut fins: Vec<Value> = m
                .get("finalizers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for f in &req.add_finalizers {
                if !fins.iter().any(|x| x.as_str() == Some(f)) {
                    fins.push(json!(f));
                }
            }
            if !fins.is_empty() {
                m["finalizers"] = Value::Array(fins);
            }
            if !already {
                m["deletionTimestamp"] = json!(self.clock.now_rfc3339());
            }
            let prev_grace = m.get("deletionGracePeriodSeconds").and_then(Value::as_i64);
            let grace = match prev_grace {
                Some(p) => p.min(req.grace_seconds),
                None => req.grace_seconds,
            };
            if grace > 0 || prev_grace.is_some() {
                m["deletionGracePeriodSeconds"] = json!(grace.max(0));
            }
        }
        if *rt == resources::NAMESPACES {
            new["status"]["phase"] = json!("Terminating");
        }
        let rv = g.rv + 1;
        new["metadata"]["resourceVersion"] = json!(rv.to_string());
        let remove = can_remove(rt, &new);
        if !remove && already && same_ignoring_rv(&old, &new) {
            return Ok(DeleteOutcome::Pending(old));
        }
        let new = Arc::new(new);
        if req.dry_run {
            return Ok(if remove {
                DeleteOutcome::Removed(old)
            } else {
                DeleteOutcome::Pending(new)
            });
        }
        g.rv = rv;
        let map = g.objects.entry(*rt).or_default();
        if remove {
            map.remove(&key);
        } else {
            map.insert(key, new.clone());
        }
        g.index_owners(rt, ns, name, Some(&old), (!remove).then_some(&new));
        let ev = StoreEvent {
            rv,
            rt: *rt,
            namespace: ns.to_string(),
            name: name.to_string(),
            kind: if remove {
                EventType::Deleted
            } else {
                EventType::Modified
            },
            object: new.clone(),
            old: Some(old),
        };
        self.commit(g, vec![ev]);
        Ok(if remove {
            DeleteOutcome::Removed(new)
        } else {
            DeleteOutcome::Pending(new)
        })
    }
}

fn same_ignoring_rv(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        v
    };
    strip(a) == strip(b)
}

/// What `watch_start` returns.
pub struct WatchStart {
    pub rx: broadcast::Receiver<Arc<StoreEvent>>,
    /// Current objects to send as ADDED (RV unset/0).
    pub initial: Vec<Obj>,
    /// Retained events after the requested RV.
    pub replay: Vec<Arc<StoreEvent>>,
    /// The resourceVersion the stream is consistent with before `replay`/live events.
    pub start_rv: u64,
    /// The store's resourceVersion when the watch subscribed: after `replay`, the
    /// stream is consistent with it (live events all come after it).
    pub current_rv: u64,
}

/// RFC 1123 subdomain check (lowercase alphanumerics, '-', '.'; ≤ 253).
fn validate_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{NAMESPACES, PODS};

    fn store() -> Store {
        Store::new(4, 64, Clock::new(1.0))
    }

    #[tokio::test]
    async fn create_get_update_delete() {
        let s = store();
        s.create(
            &NAMESPACES,
            "",
            json!({"metadata": {"name": "ns"}}),
            false,
            |_, _| Ok(()),
        )
        .expect("ns");
        let p = s
            .create(
                &PODS,
                "ns",
                json!({"metadata": {"generateName": "p-"}, "spec": {}}),
                false,
                |_, _| Ok(()),
            )
            .expect("pod");
        let name = p["metadata"]["name"].as_str().expect("name").to_string();
        assert_eq!(name.len(), 7);
        assert_eq!(p["metadata"]["resourceVersion"], "2");
        let e = s
            .create(
                &PODS,
                "nope",
                json!({"metadata": {"name": "x"}}),
                false,
                |_, _| Ok(()),
            )
            .expect_err("no ns");
        assert_eq!(e.to_string(), "namespaces \"nope\" not found");
        let u = s
            .update(&PODS, "ns", &name, false, |_, o| {
                o["spec"]["nodeName"] = json!("n");
                Ok(())
            })
            .expect("update");
        assert_eq!(u["metadata"]["generation"], 2);
        let d = s
            .delete(&PODS, "ns", &name, &DeleteRequest::default())
            .expect("delete");
        assert!(matches!(d, DeleteOutcome::Removed(_)));
        assert!(s.get(&PODS, "ns", &name).is_none());
    }

    #[tokio::test]
    async fn history_compaction_expires_old_rv() {
        let s = store();
        for i in 0..10 {
            s.create(
                &NAMESPACES,
                "",
                json!({"metadata": {"name": format!("n{i}")}}),
                false,
                |_, _| Ok(()),
            )
            .expect("ns");
        }
        assert!(matches!(
            s.watch_start(&NAMESPACES, None, Some(2)),
            Err(ApiError::Expired { .. })
        ));
        let w = s.watch_start(&NAMESPACES, None, Some(7)).expect("retained");
        assert_eq!(w.replay.len(), 3);
    }

    #[tokio::test]
    async fn owner_index_follows_writes() {
        let s = store();
        s.create(
            &NAMESPACES,
            "",
            json!({"metadata": {"name": "ns"}}),
            false,
            |_, _| Ok(()),
        )
        .expect("ns");
        let owned = json!({"metadata": {"name": "p", "ownerReferences": [{"uid": "J"}]}});
        s.create(&PODS, "ns", owned, false, |_, _| Ok(()))
            .expect("pod");
        assert_eq!(
            s.read(|v| v.dependents("J")),
            vec![(PODS, "ns".to_string(), "p".to_string())]
        );
        s.update(&PODS, "ns", "p", false, |_, o| {
            o["metadata"]["ownerReferences"] = json!([]);
            Ok(())
        })
        .expect("orphaned");
        assert!(s.read(|v| v.dependents("J")).is_empty());
        s.update(&PODS, "ns", "p", false, |_, o| {
            o["metadata"]["ownerReferences"] = json!([{"uid": "K"}]);
            Ok(())
        })
        .expect("adopted");
        s.delete(&PODS, "ns", "p", &DeleteRequest::default())
            .expect("deleted");
        assert!(s.read(|v| v.dependents("K")).is_empty());
    }

    #[tokio::test]
    async fn finalizers_hold_deletion() {
        let s = store();
        s.create(
            &NAMESPACES,
            "",
            json!({"metadata": {"name": "ns"}}),
            false,
            |_, _| Ok(()),
        )
        .expect("ns");
        s.create(
            &PODS,
            "ns",
            json!({"metadata": {"name": "p", "finalizers": ["x"]}}),
            false,
            |_, _| Ok(()),
        )
        .expect("pod");
        let d = s
            .delete(&PODS, "ns", "p", &DeleteRequest::default())
            .expect("delete");
        assert!(matches!(d, DeleteOutcome::Pending(_)));
        s.update(&PODS, "ns", "p", false, |_, o| {
            o["metadata"]["finalizers"] = json!([]);
            Ok(())
        })
        .expect("finalize");
        assert!(s.get(&PODS, "ns", "p").is_none());
    }
}
