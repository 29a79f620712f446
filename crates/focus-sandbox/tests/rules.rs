//! HTTP-level tests of the validation rules, in-process (`app(state).oneshot`),
//! against a cluster that does not exist: a request that passes validation reaches
//! Kubernetes and fails there with 500, which is how "accepted" shows here.
//! The cluster-backed tests are in `tests/cluster.rs`.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use focus_sandbox::{AppState, Defect, ServerConfig, ServerProfile, app};
use http_body_util::BodyExt;
use jiff::Timestamp;
use serde_json::{Value, json};
use tower::ServiceExt;

fn state(profile: ServerProfile, defects: &[Defect]) -> AppState {
    let url = "http://127.0.0.1:9".parse().expect("url");
    let client = kube::Client::try_from(kube::Config::new(url)).expect("client");
    AppState::new(
        client,
        "panda",
        profile,
        ServerConfig::default(),
        defects.iter().copied(),
    )
}

async fn call(
    s: &AppState,
    method: Method,
    path: &str,
    body: Option<String>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(body.map(Body::from).unwrap_or_else(Body::empty))
        .expect("request");
    let resp = app(s.clone()).oneshot(req).await.expect("infallible");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

async fn configure(s: &AppState, body: &Value) -> (StatusCode, Value) {
    call(s, Method::POST, "/configure", Some(body.to_string())).await
}

fn now() -> i64 {
    Timestamp::now().as_second()
}

fn live() -> Value {
    json!({
        "displayTimeAxisDuration": 30, "nfftSelection": 1024, "displayInfo": {"height": 600},
        "channels": {"min": 1, "max": 50}, "frequencyRange": {"min": 0, "max": 500},
        "start_time": null, "end_time": null, "view_type": 0
    })
}

fn with(mut base: Value, edits: &[(&str, Value)]) -> Value {
    for (path, v) in edits {
        let mut cur = &mut base;
        let parts: Vec<&str> = path.split('.').collect();
        for p in &parts[..parts.len() - 1] {
            cur = &mut cur[*p];
        }
        let last = parts[parts.len() - 1];
        if v.is_null() && last.starts_with('-') {
            if let Some(o) = cur.as_object_mut() {
                o.remove(&last[1..]);
            }
        } else if let Some(o) = cur.as_object_mut() {
            o.insert(last.to_owned(), v.clone());
        }
    }
    base
}

/// A rule case: edits to the live body, the field the message must name, the
/// defect that switches the rule class off, whether as-observed accepts it.
struct Case {
    edits: Vec<(&'static str, Value)>,
    field: &'static str,
    defect: Defect,
    observed_accepts: bool,
}

fn cases() -> Vec<Case> {
    let n = now();
    let c = |edits: Vec<(&'static str, Value)>, field, defect, observed_accepts| Case {
        edits,
        field,
        defect,
        observed_accepts,
    };
    use Defect::*;
    vec![
        c(
            vec![("view_type", json!(3))],
            "view_type",
            SkipViewTypeCheck,
            true,
        ),
        c(
            vec![("view_type", json!(-1))],
            "view_type",
            SkipViewTypeCheck,
            true,
        ),
        c(
            vec![("channels.min", json!(0))],
            "channels",
            SkipChannelRangeCheck,
            false,
        ),
        // PZ-13760: the real server accepted a negative channel value.
        c(
            vec![("channels", json!({"min": -10, "max": 50}))],
            "channels",
            SkipChannelRangeCheck,
            true,
        ),
        c(
            vec![("channels", json!({"min": 2300, "max": 2338}))],
            "channels",
            SkipChannelRangeCheck,
            false,
        ),
        c(
            vec![("channels", json!({"min": 60, "max": 50}))],
            "channels",
            SkipChannelRangeCheck,
            false,
        ),
        c(
            vec![("channels", json!({"min": 1, "max": 2223}))],
            "channels",
            SkipChannelCountCheck,
            true,
        ),
        c(
            vec![("view_type", json!(1))],
            "channels",
            SkipSinglechannelCheck,
            true,
        ),
        c(
            vec![("frequencyRange", json!({"min": 0, "max": 1001}))],
            "frequencyRange",
            SkipFrequencyCheck,
            true,
        ),
        c(
            vec![("frequencyRange", json!({"min": 250, "max": 250}))],
            "frequencyRange",
            SkipFrequencyCheck,
            true,
        ),
        c(
            vec![("frequencyRange", json!({"min": -1, "max": 250}))],
            "frequencyRange",
            SkipFrequencyCheck,
            true,
        ),
        c(
            vec![("nfftSelection", json!(1000))],
            "nfftSelection",
            SkipNfftCheck,
            true,
        ),
        c(
            vec![("nfftSelection", json!(4096))],
            "nfftSelection",
            SkipNfftCheck,
            true,
        ),
        c(
            vec![("nfftSelection", json!(0))],
            "nfftSelection",
            SkipNfftCheck,
            true,
        ),
        c(
            vec![("displayInfo.height", json!(0))],
            "displayInfo.height",
            SkipHeightCheck,
            true,
        ),
        c(
            vec![("displayInfo.height", json!(-100))],
            "displayInfo.height",
            SkipHeightCheck,
            true,
        ),
        c(
            vec![("displayTimeAxisDuration", json!(0))],
            "displayTimeAxisDuration",
            SkipDurationCheck,
            true,
        ),
        c(
            vec![("nfftSelection", Value::Null)],
            "nfftSelection",
            SkipRequiredParamsCheck,
            true,
        ),
        c(
            vec![("-frequencyRange", Value::Null)],
            "frequencyRange",
            SkipRequiredParamsCheck,
            true,
        ),
        c(
            vec![("-displayTimeAxisDuration", Value::Null)],
            "displayTimeAxisDuration",
            SkipRequiredParamsCheck,
            true,
        ),
        c(
            vec![("start_time", json!(n - 600))],
            "start_time",
            SkipTimeBoundsCheck,
            true,
        ),
        c(
            vec![("end_time", json!(n - 600))],
            "end_time",
            SkipTimeBoundsCheck,
            true,
        ),
        c(
            vec![("start_time", json!(n - 60)), ("end_time", json!(n - 600))],
            "start_time",
            SkipTimeOrderCheck,
            false,
        ),
        c(
            vec![("start_time", json!(n - 60)), ("end_time", json!(n - 60))],
            "start_time",
            SkipTimeOrderCheck,
            false,
        ),
        c(
            vec![
                ("start_time", json!(n + 3600)),
                ("end_time", json!(n + 7200)),
            ],
            "future",
            SkipFutureTimeCheck,
            true,
        ),
    ]
}

#[tokio::test]
async fn every_rule_rejects_with_400_naming_the_field_and_its_defect_lets_it_through() {
    for (i, case) in cases().into_iter().enumerate() {
        let body = with(live(), &case.edits);
        let (status, json) = configure(&state(ServerProfile::AsRequired, &[]), &body).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "case {i}: {body} -> {json}"
        );
        let msg = json["error"].as_str().unwrap_or_default();
        assert!(
            msg.contains(case.field),
            "case {i}: {msg:?} should name {}",
            case.field
        );

        // The defect switches the whole class off: the request reaches the (absent) cluster.
        let (status, json) =
            configure(&state(ServerProfile::AsRequired, &[case.defect]), &body).await;
        assert!(
            status != StatusCode::BAD_REQUEST,
            "case {i} with {}: still rejected: {json}",
            case.defect
        );

        let (status, json) = configure(&state(ServerProfile::AsObserved, &[]), &body).await;
        assert_eq!(
            status != StatusCode::BAD_REQUEST,
            case.observed_accepts,
            "case {i} as-observed: {status} {json}"
        );
    }
}

#[tokio::test]
async fn a_valid_request_passes_validation() {
    let (status, json) = configure(&state(ServerProfile::AsRequired, &[]), &live()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{json}");
    assert!(
        json["error"]
            .as_str()
            .unwrap_or_default()
            .contains("Kubernetes")
    );
}

#[tokio::test]
async fn schema_errors_are_422_with_the_field_in_loc() {
    let s = state(ServerProfile::AsRequired, &[]);
    let cases: Vec<(Value, Value)> = vec![
        (
            with(live(), &[("-channels", Value::Null)]),
            json!(["body", "channels"]),
        ),
        (
            with(live(), &[("-view_type", Value::Null)]),
            json!(["body", "view_type"]),
        ),
        (
            with(live(), &[("-displayInfo", Value::Null)]),
            json!(["body", "displayInfo"]),
        ),
        (
            with(live(), &[("displayInfo", json!({}))]),
            json!(["body", "displayInfo", "height"]),
        ),
        (
            with(live(), &[("view_type", json!("multichannel"))]),
            json!(["body", "view_type"]),
        ),
        (
            with(live(), &[("channels.min", json!("abc"))]),
            json!(["body", "channels", "min"]),
        ),
        (
            with(live(), &[("nfftSelection", json!({"x": 1}))]),
            json!(["body", "nfftSelection"]),
        ),
        (
            with(live(), &[("displayInfo.height", json!(600.5))]),
            json!(["body", "displayInfo", "height"]),
        ),
    ];
    for (body, loc) in cases {
        for profile in [ServerProfile::AsRequired, ServerProfile::AsObserved] {
            let s = state(profile, &[]);
            let (status, json) = configure(&s, &body).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {json}");
            let locs: Vec<&Value> = json["detail"]
                .as_array()
                .map(|d| d.iter().map(|e| &e["loc"]).collect())
                .unwrap_or_default();
            assert!(locs.contains(&&loc), "{body}: {json} should have loc {loc}");
        }
    }
    let (status, json) = call(&s, Method::POST, "/configure", Some("{not json".into())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json["detail"][0]["type"], "json_invalid");

    // The schema defect: the parser fails like an unhandled exception.
    let broken = state(ServerProfile::AsRequired, &[Defect::SkipSchemaCheck]);
    let (status, json) = configure(&broken, &with(live(), &[("-channels", Value::Null)])).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{json}");
}

#[tokio::test]
async fn view_type_as_numeric_string_and_extra_fields_are_accepted() {
    let s = state(ServerProfile::AsRequired, &[]);
    let body = with(live(), &[("view_type", json!("0")), ("whatever", json!(1))]);
    let (status, _) = configure(&s, &body).await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "passes validation"
    );
}

#[tokio::test]
async fn waterfall_rules() {
    let s = state(ServerProfile::AsRequired, &[]);
    let waterfall = with(
        live(),
        &[
            ("view_type", json!(2)),
            ("nfftSelection", json!(1)),
            ("-displayTimeAxisDuration", Value::Null),
            ("-frequencyRange", Value::Null),
        ],
    );
    let (status, json) = configure(&s, &waterfall).await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "valid waterfall: {json}"
    );
    for (edit, field) in [
        (("nfftSelection", json!(1024)), "nfftSelection"),
        (
            ("displayTimeAxisDuration", json!(30)),
            "displayTimeAxisDuration",
        ),
        (
            ("frequencyRange", json!({"min": 0, "max": 500})),
            "frequencyRange",
        ),
    ] {
        let (status, json) = configure(&s, &with(waterfall.clone(), &[edit])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
        assert!(json["error"].as_str().unwrap_or_default().contains(field));
    }
}

#[tokio::test]
async fn live_without_fiber_is_503_live_stream_unavailable() {
    let s = state(ServerProfile::AsRequired, &[]);
    s.update_catalogue(|c| c.set_fiber(false, now()));
    let (status, json) = configure(&s, &live()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        json["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Live stream unavailable")
    );

    let observed = state(ServerProfile::AsObserved, &[]);
    observed.update_catalogue(|c| c.set_fiber(false, now()));
    let (status, json) = configure(&observed, &live()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        !json["error"]
            .as_str()
            .unwrap_or_default()
            .contains("Live stream unavailable")
    );

    let broken = state(ServerProfile::AsRequired, &[Defect::SkipLiveCheck]);
    broken.update_catalogue(|c| c.set_fiber(false, now()));
    let (status, _) = configure(&broken, &live()).await;
    assert_ne!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn historic_without_recordings_is_404() {
    let body = with(
        live(),
        &[
            ("start_time", json!(1_577_836_800)),
            ("end_time", json!(1_577_840_400)),
        ],
    );
    for profile in [ServerProfile::AsRequired, ServerProfile::AsObserved] {
        let (status, json) = configure(&state(profile, &[]), &body).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            json,
            json!({"error": "No recording found in given time range"})
        );
    }
    let (status, _) = configure(
        &state(ServerProfile::AsRequired, &[Defect::SkipHistoricCheck]),
        &body,
    )
    .await;
    assert_ne!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn small_endpoints_and_routes() {
    let s = state(ServerProfile::AsRequired, &[]);
    assert_eq!(call(&s, Method::GET, "/ack", None).await.0, StatusCode::OK);
    assert_eq!(
        call(&s, Method::GET, "/channels", None).await,
        (
            StatusCode::OK,
            json!({"lowest_channel": 1, "highest_channel": 2337})
        )
    );
    let (status, lm) = call(&s, Method::GET, "/live_metadata", None).await;
    assert_eq!(status, StatusCode::OK);
    for key in [
        "dx",
        "prr",
        "fiber_start_meters",
        "fiber_length_meters",
        "sw_version",
        "number_of_channels",
        "fiber_description",
    ] {
        assert!(lm.get(key).is_some(), "{key} missing");
    }
    s.update_catalogue(|c| c.set_fiber(false, now()));
    assert_eq!(
        call(&s, Method::GET, "/live_metadata", None).await.0,
        StatusCode::NOT_FOUND
    );
    let observed = state(ServerProfile::AsObserved, &[]);
    observed.update_catalogue(|c| c.set_fiber(false, now()));
    let (status, lm) = call(&observed, Method::GET, "/live_metadata", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lm["sw_version"], "waiting for fiber");

    assert_eq!(
        call(&s, Method::GET, "/nope", None).await,
        (StatusCode::NOT_FOUND, json!({"detail": "Not Found"}))
    );
    // No cancel route as observed; unknown id as required (needs no cluster: bad id).
    assert_eq!(
        call(&observed, Method::DELETE, "/job/1-1", None).await,
        (StatusCode::NOT_FOUND, json!({"detail": "Not Found"}))
    );
    assert_eq!(
        call(&s, Method::DELETE, "/job/not-an-id", None).await,
        (StatusCode::NOT_FOUND, json!({"error": "Invalid job_id"}))
    );
    assert_eq!(
        call(&s, Method::GET, "/metadata/..%2F..%2Fetc%2Fpasswd", None).await,
        (StatusCode::NOT_FOUND, json!({"error": "Invalid job_id"}))
    );
    assert_eq!(
        call(&observed, Method::GET, "/metadata/1-1", None).await,
        (StatusCode::NOT_FOUND, json!({"error": "Invalid job_id"}))
    );
    assert_eq!(
        call(&s, Method::GET, "/configure", None).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn recordings_in_time_range() {
    let s = state(ServerProfile::AsRequired, &[]);
    let n = now();
    let (status, list) = call(
        &s,
        Method::POST,
        "/recordings_in_time_range",
        Some(json!({"start_time": n - 40 * 86400, "end_time": n}).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let list = list.as_array().cloned().unwrap_or_default();
    assert!(list.len() >= 30, "{list:?}");
    assert_eq!(
        list.last().map(|p| p[1].clone()),
        Some(json!(-1)),
        "ongoing last"
    );
    for bad in [
        json!({"start_time": n, "end_time": n - 10}),
        json!({"start_time": -5, "end_time": n}),
    ] {
        let (status, json) = call(
            &s,
            Method::POST,
            "/recordings_in_time_range",
            Some(bad.to_string()),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    }
    let (status, _) = call(
        &s,
        Method::POST,
        "/recordings_in_time_range",
        Some("{}".into()),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn prefix_and_control_api() {
    let cfg = ServerConfig {
        prefix: "/focus-server".into(),
        ..ServerConfig::default()
    };
    let url = "http://127.0.0.1:9".parse().expect("url");
    let client = kube::Client::try_from(kube::Config::new(url)).expect("client");
    let s = AppState::new(client, "panda", ServerProfile::AsRequired, cfg, []);
    assert_eq!(
        call(&s, Method::GET, "/focus-server/ack", None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&s, Method::GET, "/ack", None).await.0,
        StatusCode::NOT_FOUND
    );

    let (status, d) = call(
        &s,
        Method::PUT,
        "/focus-server/_sandbox/defects/skip-nfft-check",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(d["enabled"], json!(["skip-nfft-check"]));
    assert_eq!(
        call(
            &s,
            Method::PUT,
            "/focus-server/_sandbox/defects/bogus",
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (_, d) = call(
        &s,
        Method::DELETE,
        "/focus-server/_sandbox/defects/skip-nfft-check",
        None,
    )
    .await;
    assert_eq!(d["enabled"], json!([]));

    let (status, f) = call(
        &s,
        Method::PUT,
        "/focus-server/_sandbox/fiber",
        Some(json!({"connected": false}).to_string()),
    )
    .await;
    assert_eq!(
        (status, f["connected"].clone()),
        (StatusCode::OK, json!(false))
    );
    let (status, _) = call(
        &s,
        Method::PUT,
        "/focus-server/_sandbox/fiber",
        Some("{".into()),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, r) = call(
        &s,
        Method::PUT,
        "/focus-server/_sandbox/recordings",
        Some(json!({"recordings": [[100, 200], [300, -1]]}).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(r["recordings"], json!([[100, 200], [300, -1]]));

    let (status, c) = call(&s, Method::GET, "/focus-server/_sandbox/counters", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(c["configure_requests"], 0);
    let (status, doc) = call(&s, Method::GET, "/focus-server/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        doc["components"]["schemas"]["LiveWaterfallRequest"]["properties"]["nfftSelection"]["enum"],
        json!([1])
    );
    assert!(doc["paths"].get("/job/{job_id}").is_some());
}
