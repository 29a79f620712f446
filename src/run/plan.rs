//! What a run will do with each scenario, decided before anything is sent: run it,
//! skip it for a named missing precondition (a fault driver the profile lacks), or
//! refuse it (destructive on a protected profile without `--allow-destructive`).
//!
//! cucumber-rs drops a custom filter as soon as `--tags` or `--name` is given, so the
//! plan takes those over and applies them itself: protection can never be bypassed by
//! a tag filter.

use std::sync::{Arc, Mutex};

use cucumber::gherkin;
use cucumber::gherkin::tagexpr::TagOperation;
use cucumber::tag::Ext as _;

use crate::spec::outcome::row_id;
use crate::target::config::Profile;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Run,
    /// Not run: a precondition of the environment is missing (counted, reported).
    Skip(String),
    /// Not run: the profile's protection forbids it (counted, reported).
    Refuse(String),
}

/// A scenario the plan did not run, and why.
#[derive(Debug, Clone)]
pub struct NotRun {
    pub id: Option<String>,
    pub tags: Vec<String>,
    pub name: String,
    pub feature: String,
    pub decision: Decision,
}

/// The run's selection rules.
#[derive(Debug, Clone)]
pub struct Plan {
    tags: Option<TagOperation>,
    name: Option<regex::Regex>,
    protected: bool,
    allow_destructive: bool,
    faults: crate::target::config::FaultDriver,
    /// Whether the profile names a Deployment that carries the live stream.
    live_stream_deployment: bool,
    pub not_run: Arc<Mutex<Vec<NotRun>>>,
    pub selected: Arc<Mutex<usize>>,
}

impl Plan {
    pub fn new(
        profile: &Profile,
        tags: Option<TagOperation>,
        name: Option<regex::Regex>,
        allow_destructive: bool,
    ) -> Result<Plan, String> {
        // A name filter narrows the profile's default selection, never widens it
        // (production's `@readonly` stays in force under `--name`).
        let tags =
            match (tags, &profile.default_tags) {
                (Some(t), _) => Some(t),
                (None, Some(d)) => Some(d.parse::<TagOperation>().map_err(|e| {
                    format!("key `default_tags`: `{d}` is not a tag expression: {e}")
                })?),
                (None, None) => None,
            };
        Ok(Plan {
            tags,
            name,
            protected: profile.protected,
            allow_destructive,
            faults: profile.faults,
            live_stream_deployment: profile.live_stream_deployment.is_some(),
            not_run: Arc::default(),
            selected: Arc::default(),
        })
    }

    /// Whether the user's filter selects the scenario at all.
    fn selects(
        &self,
        feature: &gherkin::Feature,
        rule: Option<&gherkin::Rule>,
        sc: &gherkin::Scenario,
    ) -> bool {
        if let Some(re) = &self.name
            && !re.is_match(&sc.name)
        {
            return false;
        }
        match &self.tags {
            Some(t) => t.eval(
                feature
                    .tags
                    .iter()
                    .chain(rule.iter().flat_map(|r| &r.tags))
                    .chain(sc.tags.iter()),
            ),
            None => true,
        }
    }

    /// The decision for a scenario the user's filter selected.
    pub fn decide(&self, tags: &[String]) -> Decision {
        let tags = crate::spec::tags::ScenarioTags::parse(tags);
        if self.protected && !self.allow_destructive && tags.destructive {
            return Decision::Refuse(
                "destructive on a protected profile (run with --allow-destructive to permit)"
                    .into(),
            );
        }
        for kind in &tags.fault_kinds {
            if !self.can(kind) {
                let hint = if kind == "live-stream" {
                    " (the sandbox, or kubernetes with `live_stream_deployment` set)"
                } else {
                    ""
                };
                return Decision::Skip(format!(
                    "needs the `{kind}` fault driver{hint}; this profile's driver is `{}`",
                    self.faults.name()
                ));
            }
        }
        Decision::Run
    }

    /// Whether this profile can inject a fault of `kind`: `sandbox`, `kubernetes`, or
    /// `live-stream` (the sandbox's fiber, or a named Deployment scaled to 0).
    fn can(&self, kind: &str) -> bool {
        match kind {
            "live-stream" => {
                self.faults == crate::target::config::FaultDriver::Sandbox
                    || (self.faults == crate::target::config::FaultDriver::Kubernetes
                        && self.live_stream_deployment)
            }
            other => self.faults.can(other),
        }
    }

