//! The contract's endpoints and configure fields, and the drift between them and what
//! a server publishes at /openapi.json.

use serde_json::Value;

/// (method, path) of every endpoint the contract requires.
pub const ENDPOINTS: &[(&str, &str)] = &[
    ("post", "/configure"),
    ("get", "/metadata/{job_id}"),
    ("get", "/channels"),
    ("get", "/live_metadata"),
    ("post", "/recordings_in_time_range"),
    ("get", "/ack"),
    ("delete", "/job/{job_id}"),
];

/// Wire names of the configure request's fields.
pub const CONFIGURE_FIELDS: &[&str] = &[
    "displayTimeAxisDuration",
    "nfftSelection",
    "displayInfo",
    "channels",
    "frequencyRange",
    "start_time",
    "end_time",
    "view_type",
];

/// Every difference between the published description and the contract.
pub fn drift(openapi: &Value) -> Vec<String> {
    let mut diffs = Vec::new();
    let paths = openapi.get("paths").and_then(Value::as_object);
    for (method, path) in ENDPOINTS {
        // A server behind a prefix may publish the paths with or without it.
        let found = paths.is_some_and(|p| {
            p.iter()
                .any(|(k, v)| (k == path || k.ends_with(path)) && v.get(*method).is_some())
        });
        if !found {
            diffs.push(format!(
                "endpoint {} {path} is not published",
                method.to_uppercase()
            ));
        }
    }
    let schema = configure_schema(openapi);
    match schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    {
        None => diffs.push("the configure request body has no published schema".into()),
        Some(props) => {
            for f in CONFIGURE_FIELDS {
                if !props.contains_key(*f) {
                    diffs.push(format!(
                        "configure field `{f}` is not in the published schema"
                    ));
                }
            }
        }
    }
    diffs
}

/// The schema of `POST /configure`'s JSON body, following one `$ref`.
fn configure_schema(openapi: &Value) -> Option<&Value> {
    let paths = openapi.get("paths")?.as_object()?;
    let op = paths
        .iter()
        .find(|(k, _)| k.ends_with("/configure"))?
        .1
        .get("post")?;
    let schema = op.pointer("/requestBody/content/application~1json/schema")?;
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => openapi.pointer(r.trim_start_matches('#')),
        None => Some(schema),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn published() -> Value {
        let mut paths = serde_json::Map::new();
        for (m, p) in ENDPOINTS {
            let entry = paths.entry(p.to_string()).or_insert(json!({}));
            entry[*m] = json!({});
        }
        paths["/configure"]["post"] = json!({"requestBody": {"content": {"application/json":
            {"schema": {"$ref": "#/components/schemas/ConfigureRequest"}}}}});
        let props: serde_json::Map<String, Value> = CONFIGURE_FIELDS
            .iter()
            .map(|f| (f.to_string(), json!({})))
            .collect();
        json!({"paths": paths, "components": {"schemas": {"ConfigureRequest": {"properties": props}}}})
    }

    #[test]
    fn a_complete_description_has_no_drift() {
        assert_eq!(drift(&published()), Vec::<String>::new());
    }

    #[test]
    fn each_missing_endpoint_and_field_is_reported() {
        let mut p = published();
        p["paths"]
            .as_object_mut()
            .map(|m| m.remove("/job/{job_id}"));
        p["components"]["schemas"]["ConfigureRequest"]["properties"]
            .as_object_mut()
            .map(|m| m.remove("view_type"));
        let d = drift(&p);
        assert_eq!(d.len(), 2, "{d:?}");
    }
}
