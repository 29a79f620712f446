//! Object verbs over HTTP: get, list, watch, create, replace, patch, delete,
//! deletecollection, and the status/scale/log subresources.
//!
//! One module past ~400 lines: every verb's handler reads the same target, query
//! (selectors, dryRun, resourceVersion, continue) and body helpers kept private here.

use crate::podspec::At;
use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Target, json_response};
use crate::api_state::{ApiState, DeleteOptions, RequestRecord, Subresource};
use crate::patch::{PatchType, parse_body};
use crate::resources::{self, ResourceType};
use crate::selector::{FieldSelector, LabelSelector, Selectors};
use crate::status::ApiError;
use crate::watch::{self, WatchParams};

/// How a list is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Full,
    Metadata,
    Table,
}

fn selectors(rt: &ResourceType, q: &HashMap<String, String>) -> Result<Selectors, ApiError> {
    Ok(Selectors {
        labels: LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))?,
        fields: FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or(""), rt)?,
    })
}

fn truthy(q: &HashMap<String, String>, k: &str) -> bool {
    q.get(k).is_some_and(|v| v == "true" || v == "1")
}

fn dry_run(q: &HashMap<String, String>) -> bool {
    q.get("dryRun").is_some_and(|v| v == "All")
}

fn parse_rv(v: Option<&String>) -> Result<Option<u64>, ApiError> {
    match v.map(String::as_str) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| ApiError::BadRequest(format!("invalid resource version: {s}"))),
    }
}

fn verb_of(method: &Method, t: &Target, q: &HashMap<String, String>) -> &'static str {
    match (method.as_str(), t.name.is_some()) {
        ("GET", false) if truthy(q, "watch") => "watch",
        ("GET", false) => "list",
        ("GET", true) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", false) => "deletecollection",
        ("DELETE", true) => "delete",
        _ => "unknown",
    }
}

fn ok(obj: &Value) -> Response {
    json_response(StatusCode::OK, obj)
}

/// Serve one resource request.
pub async fn handle(
    cluster: &std::sync::Arc<ApiState>,
    method: &Method,
    t: &Target,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    cluster.log_request(RequestRecord {
        verb: verb_of(method, t, q).to_string(),
        group: t.rt.group.to_string(),
        resource: t.rt.plural.to_string(),
        subresource: t.sub.clone(),
        namespace: t.namespace.clone(),
        name: t.name.clone(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(String::from),
    });
    let rt = &t.rt;
    let ns = t.namespace.clone().unwrap_or_default();
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let as_table = accept.contains("as=Table");
    let metadata_only = accept.contains("as=PartialObjectMetadata");
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let decoded;
    let body: &[u8] =
        if (*method == Method::POST || *method == Method::PUT || *method == Method::DELETE)
            && content_type.contains("protobuf")
            && !body.is_empty()
        {
            // kubectl's typed commands; answered in JSON like everything else
            if tracing::enabled!(tracing::Level::TRACE) {
                let hex: String = body.iter().map(|b| format!("{b:02x}")).collect();
                tracing::trace!(body = %hex, "protobuf request body");
            }
            decoded = super::protobuf::decode(body)?.to_string().into_bytes();
            &decoded
        } else if content_type.contains("cbor") {
            return Err(ApiError::UnsupportedBody);
        } else {
            body
        };
    let sub = match t.sub.as_deref() {
        None => Subresource::Main,
        Some("status") if rt.has_status => Subresource::Status,
        Some("scale") if *rt == resources::DEPLOYMENTS => return scale(cluster, method, t, body),
        Some("log") if *rt == resources::PODS && *method == Method::GET => {
            return log(cluster, t, q);
        }
        Some("eviction") if *rt == resources::PODS && *method == Method::POST => {
            return evict(cluster, t, body);
        }
        Some(_) => return Err(ApiError::UnknownPath),
    };
    match (method.clone(), t.name.as_deref()) {
        (Method::GET, None) => {
            let sel = selectors(rt, q)?;
            if truthy(q, "watch") {
                let view = if as_table {
                    View::Table
                } else if metadata_only {
                    View::Metadata
                } else {
                    View::Full
                };
                return watch_response(cluster, t, q, sel, view);
            }
            let view = if as_table {
                View::Table
            } else if metadata_only {
                View::Metadata
            } else {
                View::Full
            };
            list(cluster, t, q, &sel, view)
        }
        (Method::GET, Some(name)) => {
            let obj = cluster
                .store
                .get(rt, &ns, name)
                .ok_or_else(|| ApiError::not_found(rt, name))?;
            if as_table {
                let meta = json!({"resourceVersion": obj["metadata"]["resourceVersion"]});
                let now = cluster.store.clock().now();
                return Ok(ok(&crate::table::table(rt, &[obj.as_ref()], meta, now)));
            }
            if metadata_only {
                return Ok(ok(&crate::table::partial_metadata(&obj)));
            }
            Ok(ok(&obj))
        }
        (Method::POST, None) => {
            if rt.namespaced && t.namespace.is_none() {
                return Err(ApiError::MethodNotAllowed);
            }
            let obj = parse_body(body)?;
            check_body(rt, &obj, t.namespace.as_deref())?;
            let created = cluster.create(rt, &ns, obj, dry_run(q))?;
            Ok(json_response(StatusCode::CREATED, &created))
        }
        (Method::PUT, Some(name)) => {
            let obj = parse_body(body)?;
            check_body(rt, &obj, t.namespace.as_deref())?;
            let updated = cluster.replace(rt, &ns, name, sub, obj, dry_run(q))?;
            Ok(ok(&updated))
        }
        (Method::PATCH, Some(name)) => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let ty = PatchType::from_content_type(ct)?;
            let (obj, created) = cluster.patch(rt, &ns, name, sub, ty, body, dry_run(q))?;
            Ok(json_response(
                if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                &obj,
            ))
        }
        (Method::DELETE, Some(name)) => {
            let opts = delete_options(q, body)?;
            let d = cluster.delete(rt, &ns, name, &opts)?;
            let mut r = ok(&d.body);
            if let Some(w) = d.warning
                && let Ok(v) = HeaderValue::from_str(w)
            {
                r.headers_mut().insert("warning", v);
            }
            Ok(r)
        }
        (Method::DELETE, None) => {
            let opts = delete_options(q, body)?;
            let sel = selectors(rt, q)?;
            let (items, _) = cluster.store.list(rt, t.namespace.as_deref());
            let mut deleted = Vec::new();
            for o in items.iter().filter(|o| sel.matches(o)) {
                let n = o["metadata"]["name"].as_str().unwrap_or("");
                let nsx = o["metadata"]["namespace"].as_str().unwrap_or("");
                if cluster.delete(rt, nsx, n, &opts).is_ok() {
                    deleted.push((**o).clone());
                }
            }
            let rv = cluster.store.resource_version();
            Ok(ok(
                &json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(),
                "metadata": {"resourceVersion": rv.to_string()}, "items": deleted}),
            ))
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

fn check_body(rt: &ResourceType, obj: &Value, ns: Option<&str>) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        ));
    }
    if let Some(k) = obj.get("kind").and_then(Value::as_str)
        && k != rt.kind
    {
        return Err(ApiError::BadRequest(format!(
            "the kind of the provided object ({k}) does not match the resource ({})",
            rt.kind
        )));
    }
    if let (Some(path_ns), Some(body_ns)) =
        (ns, obj.at("/metadata/namespace").and_then(Value::as_str))
        && !body_ns.is_empty()
        && body_ns != path_ns
    {
        return Err(ApiError::BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
                .into(),
        ));
    }
    Ok(())
}

