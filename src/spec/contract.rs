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
    match configure_schema(openapi).map(|s| properties(openapi, s, 0)) {
        None => diffs.push("the configure request body has no published schema".into()),
        Some(props) => {
            for f in CONFIGURE_FIELDS {
                if !props.contains(*f) {
                    diffs.push(format!(
                        "configure field `{f}` is not in the published schema"
                    ));
                }
            }
        }
    }
    diffs
}

/// The schema of `POST /configure`'s JSON body.
fn configure_schema(openapi: &Value) -> Option<&Value> {
    let paths = openapi.get("paths")?.as_object()?;
    let op = paths
        .iter()
        .find(|(k, _)| k.ends_with("/configure"))?
        .1
        .get("post")?;
    op.pointer("/requestBody/content/application~1json/schema")
}

/// Property names of a schema: its own, those behind `$ref`, and the union over
/// `oneOf`/`anyOf`/`allOf` members (a body may have one shape per view type).
fn properties(openapi: &Value, schema: &Value, depth: usize) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    if depth > 16 {
        return out;
    }
    if let Some(r) = schema.get("$ref").and_then(Value::as_str)
        && let Some(target) = openapi.pointer(r.trim_start_matches('#'))
    {
        out.extend(properties(openapi, target, depth + 1));
    }
    if let Some(p) = schema.get("properties").and_then(Value::as_object) {
        out.extend(p.keys().cloned());
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        for member in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.extend(properties(openapi, member, depth + 1));
        }
    }
    out
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
    fn fields_are_found_across_one_of_shapes() {
        let mut p = published();
        let props = p["components"]["schemas"]["ConfigureRequest"]["properties"].clone();
        p["components"]["schemas"]["ConfigureRequest"] = json!({"oneOf": [
            {"$ref": "#/components/schemas/A"}, {"properties": {"view_type": {}}}]});
        let mut a = props;
        a.as_object_mut().map(|m| m.remove("view_type"));
        p["components"]["schemas"]["A"] = json!({"properties": a});
        assert_eq!(drift(&p), Vec::<String>::new());
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
