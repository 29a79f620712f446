//! A minimal OpenAPI v3 surface: enough for `kubectl apply` with its default validation
//! (it looks for the `fieldValidation` parameter on each kind's PATCH operation); the
//! schemas preserve unknown fields, so validation itself is the server's.

use serde_json::{Map, Value, json};

use crate::resources::{self, ResourceType};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Schema name as upstream spells it (`io.k8s.api.batch.v1.Job`).
fn schema_name(rt: &ResourceType) -> String {
    let g = match rt.group {
        "" => "core",
        "rbac.authorization.k8s.io" => "rbac",
        "coordination.k8s.io" => "coordination",
        other => other,
    };
    format!("io.k8s.api.{g}.{}.{}", rt.version, rt.kind)
}

fn operation(rt: &ResourceType) -> Value {
    let q = |n: &str| json!({"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": true}});
    json!({
        "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "parameters": [q("dryRun"), q("fieldManager"), q("fieldValidation"), q("force")],
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", schema_name(rt))}}}}}
    })
}

/// `GET /openapi/v3`: the index of group-version documents.
pub fn root() -> Value {
    let mut paths = Map::new();
    for (g, v) in resources::group_versions() {
        let p = gv_path(g, v);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=kube-sim-1")}),
        );
    }
    json!({"paths": paths})
}

/// `GET /openapi/v3/{api/v1 | apis/g/v}`.
pub fn group_version(path: &str) -> Option<Value> {
    let (group, version) = match path.split('/').collect::<Vec<_>>().as_slice() {
        ["api", v] => ("", *v),
        ["apis", g, v] => (*g, *v),
        _ => return None,
    };
    let types: Vec<&ResourceType> = resources::ALL
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if types.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for rt in types {
        let base = if rt.namespaced {
            format!("{}/namespaces/{{namespace}}/{}", rt.prefix(), rt.plural)
        } else {
            format!("{}/{}", rt.prefix(), rt.plural)
        };
        paths.insert(base.clone(), json!({"post": operation(rt)}));
        paths.insert(
            format!("{base}/{{name}}"),
            json!({"put": operation(rt), "patch": operation(rt)}),
        );
        schemas.insert(
            schema_name(rt),
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                "x-kubernetes-group-version-kind": [{"group": rt.group, "version": rt.version, "kind": rt.kind}]}),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas}
    }))
}
