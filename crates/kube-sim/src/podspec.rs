//! Reading pods: effective resource requests, phase, ownership.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::quantity::Quantity;

/// Allocation-free JSON pointer lookup (`serde_json::Value::pointer` allocates per
/// segment, which dominates hot controller loops).
pub trait At {
    fn at(&self, pointer: &str) -> Option<&Value>;
}

impl At for Value {
    fn at(&self, pointer: &str) -> Option<&Value> {
        if pointer.is_empty() {
            return Some(self);
        }
        let mut cur = self;
        for seg in pointer.strip_prefix('/')?.split('/') {
            cur = match cur {
                Value::Object(m) => m.get(seg)?,
                Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(cur)
    }
}

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
    if let Some(cs) = pod.at("/spec/containers").and_then(Value::as_array) {
        for c in cs {
            for (k, q) in container_requests(c) {
                *sum.entry(k).or_default() += q;
            }
        }
    }
    if let Some(cs) = pod.at("/spec/initContainers").and_then(Value::as_array) {
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
    if let Some(cs) = pod.at("/spec/containers").and_then(Value::as_array) {
        for c in cs {
            if let Some(m) = c.at("/resources/limits").and_then(Value::as_object) {
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
    pod.at("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Pending")
}

/// Succeeded or Failed.
pub fn is_terminal(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

pub fn node_name(pod: &Value) -> Option<&str> {
    pod.at("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Not yet force-deleted (no `deletionGracePeriodSeconds: 0`).
pub fn not_force_deleted(obj: &Value) -> bool {
    obj.at("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64)
        .is_none_or(|g| g > 0)
}

pub fn is_deleting(obj: &Value) -> bool {
    obj.at("/metadata/deletionTimestamp").is_some()
}

pub fn uid(obj: &Value) -> &str {
    obj.at("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn name(obj: &Value) -> &str {
    obj.at("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn namespace(obj: &Value) -> &str {
    obj.at("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.at("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// UID of the controlling owner (`controller: true`), if any.
pub fn controller_uid(obj: &Value) -> Option<&str> {
    obj.at("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r["controller"].as_bool() == Some(true))
        .and_then(|r| r["uid"].as_str())
}

/// UIDs of all owners.
pub fn owner_uids(obj: &Value) -> Vec<&str> {
    obj.at("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|r| r["uid"].as_str()).collect())
        .unwrap_or_default()
}

pub fn has_finalizer(obj: &Value, f: &str) -> bool {
    obj.at("/metadata/finalizers")
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

/// A node is Ready when its `Ready` condition is `True`.
pub fn node_ready(node: &Value) -> bool {
    node.at("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .is_some_and(|c| c["status"] == "True")
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
