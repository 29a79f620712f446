//! The simulator's own annotations: how a test asks the simulated kubelet for a
//! behaviour (an image pull error, an exit, OOM, a log) and how the simulated node ports
//! report what they accepted. A low-level module: the API layer and the controllers
//! both read these names.

/// Annotation: image pull fails (`"true"` or an error message); the pod stays Pending
/// with `ErrImagePull`.
pub const ANNOTATION_IMAGE_PULL_ERROR: &str = "kube-sim.focus-scope/image-pull-error";
/// Annotation: run this long after starting, then exit (e.g. `"5s"`, `"250ms"`, `"2m"`).
/// Exit code 0 → `Succeeded` (the cleanup pod uses this).
pub const ANNOTATION_RUN_FOR: &str = "kube-sim.focus-scope/run-for";
/// Annotation: exit with this code when the run ends (non-zero → `Failed`, reason `Error`).
/// Without `run-for` the container exits right after starting.
pub const ANNOTATION_EXIT_CODE: &str = "kube-sim.focus-scope/exit-code";
/// Annotation: `"true"` → the container is OOMKilled (exit 137) when the run ends.
pub const ANNOTATION_OOM_KILLED: &str = "kube-sim.focus-scope/oom-killed";
/// Annotation: `"true"` → Running but never Ready.
pub const ANNOTATION_NEVER_READY: &str = "kube-sim.focus-scope/never-ready";
/// Annotation: canned text served by the pod `log` endpoint.
pub const ANNOTATION_LOG: &str = "kube-sim.focus-scope/log";

/// Annotation on a Node: `"true"` → its pod CIDR has no free address left, as if every
/// one were taken (new pods get the CNI's FailedCreatePodSandBox "no IP addresses
/// available"); pods already running keep theirs. Removing it frees the range again.
pub const ANNOTATION_POD_CIDR_EXHAUSTED: &str = "kube-sim.focus-scope/pod-cidr-exhausted";

/// Annotation on a Service: number of TCP connections accepted on its node ports.
pub const ANNOTATION_CONNECTIONS: &str = "kube-sim.focus-scope/connections";

/// Annotation on a Service: `"true"` while its node ports accept connections.
pub const ANNOTATION_LISTENING: &str = "kube-sim.focus-scope/listening";
