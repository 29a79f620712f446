//! Investigations in the domain's words: the configure request, the answer that opens
//! one, and the Kubernetes objects that belong to it (named in `target::names`).
//!
//! Size: the configure request and its answer (~390 lines) with their tests.

use crate::target::names::{InvestigationObjects, slot_of};
use serde_json::{Value, json};

/// Stream ports are `STREAM_PORT_BASE + slot`, slots numbered from 1.
pub const STREAM_PORT_BASE: u16 = 12300;

/// View types of the contract, by wire code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewType {
    Multichannel = 0,
    Singlechannel = 1,
    Waterfall = 2,
}

impl std::str::FromStr for ViewType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "multichannel" => Ok(ViewType::Multichannel),
            "singlechannel" => Ok(ViewType::Singlechannel),
            "waterfall" => Ok(ViewType::Waterfall),
            other => Err(format!(
                "`{other}` is not a view type (multichannel, singlechannel, waterfall)"
            )),
        }
    }
}

/// A `POST /configure` body built from typed fields. Negative scenarios start from a
/// valid request and change its JSON directly, so nothing is checked on our side.
#[derive(Debug, Clone)]
pub struct ConfigureRequest {
    body: Value,
}

impl ConfigureRequest {
    /// A valid live multichannel request within the contract's documented ranges.
    pub fn live() -> ConfigureRequest {
        ConfigureRequest {
            body: json!({
                "displayTimeAxisDuration": 30,
                "nfftSelection": 1024,
                "displayInfo": {"height": 1000},
                // Away from every inclusive limit, so boundary rows alone test limits.
                "channels": {"min": 11, "max": 60},
                "frequencyRange": {"min": 10, "max": 500},
                "start_time": null,
                "end_time": null,
                "view_type": ViewType::Multichannel as i64,
            }),
        }
    }

    /// A valid live request of the given view type: singlechannel on one channel,
    /// waterfall with NFFT 1 and neither duration nor frequency range.
    pub fn live_view(view: ViewType) -> ConfigureRequest {
        let r = ConfigureRequest::live().set("view_type", json!(view as i64));
        match view {
            ViewType::Multichannel => r,
            ViewType::Singlechannel => r
                .set("channels", json!({"min": 7, "max": 7}))
                .set("nfftSelection", json!(1024)),
            ViewType::Waterfall => r
                .set("nfftSelection", json!(1))
                .remove("displayTimeAxisDuration")
                .remove("frequencyRange"),
        }
    }

    /// A valid historic request for the window `[start, end]` (epoch seconds).
    pub fn historic(start: i64, end: i64) -> ConfigureRequest {
        ConfigureRequest::live().window(start, end)
    }

    /// The same request for the window `[start, end]` (epoch seconds).
    pub fn window(self, start: i64, end: i64) -> ConfigureRequest {
        self.set("start_time", json!(start))
            .set("end_time", json!(end))
    }

    /// Sets a field by dotted wire path (`displayInfo.height`) to any JSON value.
    pub fn set(mut self, path: &str, value: Value) -> ConfigureRequest {
        let mut parts: Vec<&str> = path.split('.').collect();
        let last = parts.pop().unwrap_or(path);
        let mut node = &mut self.body;
        for p in parts {
            if !node.get(p).is_some_and(Value::is_object) {
                node[p] = json!({});
            }
            node = &mut node[p];
        }
        node[last] = value;
        self
    }

    /// Removes a field by dotted wire path.
    pub fn remove(mut self, path: &str) -> ConfigureRequest {
        let mut parts: Vec<&str> = path.split('.').collect();
        let last = parts.pop().unwrap_or(path);
        let mut node = &mut self.body;
        for p in parts {
            match node.get_mut(p) {
                Some(n) => node = n,
                None => return self,
            }
        }
        if let Some(obj) = node.as_object_mut() {
            obj.remove(last);
        }
        self
    }

    pub fn json(&self) -> &Value {
        &self.body
    }
}