fn delete_options(q: &HashMap<String, String>, body: &[u8]) -> Result<DeleteOptions, ApiError> {
    let mut opts = if body.iter().all(u8::is_ascii_whitespace) {
        DeleteOptions::default()
    } else {
        DeleteOptions::from_body(&parse_body(body)?)
    };
    if let Some(p) = q.get("propagationPolicy") {
        opts.propagation_policy = Some(p.clone());
    }
    if let Some(g) = q.get("gracePeriodSeconds") {
        opts.grace_period_seconds = g.parse().ok();
    }
    if dry_run(q) {
        opts.dry_run = true;
    }
    Ok(opts)
}

/// Continue tokens are the hex of the last returned `namespace/name`.
fn encode_continue(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_continue(s: &str) -> Result<(String, String), ApiError> {
    let bad = || ApiError::BadRequest(format!("invalid continue token: {s}"));
    if !s.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes: Result<Vec<u8>, _> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16))
        .collect();
    let text = String::from_utf8(bytes.map_err(|_| bad())?).map_err(|_| bad())?;
    let (ns, name) = text.split_once('/').ok_or_else(bad)?;
    Ok((ns.to_string(), name.to_string()))
}

fn list(
    cluster: &ApiState,
    t: &Target,
    q: &HashMap<String, String>,
    sel: &Selectors,
    view: View,
) -> Result<Response, ApiError> {
    let rt = &t.rt;
    let (items, rv) = cluster.store.list(rt, t.namespace.as_deref());
    let after = match q.get("continue").filter(|c| !c.is_empty()) {
        Some(c) => Some(decode_continue(c)?),
        None => None,
    };
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let matching: Vec<&Value> = items
        .iter()
        .map(|o| o.as_ref())
        .filter(|o| {
            after.as_ref().is_none_or(|(ans, aname)| {
                let key = (
                    o["metadata"]["namespace"].as_str().unwrap_or(""),
                    o["metadata"]["name"].as_str().unwrap_or(""),
                );
                key > (ans.as_str(), aname.as_str())
            })
        })
        .filter(|o| sel.matches(o))
        .collect();
    let total = matching.len();
    let page: Vec<&Value> = matching.into_iter().take(limit).collect();
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if total > page.len()
        && let Some(last) = page.last()
    {
        meta["continue"] = json!(encode_continue(
            last["metadata"]["namespace"].as_str().unwrap_or(""),
            last["metadata"]["name"].as_str().unwrap_or("")
        ));
        meta["remainingItemCount"] = json!(total - page.len());
    }
    if view == View::Table {
        let now = cluster.store.clock().now();
        return Ok(ok(&crate::table::table(rt, &page, meta, now)));
    }
    if view == View::Metadata {
        let items: Vec<Value> = page
            .iter()
            .map(|o| crate::table::partial_metadata(o))
            .collect();
        return Ok(ok(&json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": meta,
            "items": items,
        })));
    }
    Ok(ok(&json!({
        "kind": format!("{}List", rt.kind),
        "apiVersion": rt.api_version(),
        "metadata": meta,
        "items": page,
    })))
}

