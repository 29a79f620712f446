//! The profile's shape: every section of `config/<name>.toml` as typed, with its
//! defaults. Loading, overrides and validation are in `config.rs`, which re-exports
//! these types.
//!
//! Size: declarations — every profile section with its serde defaults, and the two
//! value types sections parse into (`TmsTemplate`, `MemoryBound`).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What the suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// Start the embedded focus-sandbox (with its own simulated cluster) and use only it.
    Sandbox,
    /// A Focus Server and cluster that already exist (DEV, staging, production).
    Remote,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub kind: TargetKind,
    /// Base URL of the Focus Server API, with its path prefix (remote only).
    #[serde(default)]
    pub api_url: Option<String>,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Kubeconfig file (remote only). A remote profile names its cluster by this, by
    /// `kube_context`, or by `in_cluster`: the ambient kubectl context is never used.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// A context of the kubeconfig (`kubeconfig`, else KUBECONFIG / ~/.kube/config).
    #[serde(default)]
    pub kube_context: Option<String>,
    /// The run is a pod of the cluster: its service account's token and CA.
    #[serde(default, skip_serializing_if = "is_false")]
    pub in_cluster: bool,
    /// The API server URL the profile expects; the run compares it with the server its
    /// kubeconfig/context leads to before the first request, and stops on a mismatch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_server: Option<String>,
    /// Verify the ingress' TLS certificate. Keep it on and name the private CA that
    /// signed the ingress' certificate in `tls_ca`.
    #[serde(default = "yes")]
    pub tls_verify: bool,
    /// A PEM file of CA certificates trusted for Focus Server (relative to the config
    /// directory), on top of the system roots; hostnames are verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
    /// How an investigation is cancelled: `endpoint` (`DELETE /job/{job_id}`) where the
    /// server has one, else `kubernetes` (delete its three objects by exact name).
    #[serde(default = "default_cancel")]
    pub cancel: CancelMethod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultDriver {
    Sandbox,
    Kubernetes,
    None,
}

impl FaultDriver {
    /// Whether this driver can inject faults of the given kind (`sandbox`, `kubernetes`).
    pub fn can(self, kind: &str) -> bool {
        match self {
            FaultDriver::Sandbox => kind == "sandbox" || kind == "kubernetes",
            FaultDriver::Kubernetes => kind == "kubernetes",
            FaultDriver::None => false,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FaultDriver::Sandbox => "sandbox",
            FaultDriver::Kubernetes => "kubernetes",
            FaultDriver::None => "none",
        }
    }
}

fn default_faults() -> FaultDriver {
    FaultDriver::None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CancelMethod {
    Endpoint,
    Kubernetes,
}

impl CancelMethod {
    /// How the reports name the cancel path a run took.
    pub fn describe(self) -> &'static str {
        match self {
            CancelMethod::Endpoint => {
                "endpoint: DELETE /job/{job_id}, the server removes the objects"
            }
            CancelMethod::Kubernetes => {
                "kubernetes: the suite deletes the objects, the server's reaction is checked"
            }
        }
    }
}

