//! Reading pods: effective resource requests, phase, ownership.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::quantity::Quantity;

/// Extended resources are domain-prefixed names outside `kubernetes.io/`.
pub fn is_extended(name: &str) -> bool {
    name.contains('/') && !name.starts_with("kubernetes.io/") && !name.starts_with("hugepages-")
}

fn container_requests(c: &Value) -> BTreeMap<String, Quantity> {
    let mut out = BTreeMap::new();
    let res = &c["resources"];
    // limits stand in for missing requests (upstream defaulting)
    for source in [&res["limits"], &res["requests"]] {
        if let Some(m) = source.as_object() {
            for (k, v) in m {
                let q = match v {
                    Value::String(s) => Quantity::parse(s).unwrap_or_default(),
                    Value::Number(n) => n.as_i64().map(Quantity::from_units).unwrap_or_default(),
                    _ => Quantity::ZERO,
                };
                out.insert(k.clone(), q);
            }
        }
    }
    out
}

/// Effective requests: max(Σ containers, max init container), per resource.
pub fn requests(pod: &Value) -> BTreeMap<String, Quantity> {
    let mut sum: BTreeMap<String, Quantity> = BTreeMap::new();
    if let Some(cs) = pod.pointer("/spec/containers").and_then(Value::as_array) {
        for c in cs {
            for (k, q) in container_requests(c) {
                *sum.entry(k).or_default() += q;
            }
        }
    }
    if let Some(cs) = pod
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
    {
        for c in cs {
            for (k, q) in container_requests(c) {
                let e = sum.entry(k).or_default();
                if q > *e {
                    *e = q;
                }
            }
        }
    }
    sum
}

/// Limits summed over containers.
pub fn limits(pod: &Value) -> BTreeMap<String, Quantity> {
    let mut sum: BTreeMap<String, Quantity> = BTreeMap::new();
    if let Some(cs) = pod.pointer("/spec/containers").and_then(Value::as_array) {
        for c in cs {
            if let Some(m) = c.pointer("/resources/limits").and_then(Value::as_object) {
                for (k, v) in m {
                    let q = v
                        .as_str()
                        .and_then(|s| Quantity::parse(s).ok())
                        .unwrap_or_default();
                    *sum.entry(k.clone()).or_default() += q;
                }
            }
        }
    }
    sum
}

pub fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Pending")
}

/// Succeeded or Failed.
pub fn is_terminal(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

pub fn node_name(pod: &Value) -> Option<&str> {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

pub fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some()
}

pub fn uid(obj: &Value) -> &str {
    obj.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn name(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn namespace(obj: &Value) -> &str {
    obj.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// UID of the controlling owner (`controller: true`), if any.
pub fn controller_uid(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r["controller"].as_bool() == Some(true))
        .and_then(|r| r["uid"].as_str())
}

/// UIDs of all owners.
pub fn owner_uids(obj: &Value) -> Vec<&str> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|r| r["uid"].as_str()).collect())
        .unwrap_or_default()
}

pub fn has_finalizer(obj: &Value, f: &str) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(f)))
}

/// Remove one finalizer from an object (in place).
pub fn remove_finalizer(obj: &mut Value, f: &str) {
    if let Some(a) = obj
        .pointer_mut("/metadata/finalizers")
        .and_then(Value::as_array_mut)
    {
        a.retain(|x| x.as_str() != Some(f));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn effective_requests() {
        let pod = json!({"spec": {
            "containers": [
                {"resources": {"limits": {"nvidia.com/gpu.shared": "1"}}},
                {"resources": {"requests": {"cpu": "250m"}}},
                {"resources": {"requests": {"cpu": "250m", "memory": "1Gi"}}}
            ],
            "initContainers": [{"resources": {"requests": {"cpu": "2"}}}]
        }});
        let r = requests(&pod);
        assert_eq!(r["nvidia.com/gpu.shared"], Quantity::from_units(1));
        assert_eq!(r["cpu"], Quantity::from_units(2));
        assert_eq!(r["memory"], Quantity::from_units(1 << 30));
    }
}
