//! Collects one outcome per scenario (stable id, tags, result, first failure) from
//! cucumber's event stream. The runner decides its exit code from these, counts the
//! scenarios a tag filter selected, and later reports feed on them.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use cucumber::{Event, World, Writer, cli, event, gherkin, parser};

/// How one scenario (one Examples row of an outline) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct ScenarioOutcome {
    /// `@id:<area>-<name>`, without the prefix.
    pub id: Option<String>,
    pub name: String,
    pub feature: String,
    /// The feature file, as the JUnit report names it.
    pub path: Option<String>,
    /// Feature, rule and scenario tags, without `@`.
    pub tags: Vec<String>,
    pub line: usize,
    pub verdict: Verdict,
}

/// How one step (or hook) of a scenario ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    Passed,
    Failed,
    /// Not run: an earlier step failed, or no step definition matched.
    Skipped,
}

/// One step or hook of a scenario as it ran, for the step-level reports (Allure).
#[derive(Debug, Clone)]
pub struct StepRecord {
    /// Keyword and text (`Given Focus Server answers`), or the hook's name.
    pub name: String,
    pub status: StepStatus,
    pub message: Option<String>,
    pub started: SystemTime,
    pub finished: SystemTime,
}

/// When a scenario ran and what its steps did: `path` and `line` are those of its
/// [`ScenarioOutcome`].
#[derive(Debug, Clone)]
pub struct Timeline {
    pub path: Option<String>,
    pub line: usize,
    pub started: SystemTime,
    pub finished: SystemTime,
    pub steps: Vec<StepRecord>,
    /// The Examples row (column → value) of an outline's scenario.
    pub parameters: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct Recorded {
    outcomes: Vec<ScenarioOutcome>,
    timelines: Vec<Timeline>,
}

/// Shared, cloneable view of the outcomes written so far.
#[derive(Debug, Clone, Default)]
pub struct Outcomes(Arc<Mutex<Recorded>>);

impl Outcomes {
    pub fn snapshot(&self) -> Vec<ScenarioOutcome> {
        self.0
            .lock()
            .map(|v| v.outcomes.clone())
            .unwrap_or_default()
    }

    /// The timelines of the scenarios in [`Outcomes::snapshot`].
    pub fn timelines(&self) -> Vec<Timeline> {
        self.0
            .lock()
            .map(|v| v.timelines.clone())
            .unwrap_or_default()
    }

    fn push(&self, o: ScenarioOutcome, t: Timeline) {
        if let Ok(mut v) = self.0.lock() {
            v.outcomes.push(o);
            v.timelines.push(t);
        }
    }

    /// The writer half, to put into cucumber's writer chain.
    pub fn writer(&self) -> OutcomeWriter {
        OutcomeWriter {
            sink: self.clone(),
            failures: Vec::new(),
            running: Vec::new(),
        }
    }
}

/// Stable scenario id from tags (`id:k8s-…`).
pub fn stable_id(tags: &[String]) -> Option<String> {
    crate::spec::tags::ScenarioTags::parse(tags).id
}

/// The `case` column of an expanded Examples row (cucumber keeps only the current row).
pub fn example_case(sc: &gherkin::Scenario) -> Option<String> {
    let table = sc.examples.first()?.table.as_ref()?;
    let header = table.rows.first()?;
    let col = header.iter().position(|h| h == "case")?;
    table.rows.get(1)?.get(col).cloned()
}

/// The Examples row of an expanded outline scenario, column by column.
pub fn example_parameters(sc: &gherkin::Scenario) -> Vec<(String, String)> {
    let Some(table) = sc.examples.first().and_then(|e| e.table.as_ref()) else {
        return Vec::new();
    };
    match (table.rows.first(), table.rows.get(1)) {
        (Some(header), Some(row)) => header.iter().cloned().zip(row.iter().cloned()).collect(),
        _ => Vec::new(),
    }
}

/// The stable id of one scenario run: `<@id>` or, for an Examples row, `<@id>/<case>`.
pub fn row_id(tags: &[String], sc: &gherkin::Scenario) -> Option<String> {
    let id = stable_id(tags)?;
    Some(match example_case(sc) {
        Some(case) => format!("{id}/{case}"),
        None => id,
    })
}

#[derive(Debug)]
pub struct OutcomeWriter {
    sink: Outcomes,
    /// Failures of the scenario in flight (normalised output: one at a time per key).
    failures: Vec<(usize, String, String)>,
    /// Timelines of the scenarios in flight, by (line, feature name) like `failures`.
    running: Vec<(usize, String, Timeline, Option<SystemTime>)>,
}

fn panic_text(info: &event::Info) -> String {
    if let Some(s) = info.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = info.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "panic with a non-text payload".to_string()
    }
}