fn watch_response(
    cluster: &std::sync::Arc<ApiState>,
    t: &Target,
    q: &HashMap<String, String>,
    selectors: Selectors,
    view: View,
) -> Result<Response, ApiError> {
    let cfg = &cluster.config;
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(cfg.watch_default_timeout_secs);
    let params = WatchParams {
        rt: t.rt,
        namespace: t.namespace.clone(),
        selectors,
        resource_version: parse_rv(q.get("resourceVersion"))?,
        timeout: Duration::from_secs(timeout),
        bookmarks: truthy(q, "allowWatchBookmarks"),
        bookmark_interval: Duration::from_secs(cfg.bookmark_interval_secs.max(1)),
        send_initial_events: truthy(q, "sendInitialEvents"),
        metadata_only: view == View::Metadata,
        table: view == View::Table,
    };
    let stream = watch::stream(cluster.store.clone(), params, cluster.shutdown.clone());
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    Ok(r)
}

fn scale_of(d: &Value) -> Value {
    let labels = d
        .at("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let m = &d["metadata"];
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
            "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": d.at("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {"replicas": d.at("/status/replicas").cloned().unwrap_or(json!(0)), "selector": labels}
    })
}

fn scale(
    cluster: &ApiState,
    method: &Method,
    t: &Target,
    body: &[u8],
) -> Result<Response, ApiError> {
    let rt = &t.rt;
    let ns = t.namespace.clone().unwrap_or_default();
    let name = t.name.as_deref().ok_or(ApiError::UnknownPath)?;
    match *method {
        Method::GET => {
            let d = cluster
                .store
                .get(rt, &ns, name)
                .ok_or_else(|| ApiError::not_found(rt, name))?;
            Ok(ok(&scale_of(&d)))
        }
        Method::PUT | Method::PATCH => {
            let b = parse_body(body)?;
            let updated = cluster.write(rt, &ns, name, Subresource::Main, false, |cur| {
                let mut s = scale_of(cur);
                if *method == Method::PUT {
                    s = b.clone();
                } else if b.is_array() {
                    let p: json_patch::Patch = serde_json::from_value(b.clone())
                        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
                    json_patch::patch(&mut s, &p)
                        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
                } else {
                    json_patch::merge(&mut s, &b);
                }
                let replicas = s.at("/spec/replicas").and_then(Value::as_i64).unwrap_or(0);
                let mut c = cur.clone();
                c["spec"]["replicas"] = json!(replicas.max(0));
                Ok(c)
            })?;
            Ok(ok(&scale_of(&updated)))
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// `POST …/pods/NAME/eviction` (policy/v1 Eviction; no PodDisruptionBudgets exist, so
/// every eviction is allowed and deletes the pod gracefully).
fn evict(cluster: &ApiState, t: &Target, body: &[u8]) -> Result<Response, ApiError> {
    let ns = t.namespace.clone().unwrap_or_default();
    let name = t.name.as_deref().ok_or(ApiError::UnknownPath)?;
    let eviction = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        parse_body(body)?
    };
    let opts = DeleteOptions::from_body(eviction.get("deleteOptions").unwrap_or(&json!({})));
    cluster.delete(&t.rt, &ns, name, &opts)?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}

fn log(cluster: &ApiState, t: &Target, q: &HashMap<String, String>) -> Result<Response, ApiError> {
    let rt = &t.rt;
    let ns = t.namespace.clone().unwrap_or_default();
    let name = t.name.as_deref().ok_or(ApiError::UnknownPath)?;
    let pod = cluster
        .store
        .get(rt, &ns, name)
        .ok_or_else(|| ApiError::not_found(rt, name))?;
    let container = q
        .get("container")
        .cloned()
        .or_else(|| {
            pod.at("/spec/containers/0/name")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .unwrap_or_default();
    if crate::podspec::phase(&pod) == "Pending" {
        return Err(ApiError::BadRequest(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
        )));
    }
    let text = crate::podspec::annotation(&pod, crate::annotations::ANNOTATION_LOG)
        .map(|s| format!("{s}\n"))
        .unwrap_or_else(|| format!("kube-sim: container {container} of pod {ns}/{name} started\n"));
    let mut r = (StatusCode::OK, text).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(r)
}