/// Why a successful configure answer does not satisfy the contract.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ContractError {
    #[error("field `{0}` is missing from the configure response")]
    Missing(&'static str),
    #[error("field `{field}` has the wrong shape: {value}")]
    Shape { field: &'static str, value: String },
}

/// The fields of a `POST /configure` success that the suite relies on. Parsing accepts
/// the shapes the real server was seen to send: `stream_port` as a numeric string,
/// `status: ""`, `view_type` as a numeric string.
#[derive(Debug, Clone)]
pub struct OpenedInvestigation {
    pub job_id: String,
    pub stream_port: u16,
    pub stream_url: String,
    pub view_type: i64,
    pub status: String,
    pub body: Value,
}

impl OpenedInvestigation {
    pub fn from_response(body: &Value) -> Result<OpenedInvestigation, ContractError> {
        let job_id = match body.get("job_id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(v) => {
                return Err(ContractError::Shape {
                    field: "job_id",
                    value: v.to_string(),
                });
            }
            None => return Err(ContractError::Missing("job_id")),
        };
        let stream_port = int_or_numeric_string(body, "stream_port")?;
        let stream_port = u16::try_from(stream_port).map_err(|_| ContractError::Shape {
            field: "stream_port",
            value: stream_port.to_string(),
        })?;
        let stream_url = match body.get("stream_url") {
            Some(Value::String(s)) => s.clone(),
            Some(v) => {
                return Err(ContractError::Shape {
                    field: "stream_url",
                    value: v.to_string(),
                });
            }
            None => return Err(ContractError::Missing("stream_url")),
        };
        let view_type = int_or_numeric_string(body, "view_type")?;
        let status = match body.get("status") {
            Some(Value::String(s)) => s.clone(),
            Some(v) => {
                return Err(ContractError::Shape {
                    field: "status",
                    value: v.to_string(),
                });
            }
            None => String::new(),
        };
        Ok(OpenedInvestigation {
            job_id,
            stream_port,
            stream_url,
            view_type,
            status,
            body: body.clone(),
        })
    }

    pub fn objects(&self) -> InvestigationObjects {
        InvestigationObjects::of(&self.job_id)
    }
}

/// `status` values of a successful configure (docs/contract.md): the real server's
/// `""`, the vendor document's `"Config received"`, and the two non-failure values the
/// earlier client also accepted. Its `"error"` and `"failed"` contradict a 200.
pub const SUCCESS_STATUSES: &[&str] = &["", "Config received", "success", "pending"];

/// Objects of `before` (`Kind/name` → uid) that are gone from `after` or are another
/// object now (another uid): what was touched of what others owned.
pub fn touched_objects(
    before: &std::collections::BTreeMap<String, String>,
    after: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    before
        .iter()
        .filter_map(|(name, uid)| match after.get(name) {
            None => Some(format!("{name} (uid {uid}) is gone")),
            Some(now) if now != uid => Some(format!("{name} was uid {uid}, is uid {now}")),
            Some(_) => None,
        })
        .collect()
}

/// Whether the server offered a deleted investigation's slot again: the next
/// investigation got its port or a lower one (slots are taken lowest first), or
/// another investigation (`others`: job ids present now) holds the slot already.
pub fn slot_offered_again(
    deleted: &OpenedInvestigation,
    next_port: u16,
    others: &[String],
) -> bool {
    let slot = slot_of(&deleted.job_id);
    next_port <= deleted.stream_port
        || others
            .iter()
            .any(|j| *j != deleted.job_id && slot.is_some() && slot_of(j) == slot)
}

/// The response invariants of the contract, checked against the request that was
/// sent; returns every violation found.
pub fn check_invariants(request: &Value, body: &Value) -> Vec<String> {
    let mut v = Vec::new();
    match body.get("status") {
        Some(Value::String(s)) if SUCCESS_STATUSES.contains(&s.as_str()) => {}
        other => v.push(format!(
            "status {other:?} is not a success status (one of {SUCCESS_STATUSES:?})"
        )),
    }
    let int = |b: &Value, k: &str| b.get(k).and_then(Value::as_i64);
    let len = |b: &Value, k: &str| {
        b.get(k).and_then(|x| {
            x.as_array()
                .map(Vec::len)
                .or_else(|| x.as_object().map(|o| o.len()))
        })
    };
    match (
        int(body, "frequencies_amount"),
        len(body, "frequencies_list"),
    ) {
        (Some(a), Some(l)) if a as usize == l => {}
        (a, l) => v.push(format!(
            "frequencies_amount {a:?} != len(frequencies_list) {l:?}"
        )),
    }
    let map = body
        .get("channel_to_stream_index")
        .and_then(Value::as_object);
    match (int(body, "channel_amount"), map.map(|m| m.len())) {
        (Some(a), Some(l)) if a as usize == l => {}
        (a, l) => v.push(format!(
            "channel_amount {a:?} != len(channel_to_stream_index) {l:?}"
        )),
    }
    if let Some(m) = map {
        let mut distinct: Vec<i64> = m.values().filter_map(Value::as_i64).collect();
        distinct.sort_unstable();
        distinct.dedup();
        match int(body, "stream_amount") {
            Some(s) if s as usize == distinct.len() => {}
            s => v.push(format!(
                "stream_amount {s:?} != distinct stream indexes {}",
                distinct.len()
            )),
        }
    }
    let (lo, hi) = (
        request.pointer("/channels/min").and_then(Value::as_i64),
        request.pointer("/channels/max").and_then(Value::as_i64),
    );
    if let (Some(lo), Some(hi), Some(a)) = (lo, hi, int(body, "channel_amount"))
        && a != hi - lo + 1
    {
        v.push(format!("channel_amount {a} for channels {lo}..={hi}"));
    }
    let view = match request.get("view_type") {
        Some(Value::String(s)) => s.parse().ok(),
        Some(x) => x.as_i64(),
        None => None,
    };
    if let Some(view) = view {
        match body.get("view_type") {
            Some(Value::Number(n)) if n.as_i64() == Some(view) => {}
            other => v.push(format!(
                "view_type {other:?} is not the integer {view} requested"
            )),
        }
        if view == 1
            && (int(body, "stream_amount") != Some(1) || int(body, "channel_amount") != Some(1))
        {
            v.push("singlechannel must give one stream and one channel".to_string());
        }
    }
    let duration = request
        .get("displayTimeAxisDuration")
        .and_then(Value::as_f64);
    let height = request
        .pointer("/displayInfo/height")
        .and_then(Value::as_f64);
    if let (Some(d), Some(h)) = (duration, height)
        && h > 0.0
    {
        match body.get("lines_dt").and_then(Value::as_f64) {
            Some(dt) if (dt - d / h).abs() <= 1e-9 * (d / h).abs().max(1.0) => {}
            dt => v.push(format!(
                "lines_dt {dt:?} != displayTimeAxisDuration / height = {}",
                d / h
            )),
        }
    }
    v
}