    /// cucumber's filter: true to run; records what was selected but not run.
    pub fn admit(
        &self,
        feature: &gherkin::Feature,
        rule: Option<&gherkin::Rule>,
        sc: &gherkin::Scenario,
    ) -> bool {
        if !self.selects(feature, rule, sc) {
            return false;
        }
        if let Ok(mut n) = self.selected.lock() {
            *n += 1;
        }
        let tags: Vec<String> = feature
            .tags
            .iter()
            .chain(rule.iter().flat_map(|r| &r.tags))
            .chain(sc.tags.iter())
            .cloned()
            .collect();
        match self.decide(&tags) {
            Decision::Run => true,
            d => {
                if let Ok(mut v) = self.not_run.lock() {
                    v.push(NotRun {
                        id: row_id(&tags, sc),
                        tags: tags.clone(),
                        name: sc.name.clone(),
                        feature: feature.name.clone(),
                        decision: d,
                    });
                }
                false
            }
        }
    }

    pub fn not_run(&self) -> Vec<NotRun> {
        self.not_run.lock().map(|v| v.clone()).unwrap_or_default()
    }

    pub fn selected(&self) -> usize {
        self.selected.lock().map(|n| *n).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::config::FaultDriver;

    fn plan(protected: bool, allow: bool, faults: FaultDriver) -> Plan {
        Plan {
            tags: None,
            name: None,
            protected,
            allow_destructive: allow,
            faults,
            live_stream_deployment: false,
            not_run: Arc::default(),
            selected: Arc::default(),
        }
    }

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_name_filter_keeps_the_profiles_default_tags() {
        let config = crate::target::config::Config::load(
            &crate::target::config::Config::default_dir(),
            "production",
            &Default::default(),
        )
        .expect("the production template loads");
        let feature = gherkin::Feature::parse(
            "Feature: f\n  @readonly\n  Scenario: reads\n    Given x\n\n  Scenario: writes\n    Given y\n",
            gherkin::GherkinEnv::default(),
        )
        .expect("feature");
        let any_name = regex::Regex::new(".").expect("regex");
        let p = Plan::new(&config.profile, None, Some(any_name), false).expect("plan");
        assert!(p.selects(&feature, None, &feature.scenarios[0]));
        assert!(
            !p.selects(&feature, None, &feature.scenarios[1]),
            "--name must not lift production's @readonly"
        );
    }

    #[test]
    fn protection_refuses_destructive_unless_allowed() {
        let t = tags(&["limits", "destructive"]);
        assert!(matches!(
            plan(true, false, FaultDriver::Kubernetes).decide(&t),
            Decision::Refuse(_)
        ));
        assert_eq!(
            plan(true, true, FaultDriver::Kubernetes).decide(&t),
            Decision::Run
        );
        assert_eq!(
            plan(false, false, FaultDriver::Sandbox).decide(&t),
            Decision::Run
        );
    }

    #[test]
    fn the_live_stream_needs_the_sandbox_or_a_named_deployment() {
        let t = tags(&["fault:live-stream"]);
        assert_eq!(
            plan(false, false, FaultDriver::Sandbox).decide(&t),
            Decision::Run
        );
        assert!(matches!(
            plan(false, false, FaultDriver::Kubernetes).decide(&t),
            Decision::Skip(_)
        ));
        let mut p = plan(false, false, FaultDriver::Kubernetes);
        p.live_stream_deployment = true;
        assert_eq!(p.decide(&t), Decision::Run);
    }

    #[test]
    fn missing_fault_driver_is_a_named_skip() {
        let t = tags(&["fault:sandbox"]);
        let d = plan(false, false, FaultDriver::Kubernetes).decide(&t);
        assert!(
            matches!(&d, Decision::Skip(m) if m.contains("sandbox") && m.contains("kubernetes")),
            "{d:?}"
        );
        assert_eq!(
            plan(false, false, FaultDriver::Sandbox).decide(&t),
            Decision::Run
        );
        assert!(matches!(
            plan(false, false, FaultDriver::None).decide(&tags(&["fault:kubernetes"])),
            Decision::Skip(_)
        ));
    }
}
