//! The HTTP surface: routes and one-line handlers into the domain modules.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use serde_json::{Value, json};

use crate::config::ServerProfile;
use crate::control;
use crate::error::{ApiJson, ApiResult, AppError};
use crate::investigation::{self, ConfigureResponse};
use crate::openapi;
use crate::request::parse_window;
use crate::state::AppState;

/// The Focus Server API (and the sandbox control API under `/_sandbox/`), under the
/// state's path prefix. Unknown routes answer FastAPI's 404 `{"detail":"Not Found"}`.
pub fn app(state: AppState) -> Router {
    let mut api = Router::new()
        .route("/ack", get(ack))
        .route("/channels", get(channels))
        .route("/live_metadata", get(live_metadata))
        .route("/configure", post(configure))
        .route("/metadata/{job_id}", get(metadata))
        .route("/recordings_in_time_range", post(recordings_in_time_range))
        .route("/openapi.json", get(openapi_json));
    if state.profile() == ServerProfile::AsRequired {
        // The real server has no cancel route (contract, "Observed").
        api = api.route("/job/{job_id}", delete(cancel));
    }
    let control = Router::new()
        .route("/fiber", get(control_fiber).put(control_set_fiber))
        .route(
            "/recordings",
            get(control_recordings)
                .put(control_set_recordings)
                .delete(control_reset_recordings),
        )
        .route(
            "/defects",
            get(control_defects).delete(control_clear_defects),
        )
        .route(
            "/defects/{name}",
            put(control_enable_defect).delete(control_disable_defect),
        )
        .route(
            "/next-pod-failure",
            get(control_pod_failure)
                .put(control_set_pod_failure)
                .delete(control_clear_pod_failure),
        )
        .route(
            "/pod-network-exhausted",
            get(control_pod_network)
                .put(control_exhaust_pod_network)
                .delete(control_restore_pod_network),
        )
        .route(
            "/next-idle-timeout",
            get(control_idle_timeout)
                .put(control_set_idle_timeout)
                .delete(control_clear_idle_timeout),
        )
        .route("/counters", get(control_counters))
        .route("/state", get(control_state));
    if state.config().control_api {
        api = api.nest("/_sandbox", control);
    }
    let api = api
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    let prefix = state.prefix();
    let api = api.with_state(state);
    if prefix.is_empty() {
        api
    } else {
        Router::new().nest(&prefix, api).fallback(not_found)
    }
}

async fn not_found() -> AppError {
    AppError::NoRoute
}

async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}

async fn ack() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn channels(State(s): State<AppState>) -> Json<Value> {
    Json(control::channels(&s))
}

async fn live_metadata(State(s): State<AppState>) -> ApiResult<Value> {
    s.catalogue().live_metadata(s.profile()).map(Json)
}

async fn configure(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<ConfigureResponse> {
    let marker = headers
        .get(crate::names::MARKER_HEADER)
        .and_then(|v| v.to_str().ok());
    investigation::open(&s, &body, marker).await.map(Json)
}

async fn metadata(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Value> {
    if s.has(crate::defects::Defect::MetadataRouteMissing) {
        return Err(crate::error::AppError::NoRoute);
    }
    investigation::metadata(&s, &id).await.map(Json)
}

async fn cancel(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Value> {
    investigation::cancel(&s, &id).await.map(Json)
}

async fn recordings_in_time_range(State(s): State<AppState>, body: Bytes) -> ApiResult<Value> {
    control::recordings_in_time_range(&s, parse_window(&body)?).map(Json)
}

async fn openapi_json(State(s): State<AppState>) -> Json<Value> {
    Json(openapi::document(&s))
}

async fn control_fiber(State(s): State<AppState>) -> Json<Value> {
    Json(control::fiber(&s))
}

async fn control_set_fiber(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<control::FiberRequest>,
) -> Json<Value> {
    Json(control::set_fiber(&s, req))
}

async fn control_recordings(State(s): State<AppState>) -> Json<Value> {
    Json(control::recordings(&s))
}

async fn control_set_recordings(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<control::RecordingsRequest>,
) -> ApiResult<Value> {
    control::set_recordings(&s, req).map(Json)
}

async fn control_reset_recordings(State(s): State<AppState>) -> Json<Value> {
    Json(control::reset_recordings(&s))
}

async fn control_defects(State(s): State<AppState>) -> Json<Value> {
    Json(control::defects(&s))
}

async fn control_clear_defects(State(s): State<AppState>) -> Json<Value> {
    Json(control::clear_defects(&s))
}

async fn control_enable_defect(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Value> {
    control::set_defect(&s, &name, true).map(Json)
}

async fn control_disable_defect(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Value> {
    control::set_defect(&s, &name, false).map(Json)
}

async fn control_pod_failure(
    State(s): State<AppState>,
    Query(q): Query<control::MarkerQuery>,
) -> Json<Value> {
    Json(control::pod_failure(&s, q.marker.as_deref()))
}

async fn control_set_pod_failure(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<control::PodFailureRequest>,
) -> ApiResult<Value> {
    control::set_pod_failure(&s, req).map(Json)
}

async fn control_clear_pod_failure(
    State(s): State<AppState>,
    Query(q): Query<control::MarkerQuery>,
) -> impl IntoResponse {
    (
        StatusCode::OK,
        Json(control::clear_pod_failure(&s, q.marker.as_deref())),
    )
}

async fn control_pod_network(State(s): State<AppState>) -> ApiResult<Value> {
    control::pod_network_exhausted(&s).await.map(Json)
}

async fn control_exhaust_pod_network(State(s): State<AppState>) -> ApiResult<Value> {
    control::set_pod_network_exhausted(&s, true).await.map(Json)
}

async fn control_restore_pod_network(State(s): State<AppState>) -> ApiResult<Value> {
    control::set_pod_network_exhausted(&s, false)
        .await
        .map(Json)
}

async fn control_idle_timeout(
    State(s): State<AppState>,
    Query(q): Query<control::MarkerQuery>,
) -> Json<Value> {
    Json(control::idle_timeout(&s, q.marker.as_deref()))
}

async fn control_set_idle_timeout(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<control::IdleTimeoutRequest>,
) -> ApiResult<Value> {
    control::set_idle_timeout(&s, req).map(Json)
}

async fn control_clear_idle_timeout(
    State(s): State<AppState>,
    Query(q): Query<control::MarkerQuery>,
) -> impl IntoResponse {
    (
        StatusCode::OK,
        Json(control::clear_idle_timeout(&s, q.marker.as_deref())),
    )
}

async fn control_counters(State(s): State<AppState>) -> Json<Value> {
    Json(control::counters(&s))
}

async fn control_state(State(s): State<AppState>) -> Json<Value> {
    Json(control::state(&s))
}