fn step_error_text(e: &event::StepError) -> String {
    match e {
        event::StepError::Panic(info) => panic_text(info),
        other => other.to_string(),
    }
}

impl OutcomeWriter {
    fn on_scenario<W>(
        &mut self,
        feature: &gherkin::Feature,
        rule: Option<&gherkin::Rule>,
        sc: &gherkin::Scenario,
        ev: &event::RetryableScenario<W>,
        at: SystemTime,
    ) {
        let key = sc.position.line;
        self.track(feature, sc, &ev.event, at);
        let fail = |this: &mut Self, what: String| {
            this.failures.push((key, feature.name.clone(), what));
        };
        match &ev.event {
            event::Scenario::Step(step, event::Step::Failed(_, _, _, err))
            | event::Scenario::Background(step, event::Step::Failed(_, _, _, err)) => fail(
                self,
                format!("step `{}` failed: {}", step.value, step_error_text(err)),
            ),
            event::Scenario::Hook(kind, event::Hook::Failed(_, info)) => {
                fail(self, format!("{kind:?} hook failed: {}", panic_text(info)))
            }
            event::Scenario::Finished => {
                if ev.retries.is_some_and(|r| r.left > 0) {
                    self.running
                        .retain(|(k, f, _, _)| !(*k == key && *f == feature.name));
                    return;
                }
                let mut tags: Vec<String> = feature.tags.clone();
                if let Some(r) = rule {
                    tags.extend(r.tags.iter().cloned());
                }
                tags.extend(sc.tags.iter().cloned());
                let mut mine = Vec::new();
                self.failures.retain(|(k, f, m)| {
                    if *k == key && *f == feature.name {
                        mine.push(m.clone());
                        false
                    } else {
                        true
                    }
                });
                let verdict = if mine.is_empty() {
                    Verdict::Passed
                } else {
                    Verdict::Failed(mine.join("; "))
                };
                let timeline = self.finish_timeline(feature, sc, at);
                self.sink.push(
                    ScenarioOutcome {
                        id: row_id(&tags, sc),
                        name: sc.name.clone(),
                        feature: feature.name.clone(),
                        path: feature.path.as_ref().map(|p| p.display().to_string()),
                        tags,
                        line: key,
                        verdict,
                    },
                    timeline,
                );
            }
            _ => {}
        }
    }

