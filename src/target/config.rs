//! Environment profiles: `config/<name>.toml`, selected by `FOCUS_ENV` (default `sandbox`),
//! with single keys overridden by documented `FOCUS_*` variables.
//!
//! Every problem is found here, before anything is sent, and reported as one message
//! that names the key and the file (or the variable) it came from.
//!
//! Size: loading, overrides and validation (~460 lines) with their tests; the typed
//! sections are in `profile.rs`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::target::profile::*;

/// The profile used when `FOCUS_ENV` is unset.
pub const DEFAULT_PROFILE: &str = "sandbox";

/// Environment variables that override single keys, with the key each one sets.
pub const OVERRIDES: &[(&str, &str)] = &[
    ("FOCUS_API_URL", "target.api_url"),
    ("FOCUS_NAMESPACE", "target.namespace"),
    ("FOCUS_KUBECONFIG", "target.kubeconfig"),
    ("FOCUS_KUBE_CONTEXT", "target.kube_context"),
    ("FOCUS_TLS_VERIFY", "target.tls_verify"),
    ("FOCUS_SANDBOX_PROFILE", "sandbox.profile"),
    ("FOCUS_SANDBOX_DEFECTS", "sandbox.defects"),
    ("FOCUS_SANDBOX_CLUSTER", "sandbox.cluster"),
    (
        "FOCUS_MAX_HELD_INVESTIGATIONS",
        "limits.max_held_investigations",
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the profile: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: key `{key}`: {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
    #[error("environment variable {var} (key `{key}`): {message}")]
    Override {
        var: String,
        key: String,
        message: String,
    },
    #[error("unknown profile `{name}` (FOCUS_ENV): no file {file}; known profiles: {known}")]
    UnknownProfile {
        name: String,
        file: String,
        known: String,
    },
}

/// A loaded profile and where it came from.
#[derive(Debug, Clone)]
pub struct Config {
    pub name: String,
    pub file: PathBuf,
    pub dir: PathBuf,
    pub profile: Profile,
    /// `FOCUS_*` variables that changed a key of the profile file, as
    /// `(variable, key, value)` (values of URLs without userinfo).
    pub overrides: Vec<(String, String, String)>,
}

impl Config {
    /// The config directory: `FOCUS_CONFIG_DIR`, else the crate's `config/`.
    pub fn default_dir() -> PathBuf {
        std::env::var_os("FOCUS_CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config")))
    }

    /// Loads the profile named by `FOCUS_ENV` and applies the `FOCUS_*` overrides.
    pub fn from_env() -> Result<Config, ConfigError> {
        let vars: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("FOCUS_"))
            .collect();
        let name = vars
            .get("FOCUS_ENV")
            .cloned()
            .unwrap_or_else(|| DEFAULT_PROFILE.to_string());
        Config::load(&Config::default_dir(), &name, &vars)
    }

    /// Loads `<dir>/<name>.toml` and applies overrides from `vars`.
    pub fn load(
        dir: &Path,
        name: &str,
        vars: &BTreeMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let file = dir.join(format!("{name}.toml"));
        let shown = file.display().to_string();
        if !file.is_file() {
            return Err(ConfigError::UnknownProfile {
                name: name.to_string(),
                file: shown,
                known: known_profiles(dir).join(", "),
            });
        }
        let text = std::fs::read_to_string(&file).map_err(|source| ConfigError::Read {
            file: shown.clone(),
            source,
        })?;
        let mut profile: Profile = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            file: shown.clone(),
            message: one_line(&e.to_string()),
        })?;
        let overrides = apply_overrides(&mut profile, vars)?;
        let config = Config {
            name: name.to_string(),
            file,
            dir: dir.to_path_buf(),
            profile,
            overrides,
        };
        config.validate()?;
        Ok(config)
    }

    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.display().to_string(),
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// The PEM bytes of `target.tls_ca`, read from the config directory.
    pub fn tls_ca_pem(&self) -> Result<Option<Vec<u8>>, ConfigError> {
        let Some(ca) = &self.profile.target.tls_ca else {
            return Ok(None);
        };
        std::fs::read(self.dir.join(ca))
            .map(Some)
            .map_err(|e| self.invalid("target.tls_ca", format!("{}: {e}", ca.display())))
    }

    /// Checks what serde cannot: URLs, paths, consistency between keys.
    fn validate(&self) -> Result<(), ConfigError> {
        let p = &self.profile;
        match p.target.kind {
            TargetKind::Sandbox => {
                if p.target.api_url.is_some() {
                    return Err(self.invalid(
                        "target.api_url",
                        "a sandbox target serves its own API; remove the key or use kind = \"remote\"",
                    ));
                }
                if p.target.kubeconfig.is_some() || p.target.kube_context.is_some() {
                    return Err(self.invalid(
                        "target.kubeconfig",
                        "a sandbox target never uses an outside cluster; remove the key or use kind = \"remote\"",
                    ));
                }
                for (key, set) in [
                    ("target.in_cluster", p.target.in_cluster),
                    ("target.cluster_server", p.target.cluster_server.is_some()),
                ] {
                    if set {
                        return Err(self.invalid(
                            key,
                            "a sandbox target never uses an outside cluster; remove the key or use kind = \"remote\"",
                        ));
                    }
                }
                if !["as-required", "as-observed"].contains(&p.sandbox.profile.as_str()) {
                    return Err(self.invalid(
                        "sandbox.profile",
                        format!(
                            "`{}` is not a sandbox profile (as-required, as-observed)",
                            p.sandbox.profile
                        ),
                    ));
                }
                if p.sandbox.idle_timeout < Duration::from_secs(1) {
                    return Err(self.invalid(
                        "sandbox.idle_timeout",
                        "must be at least 1s (the sandbox counts whole seconds)",
                    ));
                }
                if p.sandbox.scenario_idle_timeout < Duration::from_secs(1) {
                    return Err(self.invalid(
                        "sandbox.scenario_idle_timeout",
                        "must be at least 1s (the sandbox counts whole seconds)",
                    ));
                }
                if let Some(cluster) = &p.sandbox.cluster {
                    let path = self.dir.join(cluster);
                    if !path.is_file() {
                        return Err(
                            self.invalid("sandbox.cluster", format!("no file {}", path.display()))
                        );
                    }
                }
            }
            TargetKind::Remote => {
                let Some(url) = &p.target.api_url else {
                    return Err(self.invalid("target.api_url", "required for a remote target"));
                };
                check_url(url).map_err(|m| self.invalid("target.api_url", m))?;
                let t = &p.target;
                // A profile is bound to its cluster: never the operator's current
                // kubectl context, which may point anywhere (production included).
                if !t.in_cluster && t.kubeconfig.is_none() && t.kube_context.is_none() {
                    return Err(self.invalid(
                        "target.kube_context",
                        "a remote profile must name its cluster: set target.kube_context or target.kubeconfig (or target.in_cluster = true for a run inside the cluster); the ambient kubectl context is never used",
                    ));
                }
                if t.in_cluster && (t.kubeconfig.is_some() || t.kube_context.is_some()) {
                    return Err(self.invalid(
                        "target.in_cluster",
                        "conflicts with target.kubeconfig / target.kube_context: name the cluster one way",
                    ));
                }
                if let Some(ca) = &t.tls_ca {
                    let pem = std::fs::read(self.dir.join(ca)).map_err(|e| {
                        self.invalid("target.tls_ca", format!("{}: {e}", ca.display()))
                    })?;
                    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                        return Err(self.invalid(
                            "target.tls_ca",
                            format!("{} holds no PEM certificate", ca.display()),
                        ));
                    }
                }
                if let Some(server) = &t.cluster_server {
                    check_url(server).map_err(|m| self.invalid("target.cluster_server", m))?;
                }
                if let Some(kc) = &p.target.kubeconfig
                    && !kc.is_file()
                {
                    return Err(self.invalid(
                        "target.kubeconfig",
                        format!("no kubeconfig file at {}", kc.display()),
                    ));
                }
            }
        }
        if p.target.namespace.trim().is_empty() {
            return Err(self.invalid("target.namespace", "must not be empty"));
        }
        let d = &p.deadlines;
        for (key, value) in [
            ("deadlines.request", d.request),
            ("deadlines.object_appears", d.object_appears),
            ("deadlines.pod_running", d.pod_running),
            ("deadlines.port_reachable", d.port_reachable),
            ("deadlines.deletion", d.deletion),
            ("deadlines.startup", d.startup),
            ("deadlines.idle_removal", d.idle_removal),
            ("deadlines.run", d.run),
            ("deadlines.held_wait", d.held_wait),
            ("deadlines.lease", d.lease),
        ] {
            if value.is_zero() {
                return Err(self.invalid(key, "a deadline must be greater than zero"));
            }
        }
        if p.limits.max_held_investigations == 0 {
            return Err(self.invalid("limits.max_held_investigations", "must be at least 1"));
        }
        for (key, value) in [
            ("expect.memory_request", &p.expect.memory_request),
            ("expect.memory_limit", &p.expect.memory_limit),
        ] {
            if let Some(v) = value {
                MemoryBound::parse(v).map_err(|m| self.invalid(key, m))?;
            }
        }
        if let Some(words) = &p.expect.quota_refusal {
            regex::Regex::new(words).map_err(|e| {
                self.invalid(
                    "expect.quota_refusal",
                    format!("not a regular expression: {e}"),
                )
            })?;
        }
        match &p.expect.recordings_volume {
            Some(RecordingsVolume::HostPath { path }) if !path.starts_with('/') => {
                return Err(self.invalid(
                    "expect.recordings_volume",
                    format!("hostPath path `{path}` must be absolute"),
                ));
            }
            Some(RecordingsVolume::Pvc { claim }) if claim.trim().is_empty() => {
                return Err(self.invalid("expect.recordings_volume", "claim must not be empty"));
            }
            _ => {}
        }
        Ok(())
    }

    /// The profile's expected memory request and limit; an unset key is named.
    pub fn expected_memory(&self) -> anyhow::Result<(MemoryBound, MemoryBound)> {
        let e = &self.profile.expect;
        let get = |key: &str, v: &Option<String>| {
            let v = v.as_deref().ok_or_else(|| self.unset(key))?;
            MemoryBound::parse(v).map_err(|m| anyhow::Error::from(self.invalid(key, m)))
        };
        Ok((
            get("expect.memory_request", &e.memory_request)?,
            get("expect.memory_limit", &e.memory_limit)?,
        ))
    }

    /// The profile's expected recordings volume; an unset key is named.
    pub fn expected_recordings_volume(&self) -> anyhow::Result<RecordingsVolume> {
        self.profile
            .expect
            .recordings_volume
            .clone()
            .ok_or_else(|| self.unset("expect.recordings_volume"))
    }

    /// The server's words for a quota refusal; an unset key is named.
    pub fn quota_refusal_words(&self) -> anyhow::Result<regex::Regex> {
        let key = "expect.quota_refusal";
        let words = self
            .profile
            .expect
            .quota_refusal
            .as_deref()
            .ok_or_else(|| self.unset(key))?;
        regex::Regex::new(words).map_err(|e| {
            anyhow::Error::from(self.invalid(key, format!("not a regular expression: {e}")))
        })
    }

    fn unset(&self, key: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "precondition missing: {}: key `{key}` is not set (the profile states what this environment's investigations must get)",
            self.file.display()
        )
    }

    /// The effective configuration as TOML (no secrets are held in profiles).
    pub fn to_toml(&self) -> String {
        let mut shown = self.profile.clone();
        shown.target.api_url = shown
            .target
            .api_url
            .as_deref()
            .map(crate::target::redact::url);
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# unprintable: {e}"))
    }
}