/// Job statuses the metadata endpoint may report.
pub const JOB_STATUSES: &[&str] = &["pending", "running", "failed", "completed"];

/// What `GET /metadata/{job_id}` must say of an open investigation, given its
/// configure response and request: every violation found.
pub fn check_metadata(configure: &Value, request: &Value, metadata: &Value) -> Vec<String> {
    let mut v = Vec::new();
    for field in [
        "job_id",
        "stream_port",
        "stream_url",
        "view_type",
        "channel_amount",
    ] {
        let (a, b) = (configure.get(field), metadata.get(field));
        let same = match (a, b) {
            (Some(a), Some(b)) => {
                a == b || a.to_string().trim_matches('"') == b.to_string().trim_matches('"')
            }
            _ => false,
        };
        if !same {
            v.push(format!(
                "`{field}` is {b:?} in the metadata, {a:?} in the configure response"
            ));
        }
    }
    match metadata.get("job_status").and_then(Value::as_str) {
        Some(s) if JOB_STATUSES.contains(&s) => {}
        other => v.push(format!(
            "`job_status` {other:?} is not one of {JOB_STATUSES:?}"
        )),
    }
    if metadata.get("configuration") != Some(request) {
        v.push(format!(
            "`configuration` {:?} is not the request as sent",
            metadata.get("configuration")
        ));
    }
    v
}