fn default_cancel() -> CancelMethod {
    CancelMethod::Kubernetes
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSettings {
    /// `as-required` (the contract's required behaviour) or `as-observed`.
    #[serde(default = "default_sandbox_profile")]
    pub profile: String,
    /// Named defects to inject (kebab-case names of focus-sandbox's catalogue).
    #[serde(default)]
    pub defects: Vec<String>,
    /// A kube-sim cluster shape (TOML), relative to the config directory.
    #[serde(default)]
    pub cluster: Option<PathBuf>,
    /// How long the sandbox's cleanup job waits for a client before the investigation
    /// is removed (whole seconds; the real server: ~50 s).
    #[serde(with = "humantime", default = "default_idle_timeout")]
    pub idle_timeout: Duration,
    /// The idle time the idle-removal scenario gives its own investigation through the
    /// sandbox control API (`faults = "sandbox"`; whole seconds), so it waits seconds
    /// while every other investigation keeps `idle_timeout`.
    #[serde(with = "humantime", default = "default_scenario_idle_timeout")]
    pub scenario_idle_timeout: Duration,
}

fn default_scenario_idle_timeout() -> Duration {
    Duration::from_secs(2)
}

fn default_idle_timeout() -> Duration {
    Duration::from_secs(50)
}

impl Default for SandboxSettings {
    fn default() -> Self {
        SandboxSettings {
            profile: default_sandbox_profile(),
            defects: Vec::new(),
            cluster: None,
            idle_timeout: default_idle_timeout(),
            scenario_idle_timeout: default_scenario_idle_timeout(),
        }
    }
}

/// Per-operation deadlines. Every wait of the suite uses one of these.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deadlines {
    /// One HTTP request to Focus Server, or one Kubernetes API call.
    #[serde(with = "humantime")]
    pub request: Duration,
    /// A Kubernetes object the server should have created becomes visible.
    #[serde(with = "humantime")]
    pub object_appears: Duration,
    /// An investigation's pod reaches Running.
    #[serde(with = "humantime")]
    pub pod_running: Duration,
    /// An investigation's stream port accepts TCP.
    #[serde(with = "humantime")]
    pub port_reachable: Duration,
    /// Deleted objects (and their pods) are gone.
    #[serde(with = "humantime")]
    pub deletion: Duration,
    /// Starting the embedded sandbox, or the first answer of a remote target.
    #[serde(with = "humantime")]
    pub startup: Duration,
    /// An investigation nobody connects to is removed by its cleanup job: the server's
    /// idle time plus the removal (contract: ~50 s on the real server).
    #[serde(with = "humantime", default = "default_idle_removal")]
    pub idle_removal: Duration,
    /// The whole run: past it, the run stops, cleans up and exits 5.
    #[serde(with = "humantime", default = "default_run_deadline")]
    pub run: Duration,
    /// A configure waits this long for the run to hold fewer investigations than
    /// `limits.max_held_investigations`.
    #[serde(with = "humantime", default = "default_held_wait")]
    pub held_wait: Duration,
    /// The run lock (a Lease) expires this long after its holder's last renewal.
    #[serde(with = "humantime", default = "default_lease")]
    pub lease: Duration,
    /// How long a run waits for another run's lock before giving up (exit 4).
    #[serde(with = "humantime", default = "default_lock_wait")]
    pub lock_wait: Duration,
}

fn default_idle_removal() -> Duration {
    Duration::from_secs(180)
}
fn default_run_deadline() -> Duration {
    Duration::from_secs(30 * 60)
}
fn default_held_wait() -> Duration {
    Duration::from_secs(60)
}
fn default_lease() -> Duration {
    Duration::from_secs(30)
}
fn default_lock_wait() -> Duration {
    Duration::ZERO
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Human description shown in reports.
    #[serde(default)]
    pub description: String,
    /// Destructive scenarios are refused unless the run allows them explicitly.
    pub protected: bool,
    /// The environment belongs to this run alone (the sandbox, a dedicated DEV).
    pub exclusive: bool,
    pub target: Target,
    /// What can inject faults here: `sandbox` (its control API and the cluster),
    /// `kubernetes` (quota, NodePort holders, cordon, deleting our own pods), `none`.
    #[serde(default = "default_faults")]
    pub faults: FaultDriver,
    /// The Deployment whose scale to 0 cuts the live stream (the `kubernetes` fault
    /// driver's way to run the no-live-stream scenario on a real environment).
    #[serde(default)]
    pub live_stream_deployment: Option<String>,
    /// Tag expression applied when the run names none (production: `@readonly`).
    #[serde(default)]
    pub default_tags: Option<String>,
    #[serde(default)]
    pub sandbox: SandboxSettings,
    pub deadlines: Deadlines,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default)]
    pub reports: Reports,
    /// What this environment's investigations must get where the contract leaves the
    /// value to the environment (a scenario whose key is unset fails, naming it).
    #[serde(default)]
    pub expect: Expect,
}