fn apply_overrides(
    profile: &mut Profile,
    vars: &BTreeMap<String, String>,
) -> Result<Vec<(String, String, String)>, ConfigError> {
    let mut applied = Vec::new();
    for (var, key) in OVERRIDES {
        let Some(value) = vars.get(*var) else {
            continue;
        };
        applied.push((
            var.to_string(),
            key.to_string(),
            crate::target::redact::url(value),
        ));
        let bad = |message: String| ConfigError::Override {
            var: var.to_string(),
            key: key.to_string(),
            message,
        };
        let t = &mut profile.target;
        match *var {
            "FOCUS_API_URL" => {
                check_url(value).map_err(bad)?;
                t.api_url = Some(value.clone());
            }
            "FOCUS_NAMESPACE" => t.namespace = value.clone(),
            "FOCUS_KUBECONFIG" => t.kubeconfig = Some(PathBuf::from(value)),
            "FOCUS_KUBE_CONTEXT" => t.kube_context = Some(value.clone()),
            "FOCUS_TLS_VERIFY" => {
                t.tls_verify = match value.as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    other => return Err(bad(format!("`{other}` is not true/false"))),
                }
            }
            "FOCUS_SANDBOX_PROFILE" => profile.sandbox.profile = value.clone(),
            "FOCUS_SANDBOX_DEFECTS" => {
                profile.sandbox.defects = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            }
            "FOCUS_SANDBOX_CLUSTER" => profile.sandbox.cluster = Some(PathBuf::from(value)),
            "FOCUS_MAX_HELD_INVESTIGATIONS" => {
                profile.limits.max_held_investigations = value
                    .parse()
                    .map_err(|_| bad(format!("`{value}` is not a whole number")))?
            }
            _ => {}
        }
    }
    Ok(applied)
}

