//! Legacy discovery (`/api`, `/apis`, `/api/v1`, `/apis/{g}/{v}`), `/version` and health.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::json_response;
use crate::resources::{self, ResourceType};

fn verbs(_rt: &ResourceType) -> Value {
    json!([
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch"
    ])
}

fn resource_list(group: &str, version: &str) -> Option<Value> {
    let mut out = Vec::new();
    for rt in resources::ALL
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let mut r = json!({
            "name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
            "kind": rt.kind, "verbs": verbs(rt),
        });
        if !rt.short_names.is_empty() {
            r["shortNames"] = json!(rt.short_names);
        }
        if [
            "pods",
            "services",
            "jobs",
            "deployments",
            "configmaps",
            "events",
            "serviceaccounts",
        ]
        .contains(&rt.plural)
        {
            r["categories"] = json!(["all"]);
        }
        if rt.plural == "events" || rt.plural == "configmaps" {
            r.as_object_mut().map(|o| o.remove("categories"));
        }
        out.push(r);
        if rt.has_status {
            out.push(json!({"name": format!("{}/status", rt.plural), "singularName": "", "namespaced": rt.namespaced,
                "kind": rt.kind, "verbs": ["get", "patch", "update"]}));
        }
        if rt.plural == "deployments" {
            out.push(json!({"name": "deployments/scale", "singularName": "", "namespaced": true,
                "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
        }
        if rt.plural == "pods" {
            out.push(json!({"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}));
        }
    }
    if out.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}),
    )
}

fn group_json(group: &str) -> Value {
    let versions: Vec<Value> = resources::group_versions()
        .into_iter()
        .filter(|(g, _)| *g == group)
        .map(|(g, v)| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(json!({}));
    json!({"name": group, "versions": versions, "preferredVersion": preferred})
}

/// Answer discovery and meta endpoints; `None` for everything else.
pub fn serve(path: &str) -> Option<Response> {
    let p = path.trim_end_matches('/');
    let segs: Vec<&str> = p.trim_start_matches('/').split('/').collect();
    let ok = |v: Value| Some(json_response(StatusCode::OK, &v));
    match segs.as_slice() {
        ["version"] => ok(json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0-kube-sim",
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24.0", "compiler": "gc",
            "platform": "linux/amd64"
        })),
        ["healthz"] | ["readyz"] | ["livez"] => Some((StatusCode::OK, "ok").into_response()),
        ["api"] => ok(json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:0"}]})),
        ["apis"] => {
            let mut groups: Vec<&str> = resources::group_versions()
                .into_iter()
                .map(|(g, _)| g)
                .filter(|g| !g.is_empty())
                .collect();
            groups.dedup();
            ok(json!({"kind": "APIGroupList", "apiVersion": "v1",
                "groups": groups.into_iter().map(group_json).collect::<Vec<_>>()}))
        }
        ["api", v] => resource_list("", v).and_then(ok),
        ["apis", g] if resources::ALL.iter().any(|r| r.group == *g) => {
            let mut v = group_json(g);
            v["kind"] = json!("APIGroup");
            v["apiVersion"] = json!("v1");
            ok(v)
        }
        ["apis", g, v] => resource_list(g, v).and_then(ok),
        ["openapi", "v3"] => ok(super::openapi::root()),
        ["openapi", "v3", rest @ ..] => super::openapi::group_version(&rest.join("/")).and_then(ok),
        _ => None,
    }
}