/// What the reports link to.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reports {
    /// URL of a Jira key in the test management system, with `{key}` where the key
    /// goes: `@PZ-…` tags become Allure `tms` links, the register's Jira keys `issue` links.
    #[serde(default)]
    pub tms_url: Option<TmsTemplate>,
}

/// Footprint values the environment's profile states (`[expect]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The volume mounted at the recordings path.
    #[serde(default)]
    pub recordings_volume: Option<RecordingsVolume>,
    /// Memory request of the stream container: `"2Gi"` exactly, or bounds `"1Gi..32Gi"`.
    #[serde(default)]
    pub memory_request: Option<String>,
    /// Memory limit of the stream container, as `memory_request`.
    #[serde(default)]
    pub memory_limit: Option<String>,
    /// The server's words (a regular expression over the error message) when it
    /// refuses a configure because a quota or resource is exhausted.
    #[serde(default)]
    pub quota_refusal: Option<String>,
}

/// The recordings volume an investigation's pod must mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum RecordingsVolume {
    /// A hostPath volume of this path on the node.
    #[serde(rename = "hostPath")]
    HostPath { path: String },
    /// A PersistentVolumeClaim of this name.
    #[serde(rename = "pvc")]
    Pvc { claim: String },
}

impl std::fmt::Display for RecordingsVolume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordingsVolume::HostPath { path } => write!(f, "hostPath {path}"),
            RecordingsVolume::Pvc { claim } => write!(f, "PVC {claim}"),
        }
    }
}

/// Capacity expectations and how hard the run may push.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Investigations required in parallel (the PNDS requirement).
    #[serde(default = "default_parallel")]
    pub parallel_investigations: usize,
    /// Configures the capacity scenario keeps in flight at once.
    #[serde(default = "default_client_concurrency")]
    pub client_concurrency: usize,
    /// Concurrent clients of the API-under-load scenario.
    #[serde(default = "default_concurrent_clients")]
    pub concurrent_clients: usize,
    /// Investigations the latency scenario opens.
    #[serde(default = "default_latency_samples")]
    pub latency_samples: usize,
    /// Slots (stream ports 12300 + 1..=slots) the environment has.
    #[serde(default = "default_parallel")]
    pub stream_slots: usize,
    /// How long the long-running churn lasts (seconds on the sandbox, hours on staging).
    #[serde(with = "humantime", default = "default_soak_duration")]
    pub soak_duration: Duration,
    /// Clients of the churn, each opening and cancelling investigations in turn.
    #[serde(default = "default_soak_workers")]
    pub soak_workers: usize,
    /// Investigations the run may hold at once (opened and not yet cleaned up), across
    /// all scenarios: a configure waits for room (`deadlines.held_wait`).
    #[serde(default = "default_max_held")]
    pub max_held_investigations: usize,
}

fn default_max_held() -> usize {
    220
}

fn default_soak_duration() -> Duration {
    Duration::from_secs(10)
}
fn default_soak_workers() -> usize {
    4
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            parallel_investigations: default_parallel(),
            client_concurrency: default_client_concurrency(),
            concurrent_clients: default_concurrent_clients(),
            latency_samples: default_latency_samples(),
            stream_slots: default_parallel(),
            soak_duration: default_soak_duration(),
            soak_workers: default_soak_workers(),
            max_held_investigations: default_max_held(),
        }
    }
}

fn default_parallel() -> usize {
    200
}
fn default_client_concurrency() -> usize {
    16
}
fn default_concurrent_clients() -> usize {
    32
}
fn default_latency_samples() -> usize {
    20
}

/// SLO-style bounds. On the sandbox they are coarse (≥ 10× the measured median), so
/// they never flake, and the defects that should trip them exceed them by far.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// p99 of POST /configure latency.
    #[serde(with = "humantime", default = "default_configure_p99")]
    pub configure_p99: Duration,
    /// p99 of configure answered → investigation pod Running (seen by watch).
    #[serde(with = "humantime", default = "default_pod_start_p99")]
    pub pod_start_p99: Duration,
    /// How much worse the last window's configure p99 may be than the first's.
    #[serde(default = "default_drift_factor")]
    pub latency_drift_factor: f64,
}

