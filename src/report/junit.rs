//! Post-processing of cucumber's JUnit report: known failures become `skipped` with
//! their register id and reason (Cucumber JSON keeps the truth: failed), and
//! scenarios the plan did not run are added as `skipped` with their reason.
//!
//! The report is read into a small element tree (quick-xml), edited there and written
//! back: what is not edited (declaration, text, attributes and their order) is written
//! as it was read.

use quick_xml::Writer;
use quick_xml::events::{BytesStart, Event};

/// A testcase to mark: the report names testcases `…: <path>:<line>:<col>`.
#[derive(Debug, Clone)]
pub struct Mark {
    pub path: String,
    pub line: usize,
    pub message: String,
}

/// junit.xml could not be read or written back.
#[derive(Debug, thiserror::Error)]
pub enum JunitError {
    #[error("junit.xml is not well-formed XML")]
    Xml(#[from] quick_xml::Error),
    #[error("junit.xml is not well-formed XML: <{0}> is not closed")]
    Unclosed(String),
    #[error("junit.xml could not be written")]
    Write(#[from] std::io::Error),
}

/// Replaces the failure of each marked testcase by a `skipped` element, then sets each
/// testsuite's `failures` attribute to the failures it still contains.
pub fn mark_known_failures(xml: &str, marks: &[Mark]) -> Result<String, JunitError> {
    let mut doc = parse(xml)?;
    for m in marks {
        let key = format!("{}:{}:", m.path, m.line);
        let Some(case) = find(&mut doc, &|e| {
            e.is("testcase") && e.attr("name").is_some_and(|n| n.contains(&key))
        }) else {
            continue;
        };
        if let Some(f) = case.children.iter().position(|c| c.is_element("failure")) {
            case.children[f] = Node::Element(Element::empty(start(
                "skipped",
                &[("message", m.message.as_str())],
            )));
        }
    }
    for_each(&mut doc, &mut |e| {
        if e.is("testsuite") && e.attr("failures").is_some() {
            let n = e.count("failure");
            e.set_attr("failures", &n.to_string());
        }
    });
    write(&doc)
}

/// Adds the run's provenance as `<properties>` to every testsuite.
pub fn add_properties(xml: &str, props: &[(&str, String)]) -> Result<String, JunitError> {
    let mut doc = parse(xml)?;
    let properties = Element {
        start: BytesStart::new("properties"),
        children: props
            .iter()
            .map(|(k, v)| {
                Node::Element(Element::empty(start(
                    "property",
                    &[("name", *k), ("value", v.as_str())],
                )))
            })
            .collect(),
        empty: false,
    };
    for_each(&mut doc, &mut |e| {
        if e.is("testsuite") {
            e.empty = false;
            e.children.insert(0, Node::Element(properties.clone()));
        }
    });
    write(&doc)
}

/// Appends a testsuite of the scenarios that were not run, each `skipped` with its reason.
pub fn add_not_run(xml: &str, not_run: &[(String, String)]) -> Result<String, JunitError> {
    if not_run.is_empty() {
        return Ok(xml.to_string());
    }
    let mut doc = parse(xml)?;
    let n = not_run.len().to_string();
    let suite = Element {
        start: start(
            "testsuite",
            &[
                ("id", "not-run"),
                ("name", "focus-scope: not run"),
                ("tests", n.as_str()),
                ("errors", "0"),
                ("failures", "0"),
                ("skipped", n.as_str()),
            ],
        ),
        children: not_run
            .iter()
            .map(|(name, reason)| {
                Node::Element(Element {
                    start: start("testcase", &[("name", name.as_str())]),
                    children: vec![Node::Element(Element::empty(start(
                        "skipped",
                        &[("message", reason.as_str())],
                    )))],
                    empty: false,
                })
            })
            .collect(),
        empty: false,
    };
    let root = doc.iter_mut().rev().find_map(|n| match n {
        Node::Element(e) if e.is("testsuites") => Some(e),
        _ => None,
    });
    match root {
        Some(root) => {
            root.empty = false;
            root.children.push(Node::Element(suite));
        }
        None => doc.push(Node::Element(suite)),
    }
    write(&doc)
}

#[derive(Debug, Clone)]
enum Node {
    Element(Element),
    /// Anything else (declaration, text, comments), written back as read.
    Other(Event<'static>),
}

impl Node {
    fn is_element(&self, name: &str) -> bool {
        matches!(self, Node::Element(e) if e.is(name))
    }
}

#[derive(Debug, Clone)]
struct Element {
    start: BytesStart<'static>,
    children: Vec<Node>,
    /// Read as `<x/>` (written so again while it has no children).
    empty: bool,
}

impl Element {
    fn empty(start: BytesStart<'static>) -> Self {
        Element {
            start,
            children: Vec::new(),
            empty: true,
        }
    }

    fn is(&self, name: &str) -> bool {
        self.start.name().as_ref() == name.as_bytes()
    }

    /// An attribute's value, unescaped (`None` where it is missing or malformed).
    fn attr(&self, key: &str) -> Option<String> {
        self.start
            .attributes()
            .flatten()
            .find(|a| a.key.as_ref() == key.as_bytes())
            .and_then(|a| {
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .ok()
                    .map(|v| v.into_owned())
            })
    }

    /// Sets an attribute that exists, keeping the others (raw, in their order).
    fn set_attr(&mut self, key: &str, value: &str) {
        let attrs: Vec<(Vec<u8>, Vec<u8>)> = self
            .start
            .attributes()
            .flatten()
            .map(|a| {
                let v = if a.key.as_ref() == key.as_bytes() {
                    quick_xml::escape::escape(value).as_bytes().to_vec()
                } else {
                    a.value.into_owned()
                };
                (a.key.as_ref().to_vec(), v)
            })
            .collect();
        self.start.clear_attributes();
        for (k, v) in &attrs {
            self.start.push_attribute((k.as_slice(), v.as_slice()));
        }
    }

    /// Descendants named `name`.
    fn count(&self, name: &str) -> usize {
        self.children
            .iter()
            .map(|c| match c {
                Node::Element(e) => usize::from(e.is(name)) + e.count(name),
                Node::Other(_) => 0,
            })
            .sum()
    }
}

/// `<name k="v" …>`, values escaped as the report has always had them (`&<>"`; an
/// apostrophe stays as it is).
fn start(name: &'static str, attrs: &[(&str, &str)]) -> BytesStart<'static> {
    let mut s = BytesStart::new(name);
    for (k, v) in attrs {
        let v = v
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;");
        s.push_attribute((k.as_bytes(), v.as_bytes()));
    }
    s
}

fn parse(xml: &str) -> Result<Vec<Node>, JunitError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut open: Vec<Element> = Vec::new();
    let mut top = Vec::new();
    loop {
        let node = match reader.read_event()? {
            Event::Eof => break,
            Event::Start(s) => {
                open.push(Element {
                    start: s.into_owned(),
                    children: Vec::new(),
                    empty: false,
                });
                continue;
            }
            // The reader checks that it closes the innermost open element.
            Event::End(_) => match open.pop() {
                Some(e) => Node::Element(e),
                None => continue,
            },
            Event::Empty(s) => Node::Element(Element::empty(s.into_owned())),
            other => Node::Other(other.into_owned()),
        };
        match open.last_mut() {
            Some(parent) => parent.children.push(node),
            None => top.push(node),
        }
    }
    match open.pop() {
        Some(e) => Err(JunitError::Unclosed(
            String::from_utf8_lossy(e.start.name().as_ref()).into_owned(),
        )),
        None => Ok(top),
    }
}

fn write(doc: &[Node]) -> Result<String, JunitError> {
    fn nodes(w: &mut Writer<Vec<u8>>, doc: &[Node]) -> std::io::Result<()> {
        for n in doc {
            match n {
                Node::Other(e) => w.write_event(e.clone())?,
                Node::Element(e) if e.empty && e.children.is_empty() => {
                    w.write_event(Event::Empty(e.start.borrow()))?
                }
                Node::Element(e) => {
                    w.write_event(Event::Start(e.start.borrow()))?;
                    nodes(w, &e.children)?;
                    w.write_event(Event::End(e.start.to_end()))?;
                }
            }
        }
        Ok(())
    }
    let mut w = Writer::new(Vec::new());
    nodes(&mut w, doc)?;
    String::from_utf8(w.into_inner()).map_err(|e| JunitError::Write(std::io::Error::other(e)))
}

/// The first element, depth first, that `matches`.
fn find<'a>(doc: &'a mut [Node], matches: &dyn Fn(&Element) -> bool) -> Option<&'a mut Element> {
    for n in doc {
        if let Node::Element(e) = n {
            if matches(e) {
                return Some(e);
            }
            if let Some(found) = find(&mut e.children, matches) {
                return Some(found);
            }
        }
    }
    None
}

/// Every element, parents before their children.
fn for_each(doc: &mut [Node], f: &mut dyn FnMut(&mut Element)) {
    for n in doc {
        if let Node::Element(e) = n {
            f(e);
            for_each(&mut e.children, f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<?xml version="1.0"?><testsuites><testsuite id="0" name="Feature: x" tests="2" errors="0" failures="1"><testcase name="Scenario: a: features/en/x.feature:10:3" time="1"><failure type="Step Panicked" message="boom"/><system-out>o</system-out></testcase><testcase name="Scenario: b: features/en/x.feature:20:3"></testcase></testsuite></testsuites>"#;

    #[test]
    fn what_is_not_edited_is_written_back_as_read() {
        let xml = format!("{XML}\n<!-- c -->");
        let with_text = xml.replace("<system-out>o<", "<system-out>a &amp; &lt;b&gt; &#233;<");
        assert_eq!(
            mark_known_failures(&with_text, &[]).expect("well-formed"),
            with_text
        );
    }

    #[test]
    fn properties_open_every_testsuite() {
        let out = add_properties(
            &add_not_run(XML, &[("k8s-x".into(), "r".into())]).expect("well-formed"),
            &[("profile", "a \"b\" & c".into())],
        )
        .expect("well-formed");
        let block = "<properties><property name=\"profile\" value=\"a &quot;b&quot; &amp; c\"/></properties>";
        assert!(
            out.contains(&format!("failures=\"1\">{block}<testcase")),
            "{out}"
        );
        assert!(
            out.contains(&format!("skipped=\"1\">{block}<testcase name=\"k8s-x\">")),
            "{out}"
        );
    }

    #[test]
    fn malformed_xml_is_an_error() {
        assert!(mark_known_failures("<testsuites><testsuite>", &[]).is_err());
        assert!(add_properties("<a></b>", &[]).is_err());
    }

    #[test]
    fn a_known_failure_becomes_skipped_and_counts_follow() {
        let out = mark_known_failures(
            XML,
            &[Mark {
                path: "features/en/x.feature".into(),
                line: 10,
                message: "known failure (PZ-1): x".into(),
            }],
        )
        .expect("well-formed");
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
        )
        .expect("well-formed");
        assert!(out.contains(
            "<testcase name=\"k8s-x\"><skipped message=\"needs the `sandbox` fault driver\"/>"
        ));
        assert!(out.ends_with("</testsuites>"));
    }
}