fn int_or_numeric_string(body: &Value, field: &'static str) -> Result<i64, ContractError> {
    match body.get(field) {
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| ContractError::Shape {
            field,
            value: n.to_string(),
        }),
        Some(Value::String(s)) => s.trim().parse().map_err(|_| ContractError::Shape {
            field,
            value: s.clone(),
        }),
        Some(v) => Err(ContractError::Shape {
            field,
            value: v.to_string(),
        }),
        None => Err(ContractError::Missing(field)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The old step only printed the investigations of others; one deleted or
    /// replaced during the scenario must fail it.
    #[test]
    fn objects_of_others_gone_or_replaced_are_touched() {
        let m = |v: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let before = m(&[
            ("Job/grpc-job-7-1", "u1"),
            ("Service/grpc-service-7-1", "u2"),
        ]);
        assert!(touched_objects(&before, &before).is_empty());
        let mut more = before.clone();
        more.insert("Job/grpc-job-8-1".into(), "u3".into());
        assert!(touched_objects(&before, &more).is_empty());
        let gone = m(&[("Job/grpc-job-7-1", "u1")]);
        assert_eq!(touched_objects(&before, &gone).len(), 1);
        let replaced = m(&[
            ("Job/grpc-job-7-1", "u9"),
            ("Service/grpc-service-7-1", "u2"),
        ]);
        assert_eq!(
            touched_objects(&before, &replaced),
            vec!["Job/grpc-job-7-1 was uid u1, is uid u9".to_string()]
        );
    }

    /// The old step passed whatever the server did after the suite's own deletes; a
    /// leaked slot (the next investigation goes higher, nobody holds the slot) fails.
    #[test]
    fn a_deleted_investigations_slot_must_be_offered_again() {
        let deleted = OpenedInvestigation::from_response(&observed_body()).expect("fixture");
        assert!(slot_offered_again(&deleted, 12301, &[]));
        assert!(!slot_offered_again(&deleted, 12302, &[]));
        assert!(!slot_offered_again(
            &deleted,
            12302,
            &["1-1603".into(), "3-9".into()]
        ));
        assert!(slot_offered_again(&deleted, 12302, &["1-77".into()]));
    }

    fn observed_body() -> Value {
        // Shapes captured from the real server (contract: "observed").
        json!({"status": "", "job_id": "1-1603", "stream_port": "12301",
               "stream_url": "http://10.0.0.5", "view_type": "0", "channel_amount": 50})
    }

    #[test]
    fn accepts_observed_shapes() {
        let o = OpenedInvestigation::from_response(&observed_body()).expect("observed shapes");
        assert_eq!(o.stream_port, 12301);
        assert_eq!(o.view_type, 0);
        assert_eq!(o.status, "");
        assert_eq!(o.objects().stream_job, "grpc-job-1-1603");
    }

    #[test]
    fn accepts_required_shapes() {
        let mut b = observed_body();
        b["stream_port"] = json!(12301);
        b["view_type"] = json!(0);
        b["status"] = json!("Config received");
        let o = OpenedInvestigation::from_response(&b).expect("required shapes");
        assert_eq!(o.stream_port, 12301);
    }

    #[test]
    fn refuses_broken_shapes() {
        let mut b = observed_body();
        b["stream_port"] = json!("port twelve");
        assert!(matches!(
            OpenedInvestigation::from_response(&b),
            Err(ContractError::Shape {
                field: "stream_port",
                ..
            })
        ));
        let mut b = observed_body();
        b.as_object_mut().map(|o| o.remove("job_id"));
        assert_eq!(
            OpenedInvestigation::from_response(&b).err(),
            Some(ContractError::Missing("job_id"))
        );
    }

    #[test]
    fn request_edits_reach_the_wire_untouched() {
        let r = ConfigureRequest::live()
            .set("displayInfo.height", json!("tall"))
            .remove("channels");
        assert_eq!(r.json()["displayInfo"]["height"], json!("tall"));
        assert!(r.json().get("channels").is_none());
        let r = ConfigureRequest::live().set("frequencyRange.extra", json!(1));
        assert_eq!(r.json()["frequencyRange"]["extra"], json!(1));
    }

    #[test]
    fn invariants_hold_for_a_consistent_answer_and_name_each_break() {
        let req = ConfigureRequest::live().set("channels", json!({"min": 1, "max": 3}));
        let good = json!({"frequencies_amount": 2, "frequencies_list": [0.0, 1.0],
            "channel_amount": 3, "channel_to_stream_index": {"1": 0, "2": 1, "3": 2},
            "stream_amount": 3, "view_type": 0, "lines_dt": 0.03, "status": ""});
        assert_eq!(check_invariants(req.json(), &good), Vec::<String>::new());
        let mut bad = good.clone();
        bad["lines_dt"] = json!(1.0);
        bad["stream_amount"] = json!(1);
        bad["view_type"] = json!("0");
        assert_eq!(check_invariants(req.json(), &bad).len(), 3);
    }

    #[test]
    fn status_is_one_of_the_success_values() {
        let req = ConfigureRequest::live().set("channels", json!({"min": 1, "max": 1}));
        let mut body = json!({"frequencies_amount": 0, "frequencies_list": [],
            "channel_amount": 1, "channel_to_stream_index": {"1": 0},
            "stream_amount": 1, "view_type": 0, "lines_dt": 0.03});
        for ok in ["", "Config received", "success", "pending"] {
            body["status"] = json!(ok);
            assert_eq!(
                check_invariants(req.json(), &body),
                Vec::<String>::new(),
                "{ok:?}"
            );
        }
        for bad in [json!("error"), json!("failed"), json!(0), Value::Null] {
            body["status"] = bad.clone();
            let v = check_invariants(req.json(), &body);
            assert!(v.len() == 1 && v[0].starts_with("status "), "{bad}: {v:?}");
        }
        body.as_object_mut().map(|o| o.remove("status"));
        assert_eq!(check_invariants(req.json(), &body).len(), 1);
    }

    #[test]
    fn objects_are_named_exactly() {
        let o = InvestigationObjects::of("1-16");
        assert_eq!(o.jobs(), ["grpc-job-1-16", "cleanup-job-1-16"]);
        assert_eq!(o.service, "grpc-service-1-16");
    }
}
