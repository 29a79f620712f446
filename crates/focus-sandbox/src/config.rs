//! The server's settings: behaviour profile and tunables (a TOML file for `--config`).

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which column of the contract the server follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerProfile {
    /// Every validation rule, message and status of the contract's "required" column.
    #[default]
    AsRequired,
    /// What the real server did in late 2025 (the contract's "observed" column), bugs included.
    AsObserved,
}

impl ServerProfile {
    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            ServerProfile::AsRequired => "as-required",
            ServerProfile::AsObserved => "as-observed",
        }
    }
}

impl fmt::Display for ServerProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown profile name.
#[derive(Debug, thiserror::Error)]
#[error("unknown profile {0:?} (known: as-required, as-observed)")]
pub struct UnknownProfile(pub String);

impl FromStr for ServerProfile {
    type Err = UnknownProfile;

    /// By the same kebab-case names as the config's serde (one list of names).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use serde::de::IntoDeserializer as _;
        let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
            s.into_deserializer();
        ServerProfile::deserialize(de).map_err(|_| UnknownProfile(s.to_owned()))
    }
}

/// Tunables of the reference server. Every field has a default; a TOML file may set any subset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Number of stream slots; slot `n` streams on port `first_stream_port - 1 + n`.
    pub max_slots: u16,
    /// Port of slot 0 (slot 1 streams on `base_stream_port + 1`).
    pub base_stream_port: u16,
    /// `GET /channels` lowest channel.
    pub lowest_channel: i64,
    /// `GET /channels` highest channel.
    pub highest_channel: i64,
    /// Most channels one investigation may ask for (client SensorsRange).
    pub max_channel_count: i64,
    /// PRR (Hz) of the live fiber and of the default recordings.
    pub prr: f64,
    /// Whether the fiber is connected at start.
    pub fiber_connected: bool,
    /// Days of past recordings in the default catalogue.
    pub recording_days: u32,
    /// Seconds an unconnected investigation lives before its cleanup job removes it.
    pub idle_timeout_secs: u64,
    /// Allowed clock skew (seconds) before a timestamp counts as "in the future".
    pub future_skew_secs: i64,
    /// Delay added by the `slow-configure` defect, in milliseconds.
    pub slow_configure_ms: u64,
    /// N of the `fail-after-n-jobs` defect.
    pub fail_after_jobs: u64,
    /// In-flight configures at which the `restart-under-load` defect "restarts" the server.
    pub restart_threshold: usize,
    /// Memory request and limit of an investigation's container (as-required).
    pub job_memory: String,
    /// CPU request of an investigation's container (as-required).
    pub job_cpu: String,
    /// Container image of the investigation job (a real cluster pulls it).
    pub job_image: String,
    /// Container image of the cleanup job.
    pub cleanup_image: String,
    /// Path prefix of every route, e.g. `/focus-server` (empty: none).
    pub prefix: String,
    /// Add kube-sim-only annotations (pod lifecycle, connection counts, its own Deployment).
    /// Set by [`crate::Sandbox::start`] when it starts kube-sim, or when the existing
    /// cluster's version names kube-sim; off against a real cluster.
    pub sim_conventions: bool,
    /// Serve the control API under `/_sandbox/`. Off, the server has only Focus
    /// Server's routes, as a real one: a suite run that must inject faults through
    /// Kubernetes alone then fails on any control call it would make.
    pub control_api: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_slots: 300,
            base_stream_port: 12300,
            lowest_channel: 1,
            highest_channel: 2337,
            max_channel_count: 2222,
            prr: 2000.0,
            fiber_connected: true,
            recording_days: 30,
            idle_timeout_secs: 50,
            future_skew_secs: 5,
            slow_configure_ms: 5000,
            fail_after_jobs: 40,
            restart_threshold: 8,
            job_memory: "2Gi".into(),
            job_cpu: "500m".into(),
            job_image: "busybox:1.36".into(),
            cleanup_image: "busybox:1.36".into(),
            prefix: String::new(),
            sim_conventions: false,
            control_api: true,
        }
    }
}

/// A configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this config.
    #[error("invalid config {path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        source: toml::de::Error,
    },
    /// A value is out of its range.
    #[error("invalid config: {0}")]
    Invalid(String),
}

impl ServerConfig {
    /// The idle timeout as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// The stream port of `slot`.
    pub fn port_of(&self, slot: u16) -> u16 {
        self.base_stream_port.saturating_add(slot)
    }

    /// Nyquist frequency of the live fiber.
    pub fn nyquist(&self) -> f64 {
        self.prr / 2.0
    }

    /// Checks ranges that would make the server misbehave.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_slots == 0 {
            return Err(ConfigError::Invalid("max_slots must be at least 1".into()));
        }
        if u32::from(self.base_stream_port) + u32::from(self.max_slots) > u32::from(u16::MAX) {
            return Err(ConfigError::Invalid(
                "base_stream_port + max_slots exceeds 65535".into(),
            ));
        }
        if self.lowest_channel > self.highest_channel {
            return Err(ConfigError::Invalid(
                "lowest_channel must not exceed highest_channel".into(),
            ));
        }
        if !(self.prr.is_finite() && self.prr > 0.0) {
            return Err(ConfigError::Invalid("prr must be a positive number".into()));
        }
        Ok(())
    }

    /// Parses a TOML document.
    pub fn from_toml_str(text: &str, path: &str) -> Result<Self, ConfigError> {
        let cfg: ServerConfig = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads a TOML file.
    pub fn from_toml_file(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::from_toml_str(&text, &shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names() {
        assert_eq!(
            "as-observed".parse::<ServerProfile>().ok(),
            Some(ServerProfile::AsObserved)
        );
        assert_eq!(
            "as-required".parse::<ServerProfile>().ok(),
            Some(ServerProfile::AsRequired)
        );
        assert!("observed".parse::<ServerProfile>().is_err());
        assert_eq!(ServerProfile::default().to_string(), "as-required");
    }

    #[test]
    fn toml_subset_and_unknown_keys() {
        let cfg = ServerConfig::from_toml_str("max_slots = 200\nidle_timeout_secs = 3\n", "x")
            .expect("valid");
        assert_eq!(cfg.max_slots, 200);
        assert_eq!(cfg.idle_timeout_secs, 3);
        assert_eq!(cfg.prr, 2000.0);
        assert!(ServerConfig::from_toml_str("nope = 1\n", "x").is_err());
        assert!(ServerConfig::from_toml_str("max_slots = 0\n", "x").is_err());
    }
}