    /// Records the scenario's start, each step's and hook's start and end, for its
    /// [`Timeline`].
    fn track<W>(
        &mut self,
        feature: &gherkin::Feature,
        sc: &gherkin::Scenario,
        ev: &event::Scenario<W>,
        at: SystemTime,
    ) {
        let key = sc.position.line;
        let pos = self
            .running
            .iter()
            .position(|(k, f, _, _)| *k == key && *f == feature.name);
        let pos = match pos {
            Some(p) => p,
            None => {
                self.running.push((
                    key,
                    feature.name.clone(),
                    Timeline {
                        path: feature.path.as_ref().map(|p| p.display().to_string()),
                        line: key,
                        started: at,
                        finished: at,
                        steps: Vec::new(),
                        parameters: example_parameters(sc),
                    },
                    None,
                ));
                self.running.len() - 1
            }
        };
        let (_, _, timeline, step_started) = &mut self.running[pos];
        let mut end = |name: String, status: StepStatus, message: Option<String>| {
            timeline.steps.push(StepRecord {
                name,
                status,
                message,
                started: step_started.take().unwrap_or(at),
                finished: at,
            });
        };
        let step_name = |s: &gherkin::Step| format!("{}{}", s.keyword, s.value);
        match ev {
            event::Scenario::Started => timeline.started = at,
            event::Scenario::Step(_, event::Step::Started)
            | event::Scenario::Background(_, event::Step::Started)
            | event::Scenario::Hook(_, event::Hook::Started) => *step_started = Some(at),
            event::Scenario::Step(s, event::Step::Passed(..))
            | event::Scenario::Background(s, event::Step::Passed(..)) => {
                end(step_name(s), StepStatus::Passed, None)
            }
            event::Scenario::Step(s, event::Step::Skipped)
            | event::Scenario::Background(s, event::Step::Skipped) => end(
                step_name(s),
                StepStatus::Skipped,
                Some("no step definition matches".into()),
            ),
            event::Scenario::Step(s, event::Step::Failed(_, _, _, err))
            | event::Scenario::Background(s, event::Step::Failed(_, _, _, err)) => {
                end(step_name(s), StepStatus::Failed, Some(step_error_text(err)))
            }
            event::Scenario::Hook(kind, event::Hook::Passed) => {
                end(hook_name(*kind), StepStatus::Passed, None)
            }
            event::Scenario::Hook(kind, event::Hook::Failed(_, info)) => {
                end(hook_name(*kind), StepStatus::Failed, Some(panic_text(info)))
            }
            event::Scenario::Log(_) | event::Scenario::Finished => {}
        }
    }

    /// The scenario's timeline, ended at `at`: the steps it did not reach are listed
    /// as skipped.
    fn finish_timeline(
        &mut self,
        feature: &gherkin::Feature,
        sc: &gherkin::Scenario,
        at: SystemTime,
    ) -> Timeline {
        let key = sc.position.line;
        let mut timeline = match self
            .running
            .iter()
            .position(|(k, f, _, _)| *k == key && *f == feature.name)
        {
            Some(p) => self.running.swap_remove(p).2,
            None => Timeline {
                path: feature.path.as_ref().map(|p| p.display().to_string()),
                line: key,
                started: at,
                finished: at,
                steps: Vec::new(),
                parameters: example_parameters(sc),
            },
        };
        timeline.finished = at;
        let background = feature.background.as_ref().map_or(0, |b| b.steps.len());
        let ran = timeline
            .steps
            .iter()
            .filter(|s| !s.name.ends_with(" hook"))
            .count();
        let expected = feature
            .background
            .iter()
            .flat_map(|b| &b.steps)
            .chain(&sc.steps);
        let not_reached: Vec<StepRecord> = expected
            .skip(ran.min(background + sc.steps.len()))
            .map(|s| StepRecord {
                name: format!("{}{}", s.keyword, s.value),
                status: StepStatus::Skipped,
                message: Some("not reached: an earlier step failed".into()),
                started: at,
                finished: at,
            })
            .collect();
        // Before the After hook, where cucumber would have run them.
        let at_after = timeline
            .steps
            .iter()
            .position(|s| s.name == hook_name(event::HookType::After))
            .unwrap_or(timeline.steps.len());
        timeline.steps.splice(at_after..at_after, not_reached);
        timeline
    }
}

fn hook_name(kind: event::HookType) -> String {
    match kind {
        event::HookType::Before => "Before hook".into(),
        event::HookType::After => "After hook".into(),
    }
}

impl<W: World> Writer<W> for OutcomeWriter {
    type Cli = cli::Empty;

    async fn handle_event(&mut self, ev: parser::Result<Event<event::Cucumber<W>>>, _: &Self::Cli) {
        let Ok(ev) = ev else { return };
        let at = ev.at;
        if let event::Cucumber::Feature(f, fe) = &ev.value {
            match fe {
                event::Feature::Scenario(sc, rs) => self.on_scenario(f, None, sc, rs, at),
                event::Feature::Rule(r, event::Rule::Scenario(sc, rs)) => {
                    self.on_scenario(f, Some(r), sc, rs, at)
                }
                _ => {}
            }
        }
    }
}
