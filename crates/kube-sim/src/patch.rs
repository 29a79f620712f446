//! Patch formats: JSON merge patch, JSON patch, strategic merge patch (approximation:
//! lists of objects merge by their key, `$` directives honoured or dropped) and
//! server-side apply bodies (JSON), which are merged like a strategic merge patch.

use serde_json::Value;

use crate::status::ApiError;

/// Patch content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Result<Self, ApiError> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchType::Apply),
            _ => Err(ApiError::UnsupportedMediaType),
        }
    }
}

/// Keys by which list elements are matched in a strategic merge.
const MERGE_KEYS: &[&str] = &[
    "name",
    "containerPort",
    "port",
    "mountPath",
    "type",
    "uid",
    "ip",
    "devicePath",
];

/// Lists of scalars merged as sets.
const SET_LISTS: &[&str] = &["finalizers"];

fn merge_key(items: &[Value]) -> Option<&'static str> {
    let first = items.first()?.as_object()?;
    MERGE_KEYS.iter().copied().find(|k| first.contains_key(*k))
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// Strategic merge of `patch` into `target`.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    let Some(pm) = patch.as_object() else {
        *target = strip_directives(patch);
        return;
    };
    if pm.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = strip_directives(patch);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    for (k, v) in pm {
        if k.starts_with('$') {
            continue;
        }
        let Some(tm) = target.as_object_mut() else {
            return;
        };
        match v {
            Value::Null => {
                tm.remove(k);
            }
            Value::Array(items) => {
                let existing = tm.get_mut(k).and_then(Value::as_array_mut);
                match (existing, merge_key(items)) {
                    (Some(cur), Some(key)) => {
                        for item in items {
                            let id = item.get(key).cloned();
                            let pos = cur.iter().position(|c| c.get(key) == id.as_ref());
                            let delete =
                                item.get("$patch").and_then(Value::as_str) == Some("delete");
                            match (pos, delete) {
                                (Some(i), true) => {
                                    cur.remove(i);
                                }
                                (Some(i), false) => strategic_merge(&mut cur[i], item),
                                (None, false) => cur.push(strip_directives(item)),
                                (None, true) => {}
                            }
                        }
                    }
                    (Some(cur), None) if SET_LISTS.contains(&k.as_str()) => {
                        for item in items {
                            if !cur.contains(item) {
                                cur.push(item.clone());
                            }
                        }
                    }
                    _ => {
                        tm.insert(k.clone(), strip_directives(v));
                    }
                }
            }
            Value::Object(_) => {
                let entry = tm.entry(k.clone()).or_insert(Value::Null);
                strategic_merge(entry, v);
            }
            other => {
                tm.insert(k.clone(), other.clone());
            }
        }
    }
}

/// Apply a patch body of the given type to a copy of `current`.
pub fn apply(current: &Value, ty: PatchType, body: &[u8]) -> Result<Value, ApiError> {
    let mut doc = current.clone();
    match ty {
        PatchType::Json => {
            let p: json_patch::Patch = serde_json::from_slice(body).map_err(|e| {
                ApiError::BadRequest(format!(
                    "the server rejected our request due to an error in our request: {e}"
                ))
            })?;
            json_patch::patch(&mut doc, &p).map_err(|e| ApiError::Invalid {
                group: String::new(),
                kind: String::new(),
                name: String::new(),
                causes: vec![crate::status::Cause {
                    field: String::new(),
                    message: e.to_string(),
                    reason: "FieldValueInvalid",
                }],
            })?;
        }
        PatchType::Merge => {
            let p: Value = parse_body(body)?;
            json_patch::merge(&mut doc, &p);
        }
        PatchType::Strategic | PatchType::Apply => {
            let p: Value = parse_body(body)?;
            strategic_merge(&mut doc, &p);
        }
    }
    Ok(doc)
}

/// Parse a JSON request body into a value, answering 400 on malformed input.
pub fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the object provided is unrecognized or malformed: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_containers_by_name() {
        let mut t = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}});
        strategic_merge(
            &mut t,
            &json!({"$setElementOrder/containers": [], "spec": {"containers": [{"name": "b", "image": "2"}, {"name": "a", "$patch": "delete"}]}}),
        );
        assert_eq!(
            t,
            json!({"spec": {"containers": [{"name": "b", "image": "2"}]}})
        );
    }

    #[test]
    fn merge_and_json_patch() {
        let cur = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        let m = apply(
            &cur,
            PatchType::Merge,
            br#"{"metadata":{"labels":{"a":null,"c":"3"}}}"#,
        )
        .expect("merge");
        assert_eq!(m, json!({"metadata": {"labels": {"b": "2", "c": "3"}}}));
        let j = apply(
            &cur,
            PatchType::Json,
            br#"[{"op":"replace","path":"/metadata/labels/a","value":"9"}]"#,
        )
        .expect("json");
        assert_eq!(j["metadata"]["labels"]["a"], "9");
        assert!(PatchType::from_content_type("text/plain").is_err());
    }
}
