//! Post-processing of cucumber's JUnit report: known failures become `skipped` with
//! their register id and reason (Cucumber JSON keeps the truth: failed), and
//! scenarios the plan did not run are added as `skipped` with their reason.

/// A testcase to mark: the report names testcases `…: <path>:<line>:<col>`.
#[derive(Debug, Clone)]
pub struct Mark {
    pub path: String,
    pub line: usize,
    pub message: String,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Replaces the failure of each marked testcase by a `skipped` element.
pub fn mark_known_failures(xml: &str, marks: &[Mark]) -> String {
    let mut out = xml.to_string();
    for m in marks {
        let key = format!("{}:{}:", m.path, m.line);
        let Some(start) = find_case(&out, &key) else {
            continue;
        };
        let end = out[start..]
            .find("</testcase>")
            .map(|e| start + e)
            .unwrap_or(out.len());
        let case = &out[start..end];
        let Some(f) = case.find("<failure") else {
            continue;
        };
        let f_end = case[f..]
            .find("</failure>")
            .map(|e| f + e + "</failure>".len())
            .or_else(|| case[f..].find("/>").map(|e| f + e + 2))
            .unwrap_or(case.len());
        let replaced = format!(
            "{}<skipped message=\"{}\"/>{}",
            &case[..f],
            escape(&m.message),
            &case[f_end..]
        );
        out.replace_range(start..end, &replaced);
    }
    recount_failures(&out)
}

fn find_case(xml: &str, key: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = xml[from..].find("<testcase name=\"") {
        let at = from + i;
        let head_end = xml[at..].find('>').map(|e| at + e).unwrap_or(xml.len());
        if xml[at..head_end].contains(key) {
            return Some(at);
        }
        from = head_end;
    }
    None
}

/// Sets each testsuite's `failures` attribute to the failures it still contains.
fn recount_failures(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(i) = rest.find("<testsuite ") {
        out.push_str(&rest[..i]);
        let suite_end = rest[i..]
            .find("</testsuite>")
            .map(|e| i + e)
            .unwrap_or(rest.len());
        let suite = &rest[i..suite_end];
        let n = suite.matches("<failure").count();
        let fixed = match suite.find("failures=\"") {
            Some(a) => {
                let b = suite[a + 10..]
                    .find('"')
                    .map(|e| a + 10 + e)
                    .unwrap_or(a + 10);
                format!("{}failures=\"{n}\"{}", &suite[..a], &suite[b + 1..])
            }
            None => suite.to_string(),
        };
        out.push_str(&fixed);
        rest = &rest[suite_end..];
    }
    out.push_str(rest);
    out
}

/// Adds the run's provenance as `<properties>` to every testsuite.
pub fn add_properties(xml: &str, props: &[(&str, String)]) -> String {
    let mut block = String::from("<properties>");
    for (k, v) in props {
        block.push_str(&format!(
            "<property name=\"{}\" value=\"{}\"/>",
            escape(k),
            escape(v)
        ));
    }
    block.push_str("</properties>");
    let mut out = String::with_capacity(xml.len() + block.len() * 8);
    let mut rest = xml;
    while let Some(i) = rest.find("<testsuite ") {
        let Some(end) = rest[i..].find('>') else {
            break;
        };
        let open_end = i + end + 1;
        out.push_str(&rest[..open_end]);
        out.push_str(&block);
        rest = &rest[open_end..];
    }
    out.push_str(rest);
    out
}

/// Appends a testsuite of the scenarios that were not run, each `skipped` with its reason.
pub fn add_not_run(xml: &str, not_run: &[(String, String)]) -> String {
    if not_run.is_empty() {
        return xml.to_string();
    }
    let mut suite = format!(
        "<testsuite id=\"not-run\" name=\"focus-scope: not run\" tests=\"{n}\" errors=\"0\" failures=\"0\" skipped=\"{n}\">",
        n = not_run.len()
    );
    for (name, reason) in not_run {
        suite.push_str(&format!(
            "<testcase name=\"{}\"><skipped message=\"{}\"/></testcase>",
            escape(name),
            escape(reason)
        ));
    }
    suite.push_str("</testsuite>");
    match xml.rfind("</testsuites>") {
        Some(i) => format!("{}{}{}", &xml[..i], suite, &xml[i..]),
        None => format!("{xml}{suite}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<?xml version="1.0"?><testsuites><testsuite id="0" name="Feature: x" tests="2" errors="0" failures="1"><testcase name="Scenario: a: features/en/x.feature:10:3" time="1"><failure type="Step Panicked" message="boom"/><system-out>o</system-out></testcase><testcase name="Scenario: b: features/en/x.feature:20:3"></testcase></testsuite></testsuites>"#;

    #[test]
    fn a_known_failure_becomes_skipped_and_counts_follow() {
        let out = mark_known_failures(
            XML,
            &[Mark {
                path: "features/en/x.feature".into(),
                line: 10,
                message: "known failure (PZ-1): x".into(),
            }],
        );
        assert!(
            out.contains("<skipped message=\"known failure (PZ-1): x\"/>"),
            "{out}"
        );
        assert!(!out.contains("<failure"), "{out}");
        assert!(out.contains("failures=\"0\""), "{out}");
    }

    #[test]
    fn not_run_scenarios_are_listed_as_skipped() {
        let out = add_not_run(
            XML,
            &[("k8s-x".into(), "needs the `sandbox` fault driver".into())],
        );
        assert!(out.contains(
            "<testcase name=\"k8s-x\"><skipped message=\"needs the `sandbox` fault driver\"/>"
        ));
        assert!(out.ends_with("</testsuites>"));
    }
}
