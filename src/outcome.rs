//! Collects one outcome per scenario (stable id, tags, result, first failure) from
//! cucumber's event stream. The runner decides its exit code from these, counts the
//! scenarios a tag filter selected, and later reports feed on them.

use std::sync::{Arc, Mutex};

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

/// Shared, cloneable view of the outcomes written so far.
#[derive(Debug, Clone, Default)]
pub struct Outcomes(Arc<Mutex<Vec<ScenarioOutcome>>>);

impl Outcomes {
    pub fn snapshot(&self) -> Vec<ScenarioOutcome> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }

    fn push(&self, o: ScenarioOutcome) {
        if let Ok(mut v) = self.0.lock() {
            v.push(o);
        }
    }

    /// The writer half, to put into cucumber's writer chain.
    pub fn writer(&self) -> OutcomeWriter {
        OutcomeWriter {
            sink: self.clone(),
            failures: Vec::new(),
        }
    }
}

/// Stable scenario id from tags (`id:k8s-…`).
pub fn stable_id(tags: &[String]) -> Option<String> {
    tags.iter()
        .find_map(|t| t.strip_prefix("id:").map(String::from))
}

/// The `case` column of an expanded Examples row (cucumber keeps only the current row).
pub fn example_case(sc: &gherkin::Scenario) -> Option<String> {
    let table = sc.examples.first()?.table.as_ref()?;
    let header = table.rows.first()?;
    let col = header.iter().position(|h| h == "case")?;
    table.rows.get(1)?.get(col).cloned()
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
    ) {
        let key = sc.position.line;
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
                self.sink.push(ScenarioOutcome {
                    id: row_id(&tags, sc),
                    name: sc.name.clone(),
                    feature: feature.name.clone(),
                    path: feature.path.as_ref().map(|p| p.display().to_string()),
                    tags,
                    line: key,
                    verdict,
                });
            }
            _ => {}
        }
    }
}

impl<W: World> Writer<W> for OutcomeWriter {
    type Cli = cli::Empty;

    async fn handle_event(&mut self, ev: parser::Result<Event<event::Cucumber<W>>>, _: &Self::Cli) {
        let Ok(ev) = ev else { return };
        if let event::Cucumber::Feature(f, fe) = &ev.value {
            match fe {
                event::Feature::Scenario(sc, rs) => self.on_scenario(f, None, sc, rs),
                event::Feature::Rule(r, event::Rule::Scenario(sc, rs)) => {
                    self.on_scenario(f, Some(r), sc, rs)
                }
                _ => {}
            }
        }
    }
}