fn default_drift_factor() -> f64 {
    10.0
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            configure_p99: default_configure_p99(),
            pod_start_p99: default_pod_start_p99(),
            latency_drift_factor: default_drift_factor(),
        }
    }
}

fn default_configure_p99() -> Duration {
    Duration::from_secs(1)
}
fn default_pod_start_p99() -> Duration {
    Duration::from_secs(5)
}

fn yes() -> bool {
    true
}
fn is_false(b: &bool) -> bool {
    !*b
}
fn default_namespace() -> String {
    "panda".to_string()
}
fn default_sandbox_profile() -> String {
    "as-required".to_string()
}

/// Durations written as `250ms`, `10s`, `2m` or `1h`.
pub mod humantime {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn parse(s: &str) -> Result<Duration, String> {
        let s = s.trim();
        let split = s
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(|| format!("`{s}` has no unit (ms, s, m, h)"))?;
        let (num, unit) = s.split_at(split);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("`{s}` does not start with a number"))?;
        let secs = match unit {
            "ms" => n / 1000.0,
            "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            other => return Err(format!("`{other}` is not a unit (ms, s, m, h)")),
        };
        Duration::try_from_secs_f64(secs).map_err(|e| format!("`{s}`: {e}"))
    }

    pub fn format(d: &Duration) -> String {
        let ms = d.as_millis();
        if ms.is_multiple_of(1000) {
            format!("{}s", ms / 1000)
        } else {
            format!("{ms}ms")
        }
    }

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The TMS link of a Jira key: `reports.tms_url` of the profile, a URL with `{key}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TmsTemplate(String);

impl TryFrom<String> for TmsTemplate {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if !(s.starts_with("https://") || s.starts_with("http://")) {
            return Err(format!(
                "reports.tms_url: `{s}` is not an http(s) URL (e.g. \"https://jira.example.com/browse/{{key}}\")"
            ));
        }
        if s.matches("{key}").count() != 1 {
            return Err(format!(
                "reports.tms_url: `{s}` must contain `{{key}}` exactly once, where the Jira key (PZ-13984) goes"
            ));
        }
        if s.chars().any(char::is_whitespace) {
            return Err(format!("reports.tms_url: `{s}` contains whitespace"));
        }
        Ok(TmsTemplate(s))
    }
}

impl From<TmsTemplate> for String {
    fn from(t: TmsTemplate) -> String {
        t.0
    }
}

impl TmsTemplate {
    pub fn url(&self, key: &str) -> String {
        self.0.replace("{key}", key)
    }
}

/// A memory quantity in bytes (`2Gi`, `512Mi`, `2G`, `1.5Gi`, `1048576`).
pub fn memory_bytes(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let n: f64 = number.parse().ok()?;
    let unit: f64 = match suffix {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        _ => return None,
    };
    Some(n * unit)
}

/// An expected memory quantity: exact (`"2Gi"`) or inclusive bounds (`"1Gi..32Gi"`).
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryBound {
    min: f64,
    max: f64,
    text: String,
}

impl MemoryBound {
    pub fn parse(text: &str) -> Result<MemoryBound, String> {
        let q = |s: &str| {
            memory_bytes(s).ok_or_else(|| {
                format!("`{s}` is not a memory quantity (e.g. 2Gi, 512Mi, or bounds 1Gi..32Gi)")
            })
        };
        let (min, max) = match text.split_once("..") {
            Some((lo, hi)) => (q(lo)?, q(hi)?),
            None => (q(text)?, q(text)?),
        };
        if min > max {
            return Err(format!(
                "bounds `{text}` are empty (the lower exceeds the upper)"
            ));
        }
        Ok(MemoryBound {
            min,
            max,
            text: text.to_string(),
        })
    }

    pub fn admits(&self, q: &str) -> bool {
        memory_bytes(q).is_some_and(|b| self.min <= b && b <= self.max)
    }

    /// As the profile states it.
    pub fn text(&self) -> &str {
        &self.text
    }
}
