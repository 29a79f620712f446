//! The RBAC authorizer of `tests/deploy.rs`: whether a request (as kube-sim's request
//! log has it) is allowed by the Roles, ClusterRoles and their bindings of a set of
//! manifests, as an API server's RBAC authorizer decides; and which rules or write
//! verbs could be dropped with every request still allowed.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// One API request, as kube-sim's request log file has it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Request {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub user_agent: Option<String>,
}

impl Request {
    /// `resource` or `resource/subresource`, as RBAC rules name it.
    pub fn resource_path(&self) -> String {
        match &self.subresource {
            Some(s) => format!("{}/{s}", self.resource),
            None => self.resource.clone(),
        }
    }

    /// What RBAC decides on: verb, group, resource, namespace or cluster scope.
    pub fn kind(&self) -> String {
        let group = if self.group.is_empty() {
            String::new()
        } else {
            format!("{}/", self.group)
        };
        let scope = match &self.namespace {
            Some(ns) => format!("in namespace {ns}"),
            None => "cluster-wide".to_string(),
        };
        let name = match &self.name {
            Some(n) => format!(" ({n})"),
            None => String::new(),
        };
        format!(
            "{} {group}{}{name} {scope}",
            self.verb,
            self.resource_path()
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
    pub resource_names: Vec<String>,
}

/// The strings of a JSON array (none where it is not one).
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

impl Rule {
    pub fn from_json(v: &Value) -> Rule {
        Rule {
            api_groups: strings(&v["apiGroups"]),
            resources: strings(&v["resources"]),
            verbs: strings(&v["verbs"]),
            resource_names: strings(&v["resourceNames"]),
        }
    }

    /// The API server's rule matching: `*` wildcards, `resource/subresource` (a rule
    /// on `pods` does not cover `pods/log`), `*/subresource`, and resourceNames (a
    /// request without a name — list, watch, create — never matches a named rule).
    pub fn allows(&self, r: &Request) -> bool {
        let any = |list: &[String], x: &str| list.iter().any(|e| e == "*" || e == x);
        let resource = r.resource_path();
        let resource_ok = self.resources.iter().any(|e| {
            e == "*"
                || *e == resource
                || r.subresource
                    .as_ref()
                    .is_some_and(|s| *e == format!("*/{s}"))
        });
        let name_ok = self.resource_names.is_empty()
            || r.name
                .as_ref()
                .is_some_and(|n| self.resource_names.contains(n));
        any(&self.verbs, &r.verb) && any(&self.api_groups, &r.group) && resource_ok && name_ok
    }
}

/// Rules granted to one subject, with where they apply.
#[derive(Debug, Clone)]
pub struct Grant {
    /// `Some(ns)`: through a RoleBinding, for requests in that namespace only;
    /// `None`: through a ClusterRoleBinding, in every namespace and cluster-wide.
    pub namespace: Option<String>,
    pub rules: Vec<Rule>,
}

impl Grant {
    pub fn allows(&self, r: &Request) -> bool {
        (self.namespace.is_none() || self.namespace == r.namespace)
            && self.rules.iter().any(|rule| rule.allows(r))
    }
}

#[derive(Debug, Clone)]
pub struct Rbac {
    pub grants: Vec<Grant>,
}

impl Rbac {
    /// What the bindings among `docs` grant the service account `ns/name`.
    pub fn for_service_account(docs: &[Value], ns: &str, name: &str) -> Rbac {
        let rules = |d: &Value| -> Vec<Rule> {
            d["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .map(Rule::from_json)
                .collect()
        };
        let str_of = |v: &Value| v.as_str().unwrap_or("").to_string();
        let mut roles = BTreeMap::new();
        let mut cluster_roles = BTreeMap::new();
        for d in docs {
            let m = &d["metadata"];
            match d["kind"].as_str() {
                Some("Role") => {
                    roles.insert((str_of(&m["namespace"]), str_of(&m["name"])), rules(d));
                }
                Some("ClusterRole") => {
                    cluster_roles.insert(str_of(&m["name"]), rules(d));
                }
                _ => {}
            }
        }
        let binds_us =
            |d: &Value| {
                d["subjects"].as_array().into_iter().flatten().any(|s| {
                    s["kind"] == "ServiceAccount" && s["name"] == name && s["namespace"] == ns
                })
            };
        let mut grants = Vec::new();
        for d in docs.iter().filter(|d| binds_us(d)) {
            let role_ref = &d["roleRef"];
            assert_eq!(
                role_ref["apiGroup"], "rbac.authorization.k8s.io",
                "roleRef.apiGroup of {d}"
            );
            let ref_name = str_of(&role_ref["name"]);
            let binding_ns = str_of(&d["metadata"]["namespace"]);
            let rules = match role_ref["kind"].as_str() {
                Some("Role") => {
                    assert_eq!(
                        d["kind"], "RoleBinding",
                        "only a RoleBinding can refer to a Role"
                    );
                    roles
                        .get(&(binding_ns.clone(), ref_name.clone()))
                        .unwrap_or_else(|| {
                            panic!("RoleBinding refers to a missing Role {binding_ns}/{ref_name}")
                        })
                        .clone()
                }
                Some("ClusterRole") => cluster_roles
                    .get(&ref_name)
                    .unwrap_or_else(|| {
                        panic!("a binding refers to a missing ClusterRole {ref_name}")
                    })
                    .clone(),
                other => panic!("roleRef.kind {other:?}"),
            };
            let namespace = match d["kind"].as_str() {
                Some("RoleBinding") => Some(binding_ns),
                Some("ClusterRoleBinding") => None,
                other => panic!("{other:?} has subjects but is no binding"),
            };
            grants.push(Grant { namespace, rules });
        }
        Rbac { grants }
    }

    pub fn allows(&self, r: &Request) -> bool {
        self.grants.iter().any(|g| g.allows(r))
    }

    /// The requests (by kind) none of the rules allows.
    pub fn denied(&self, requests: &[Request]) -> BTreeSet<String> {
        requests
            .iter()
            .filter(|r| !self.allows(r))
            .map(Request::kind)
            .collect()
    }
}

/// Verbs that change something: each one granted must be needed.
pub const WRITE_VERBS: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];

/// Each rule of `docs`, and each write verb of each rule, that could be dropped with
/// every request of `requests` still allowed: what the manifests grant beyond need.
pub fn superfluous(docs: &[Value], ns: &str, sa: &str, requests: &[Request]) -> Vec<String> {
    let still_allowed = |docs: &[Value]| {
        Rbac::for_service_account(docs, ns, sa)
            .denied(requests)
            .is_empty()
    };
    let mut out = Vec::new();
    for (d, doc) in docs.iter().enumerate() {
        let rules = doc["rules"].as_array().cloned().unwrap_or_default();
        let role = format!(
            "{} {}",
            doc["kind"].as_str().unwrap_or("?"),
            doc["metadata"]["name"].as_str().unwrap_or("?")
        );
        for (i, rule) in rules.iter().enumerate() {
            let mut without = docs.to_vec();
            if let Some(rs) = without[d]["rules"].as_array_mut() {
                rs.remove(i);
            }
            if still_allowed(&without) {
                out.push(format!("{role}: the whole rule {rule}"));
                continue;
            }
            for verb in strings(&rule["verbs"]) {
                if !WRITE_VERBS.contains(&verb.as_str()) {
                    continue;
                }
                let mut without = docs.to_vec();
                if let Some(vs) = without[d]["rules"][i]["verbs"].as_array_mut() {
                    vs.retain(|v| *v != verb.as_str());
                }
                if still_allowed(&without) {
                    out.push(format!("{role}: `{verb}` in {rule}"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::{Value, json};

    use super::*;

    fn request(
        verb: &str,
        group: &str,
        resource: &str,
        sub: Option<&str>,
        ns: Option<&str>,
    ) -> Request {
        Request {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: sub.map(String::from),
            namespace: ns.map(String::from),
            name: Some("x".into()),
            user_agent: None,
        }
    }

    #[test]
    fn the_rule_matcher_scopes_and_names_as_an_api_server_does() {
        let docs: Vec<Value> = serde_saphyr::from_multiple(
            r#"
kind: Role
metadata: {name: r, namespace: panda}
rules:
  - {apiGroups: [""], resources: ["pods"], verbs: ["get", "list"]}
  - {apiGroups: ["apps"], resources: ["deployments/scale"], verbs: ["patch"]}
  - {apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["update"], resourceNames: ["mine"]}
---
kind: RoleBinding
metadata: {name: r, namespace: panda}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}
subjects: [{kind: ServiceAccount, name: sa, namespace: panda}]
---
kind: ClusterRole
metadata: {name: c}
rules:
  - {apiGroups: [""], resources: ["nodes"], verbs: ["list"]}
  - {apiGroups: ["*"], resources: ["*/status"], verbs: ["get"]}
---
kind: ClusterRoleBinding
metadata: {name: c}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: c}
subjects: [{kind: ServiceAccount, name: sa, namespace: panda}]
---
kind: ClusterRoleBinding
metadata: {name: other}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: c}
subjects: [{kind: ServiceAccount, name: someone-else, namespace: panda}]
    "#,
        )
        .expect("yaml");
        let rbac = Rbac::for_service_account(&docs, "panda", "sa");
        let ok = |r: Request| assert!(rbac.allows(&r), "should allow {}", r.kind());
        let no = |r: Request| assert!(!rbac.allows(&r), "should deny {}", r.kind());
        ok(request("get", "", "pods", None, Some("panda")));
        // a Role's rules hold in its namespace only, never cluster-wide
        no(request("get", "", "pods", None, Some("default")));
        no(request("list", "", "pods", None, None));
        // a rule on pods does not cover its subresources
        no(request("get", "", "pods", Some("log"), Some("panda")));
        ok(request(
            "patch",
            "apps",
            "deployments",
            Some("scale"),
            Some("panda"),
        ));
        no(request("patch", "apps", "deployments", None, Some("panda")));
        no(request(
            "get",
            "apps",
            "deployments",
            Some("scale"),
            Some("panda"),
        ));
        // the group counts
        no(request(
            "patch",
            "extensions",
            "deployments",
            Some("scale"),
            Some("panda"),
        ));
        // resourceNames
        let mut lease = request(
            "update",
            "coordination.k8s.io",
            "leases",
            None,
            Some("panda"),
        );
        lease.name = Some("mine".into());
        ok(lease.clone());
        lease.name = Some("theirs".into());
        no(lease.clone());
        lease.name = None;
        no(lease);
        // a ClusterRoleBinding's rules hold cluster-wide and in every namespace
        ok(request("list", "", "nodes", None, None));
        no(request("patch", "", "nodes", None, None));
        ok(request(
            "get",
            "batch",
            "jobs",
            Some("status"),
            Some("kube-system"),
        ));
        no(request("get", "batch", "jobs", None, Some("kube-system")));

        // One rule fewer: the requests it alone allowed are denied, and the dropped
        // rule is reported as needed; a rule no request uses is reported superfluous.
        let requests = vec![
            request("get", "", "pods", None, Some("panda")),
            request("patch", "apps", "deployments", Some("scale"), Some("panda")),
            request("list", "", "nodes", None, None),
        ];
        let mut fewer = docs.clone();
        if let Some(rules) = fewer[0]["rules"].as_array_mut() {
            rules.remove(0);
        }
        assert_eq!(
            Rbac::for_service_account(&fewer, "panda", "sa").denied(&requests),
            BTreeSet::from(["get pods (x) in namespace panda".to_string()])
        );
        let extra = superfluous(&docs, "panda", "sa", &requests);
        assert_eq!(extra.len(), 2, "{extra:#?}");
        assert!(extra[0].starts_with("Role r: the whole rule") && extra[0].contains("leases"));
        assert!(
            extra[1].starts_with("ClusterRole c: the whole rule") && extra[1].contains("status")
        );
        // a write verb no request uses is reported on its own
        let mut wider = docs.clone();
        wider[0]["rules"][0]["verbs"] = json!(["get", "list", "delete"]);
        let extra = superfluous(&wider[..2], "panda", "sa", &requests[..2]);
        assert_eq!(extra.len(), 2, "{extra:#?}");
        assert!(extra[0].contains("`delete`"), "{extra:#?}");
    }
}