/// An absolute http(s) URL whose host is given.
fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("`{url}`: the scheme must be http or https"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{url}` names no host"));
    }
    Ok(())
}

fn known_profiles(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let stem = name.strip_suffix(".toml")?;
            (stem != "known-issues").then(|| stem.to_string())
        })
        .collect();
    names.sort();
    names
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.file.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(format!("{name}.toml")), text).expect("write fixture");
    }

    const REMOTE: &str = r#"
protected = true
exclusive = false
[target]
kind = "remote"
api_url = "https://focus.staging.example/focus-server"
kube_context = "staging"
[deadlines]
request = "10s"
object_appears = "10s"
pod_running = "60s"
port_reachable = "60s"
deletion = "60s"
startup = "30s"
"#;

    #[test]
    fn shipped_profiles_load() {
        let dir = Config::default_dir();
        for name in known_profiles(&dir) {
            let c = Config::load(&dir, &name, &BTreeMap::new());
            assert!(c.is_ok(), "{name}: {:?}", c.err());
        }
    }

    #[test]
    fn bad_expectations_name_key_and_file() {
        let tmp = tempfile::tempdir().expect("tempdir");
        for (bad, key) in [
            ("memory_request = \"two gigs\"", "expect.memory_request"),
            ("memory_limit = \"4Gi..1Gi\"", "expect.memory_limit"),
            (
                "recordings_volume = { kind = \"hostPath\", path = \"rec\" }",
                "expect.recordings_volume",
            ),
            ("quota_refusal = \"quota (\"", "expect.quota_refusal"),
        ] {
            write(tmp.path(), "x", &format!("{REMOTE}\n[expect]\n{bad}\n"));
            let e = Config::load(tmp.path(), "x", &BTreeMap::new())
                .expect_err("a bad expectation must be refused")
                .to_string();
            assert!(e.contains("x.toml") && e.contains(key), "{e}");
        }
        write(
            tmp.path(),
            "x",
            &format!("{REMOTE}\n[expect]\nrecordings_volume = {{ kind = \"emptyDir\" }}\n"),
        );
        let e = Config::load(tmp.path(), "x", &BTreeMap::new())
            .expect_err("an unknown volume kind must be refused")
            .to_string();
        assert!(e.contains("x.toml") && e.contains("emptyDir"), "{e}");
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        let tmp = tempfile::tempdir().expect("tempdir");
        write(tmp.path(), "x", &format!("{REMOTE}\nbogus = 1\n"));
        let e = Config::load(tmp.path(), "x", &BTreeMap::new())
            .expect_err("unknown key must be refused")
            .to_string();
        assert!(e.contains("x.toml") && e.contains("bogus"), "{e}");
    }

    #[test]
    fn bad_url_names_key_and_file() {
        let tmp = tempfile::tempdir().expect("tempdir");
        write(
            tmp.path(),
            "x",
            &REMOTE.replace("https://focus.staging.example/focus-server", "not a url"),
        );
        let e = Config::load(tmp.path(), "x", &BTreeMap::new())
            .expect_err("bad url")
            .to_string();
        assert!(e.contains("x.toml") && e.contains("target.api_url"), "{e}");
    }

    #[test]
    fn missing_kubeconfig_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        write(
            tmp.path(),
            "x",
            &REMOTE.replace(
                "[deadlines]",
                "kubeconfig = \"/nonexistent/kc\"\n[deadlines]",
            ),
        );
        let e = Config::load(tmp.path(), "x", &BTreeMap::new())
            .expect_err("missing kubeconfig")
            .to_string();
        assert!(
            e.contains("target.kubeconfig") && e.contains("/nonexistent/kc"),
            "{e}"
        );
    }

    #[test]
    fn a_remote_profile_must_name_its_cluster() {
        let tmp = tempfile::tempdir().expect("tempdir");
        write(
            tmp.path(),
            "x",
            &REMOTE.replace("kube_context = \"staging\"\n", ""),
        );
        let e = Config::load(tmp.path(), "x", &BTreeMap::new())
            .expect_err("a profile naming no cluster")
            .to_string();
        assert!(
            e.contains("x.toml") && e.contains("target.kube_context"),
            "{e}"
        );
        write(
            tmp.path(),
            "y",
            &REMOTE.replace("kube_context", "in_cluster = true\nkube_context"),
        );
        let e = Config::load(tmp.path(), "y", &BTreeMap::new())
            .expect_err("two bindings")
            .to_string();
        assert!(
            e.contains("y.toml") && e.contains("target.in_cluster"),
            "{e}"
        );
        write(
            tmp.path(),
            "z",
            &REMOTE.replace("kube_context", "cluster_server = \"nope\"\nkube_context"),
        );
        let e = Config::load(tmp.path(), "z", &BTreeMap::new())
            .expect_err("bad server")
            .to_string();
        assert!(e.contains("target.cluster_server"), "{e}");
    }

    #[test]
    fn overrides_are_recorded_without_userinfo() {
        let tmp = tempfile::tempdir().expect("tempdir");
        write(tmp.path(), "x", REMOTE);
        let mut vars = BTreeMap::new();
        vars.insert(
            "FOCUS_API_URL".to_string(),
            "https://u:secret@focus.example/x".to_string(),
        );
        let c = Config::load(tmp.path(), "x", &vars).expect("loads");
        assert_eq!(c.overrides.len(), 1);
        assert!(!format!("{:?}", c.overrides).contains("secret"));
    }

    #[test]
    fn bad_override_names_variable() {
        let tmp = tempfile::tempdir().expect("tempdir");
        write(tmp.path(), "x", REMOTE);
        let mut vars = BTreeMap::new();
        vars.insert("FOCUS_API_URL".to_string(), "ftp://x".to_string());
        let e = Config::load(tmp.path(), "x", &vars)
            .expect_err("bad override")
            .to_string();
        assert!(
            e.contains("FOCUS_API_URL") && e.contains("target.api_url"),
            "{e}"
        );
    }

    #[test]
    fn unknown_profile_lists_known() {
        let tmp = tempfile::tempdir().expect("tempdir");
        write(tmp.path(), "a", REMOTE);
        let e = Config::load(tmp.path(), "nope", &BTreeMap::new())
            .expect_err("unknown profile")
            .to_string();
        assert!(e.contains("nope") && e.contains("a"), "{e}");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(humantime::parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(humantime::parse("2m"), Ok(Duration::from_secs(120)));
        assert!(humantime::parse("10").is_err());
        assert!(humantime::parse("10 parsecs").is_err());
    }
}
