//! ResourceQuota accounting: usage of a namespace and the admission check (403).

use crate::podspec::At;
use std::collections::BTreeMap;

use serde_json::Value;

use crate::podspec;
use crate::quantity::Quantity;
use crate::resources::{self, ResourceType};
use crate::store::View;

/// Quota keys a pod contributes to.
pub fn pod_usage(pod: &Value) -> BTreeMap<String, Quantity> {
    let mut u = BTreeMap::new();
    u.insert("pods".to_string(), Quantity::from_units(1));
    u.insert("count/pods".to_string(), Quantity::from_units(1));
    for (k, q) in podspec::requests(pod) {
        if k == "cpu" || k == "memory" || k == "ephemeral-storage" {
            u.insert(k.clone(), q);
        }
        u.insert(format!("requests.{k}"), q);
    }
    for (k, q) in podspec::limits(pod) {
        if !podspec::is_extended(&k) {
            u.insert(format!("limits.{k}"), q);
        }
    }
    u
}

/// Quota keys an object of another counted type contributes to.
pub fn object_usage(rt: &ResourceType) -> BTreeMap<String, Quantity> {
    let mut u = BTreeMap::new();
    let key = if rt.group.is_empty() {
        format!("count/{}", rt.plural)
    } else {
        format!("count/{}.{}", rt.plural, rt.group)
    };
    u.insert(key, Quantity::from_units(1));
    match rt.plural {
        "services" => {
            u.insert("services".to_string(), Quantity::from_units(1));
        }
        "configmaps" => {
            u.insert("configmaps".to_string(), Quantity::from_units(1));
        }
        _ => {}
    }
    u
}

/// Current usage in a namespace (non-terminal pods; every other counted object).
pub fn namespace_usage(view: &View<'_>, ns: &str) -> BTreeMap<String, Quantity> {
    let mut total: BTreeMap<String, Quantity> = BTreeMap::new();
    for pod in view.list(&resources::PODS, Some(ns)) {
        if podspec::is_terminal(pod) {
            continue;
        }
        for (k, q) in pod_usage(pod) {
            *total.entry(k).or_default() += q;
        }
    }
    for rt in [
        resources::JOBS,
        resources::SERVICES,
        resources::CONFIG_MAPS,
        resources::DEPLOYMENTS,
    ] {
        let n = view.list(&rt, Some(ns)).len() as i64;
        for (k, _) in object_usage(&rt) {
            *total.entry(k).or_default() += Quantity::from_units(n);
        }
    }
    total
}

/// Render a quota quantity the way upstream prints it for that key.
fn render(key: &str, q: &Quantity) -> String {
    if key.contains("memory") || key.contains("storage") {
        q.render_bytes()
    } else {
        q.render()
    }
}

fn hard(quota: &Value) -> BTreeMap<String, Quantity> {
    quota
        .at("/spec/hard")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let q = match v {
                        Value::String(s) => Quantity::parse(s).ok()?,
                        Value::Number(n) => Quantity::from_units(n.as_i64()?),
                        _ => return None,
                    };
                    Some((k.clone(), q))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The `exceeded quota: ...` detail when adding `delta` would exceed a quota.
pub fn check(
    quotas: &[&Value],
    used: &BTreeMap<String, Quantity>,
    delta: &BTreeMap<String, Quantity>,
) -> Result<(), String> {
    for quota in quotas {
        let hard = hard(quota);
        let mut requested = Vec::new();
        let mut usedv = Vec::new();
        let mut limited = Vec::new();
        for (k, limit) in &hard {
            let Some(d) = delta.get(k) else { continue };
            let u = used.get(k).copied().unwrap_or_default();
            if u + *d > *limit {
                requested.push(format!("{k}={}", render(k, d)));
                usedv.push(format!("{k}={}", render(k, &u)));
                limited.push(format!("{k}={}", render(k, limit)));
            }
        }
        if !requested.is_empty() {
            return Err(format!(
                "exceeded quota: {}, requested: {}, used: {}, limited: {}",
                podspec::name(quota),
                requested.join(","),
                usedv.join(","),
                limited.join(",")
            ));
        }
    }
    Ok(())
}

/// `status.used` for a quota: only the keys it limits.
pub fn used_for(
    quota: &Value,
    usage: &BTreeMap<String, Quantity>,
) -> serde_json::Map<String, Value> {
    hard(quota)
        .keys()
        .map(|k| {
            let q = usage.get(k).copied().unwrap_or_default();
            (k.clone(), Value::String(render(k, &q)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exceeded_message_matches_upstream_shape() {
        let q = json!({"metadata": {"name": "q"}, "spec": {"hard": {"requests.nvidia.com/gpu.shared": "2"}}});
        let pod = json!({"spec": {"containers": [{"resources": {"limits": {"nvidia.com/gpu.shared": "1"}}}]}});
        let delta = pod_usage(&pod);
        let mut used = BTreeMap::new();
        used.insert(
            "requests.nvidia.com/gpu.shared".to_string(),
            Quantity::from_units(2),
        );
        let e = check(&[&q], &used, &delta).expect_err("exceeds");
        assert_eq!(
            e,
            "exceeded quota: q, requested: requests.nvidia.com/gpu.shared=1, used: requests.nvidia.com/gpu.shared=2, limited: requests.nvidia.com/gpu.shared=2"
        );
        used.insert(
            "requests.nvidia.com/gpu.shared".to_string(),
            Quantity::from_units(1),
        );
        assert!(check(&[&q], &used, &delta).is_ok());
    }
}
