//! The resource types kube-sim serves: group, version, plural, kind and scope.

/// Static description of one API resource (`group/version/plural`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceType {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// Has a `/status` subresource: main writes keep status, status writes keep the rest.
    pub has_status: bool,
}

impl ResourceType {
    /// `apiVersion` of objects of this type (`v1`, `batch/v1`).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `jobs.batch` / `pods`, as used in error messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `/api/v1` or `/apis/batch/v1`.
    pub fn prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }
}

#[allow(clippy::too_many_arguments)]
const fn rt(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    has_status: bool,
) -> ResourceType {
    ResourceType {
        group,
        version,
        plural,
        singular,
        kind,
        namespaced,
        short_names,
        has_status,
    }
}

pub const NAMESPACES: ResourceType = rt(
    "",
    "v1",
    "namespaces",
    "namespace",
    "Namespace",
    false,
    &["ns"],
    true,
);
pub const NODES: ResourceType = rt("", "v1", "nodes", "node", "Node", false, &["no"], true);
pub const PODS: ResourceType = rt("", "v1", "pods", "pod", "Pod", true, &["po"], true);
pub const SERVICES: ResourceType = rt(
    "",
    "v1",
    "services",
    "service",
    "Service",
    true,
    &["svc"],
    true,
);
pub const EVENTS: ResourceType = rt("", "v1", "events", "event", "Event", true, &["ev"], false);
pub const RESOURCE_QUOTAS: ResourceType = rt(
    "",
    "v1",
    "resourcequotas",
    "resourcequota",
    "ResourceQuota",
    true,
    &["quota"],
    true,
);
pub const SERVICE_ACCOUNTS: ResourceType = rt(
    "",
    "v1",
    "serviceaccounts",
    "serviceaccount",
    "ServiceAccount",
    true,
    &["sa"],
    false,
);
pub const CONFIG_MAPS: ResourceType = rt(
    "",
    "v1",
    "configmaps",
    "configmap",
    "ConfigMap",
    true,
    &["cm"],
    false,
);
pub const SECRETS: ResourceType = rt("", "v1", "secrets", "secret", "Secret", true, &[], false);
pub const JOBS: ResourceType = rt("batch", "v1", "jobs", "job", "Job", true, &[], true);
pub const DEPLOYMENTS: ResourceType = rt(
    "apps",
    "v1",
    "deployments",
    "deployment",
    "Deployment",
    true,
    &["deploy"],
    true,
);
pub const LEASES: ResourceType = rt(
    "coordination.k8s.io",
    "v1",
    "leases",
    "lease",
    "Lease",
    true,
    &[],
    false,
);
pub const ROLES: ResourceType = rt(
    "rbac.authorization.k8s.io",
    "v1",
    "roles",
    "role",
    "Role",
    true,
    &[],
    false,
);
pub const ROLE_BINDINGS: ResourceType = rt(
    "rbac.authorization.k8s.io",
    "v1",
    "rolebindings",
    "rolebinding",
    "RoleBinding",
    true,
    &[],
    false,
);
pub const CLUSTER_ROLES: ResourceType = rt(
    "rbac.authorization.k8s.io",
    "v1",
    "clusterroles",
    "clusterrole",
    "ClusterRole",
    false,
    &[],
    false,
);
pub const CLUSTER_ROLE_BINDINGS: ResourceType = rt(
    "rbac.authorization.k8s.io",
    "v1",
    "clusterrolebindings",
    "clusterrolebinding",
    "ClusterRoleBinding",
    false,
    &[],
    false,
);

/// Every served resource type.
pub const ALL: &[ResourceType] = &[
    NAMESPACES,
    NODES,
    PODS,
    SERVICES,
    EVENTS,
    RESOURCE_QUOTAS,
    SERVICE_ACCOUNTS,
    CONFIG_MAPS,
    SECRETS,
    JOBS,
    DEPLOYMENTS,
    LEASES,
    ROLES,
    ROLE_BINDINGS,
    CLUSTER_ROLES,
    CLUSTER_ROLE_BINDINGS,
];

/// Look a resource type up by group, version and plural.
pub fn lookup(group: &str, version: &str, plural: &str) -> Option<ResourceType> {
    ALL.iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
        .copied()
}

/// Look a resource type up by `apiVersion` and `kind` (for ownerReferences).
pub fn by_kind(api_version: &str, kind: &str) -> Option<ResourceType> {
    ALL.iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
        .copied()
}

/// The distinct `(group, version)` pairs served.
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for r in ALL {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}
