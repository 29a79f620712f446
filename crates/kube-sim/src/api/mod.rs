//! The HTTP surface: one router, a path parser that maps URLs onto resource types,
//! and per-area handlers (discovery, objects, watch).

mod discovery;
mod objects;
mod openapi;
mod protobuf;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::api_state::ApiState;
use crate::resources::{self, ResourceType};
use crate::status::ApiError;

/// Build the router over a cluster.
pub fn router(cluster: Arc<ApiState>) -> Router {
    Router::new().fallback(dispatch).with_state(cluster)
}

/// A JSON answer.
pub fn json_response(code: StatusCode, body: &Value) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Where a resource request points.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub rt: ResourceType,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

/// Map `/api/v1/...` and `/apis/g/v/...` onto a resource target.
pub fn parse_path(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let target = |plural: &str, ns: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        let rt = resources::lookup(group, version, plural)?;
        if ns.is_some() && !rt.namespaced {
            return None;
        }
        Some(Target {
            rt,
            namespace: ns.map(String::from),
            name: name.map(String::from),
            sub: sub.map(String::from),
        })
    };
    match rest {
        ["namespaces", ns, plural] if *plural != "status" && *plural != "finalize" => {
            target(plural, Some(ns), None, None)
        }
        ["namespaces", ns, plural, name] => target(plural, Some(ns), Some(name), None),
        ["namespaces", ns, plural, name, sub] => target(plural, Some(ns), Some(name), Some(sub)),
        [plural] => target(plural, None, None, None),
        [plural, name] => target(plural, None, Some(name), None),
        [plural, name, sub] => target(plural, None, Some(name), Some(sub)),
        _ => None,
    }
}

/// Decoded query parameters (empty pairs such as a leading `&` are skipped).
pub fn query(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

async fn dispatch(
    State(cluster): State<Arc<ApiState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    tracing::debug!(
        %method,
        %uri,
        content_type = ?headers.get(header::CONTENT_TYPE),
        accept = ?headers.get(header::ACCEPT),
        "request"
    );
    if let Some(r) = discovery::serve(&path) {
        return r;
    }
    let Some(target) = parse_path(&path) else {
        return ApiError::UnknownPath.into_response();
    };
    let q = query(&uri);
    match objects::handle(&cluster, &method, &target, &q, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// Kubernetes `Status` bodies for API errors; the status codes are the API server's.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_response(code, &self.to_status())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let t = parse_path("/apis/batch/v1/namespaces/ns/jobs/j/status").expect("job status");
        assert_eq!(t.rt, resources::JOBS);
        assert_eq!(t.namespace.as_deref(), Some("ns"));
        assert_eq!(t.sub.as_deref(), Some("status"));
        let t = parse_path("/api/v1/namespaces/ns").expect("namespace");
        assert_eq!(t.rt, resources::NAMESPACES);
        assert_eq!(t.name.as_deref(), Some("ns"));
        let t = parse_path("/api/v1/namespaces/ns/status").expect("namespace status");
        assert_eq!(t.sub.as_deref(), Some("status"));
        assert!(parse_path("/api/v1/namespaces/ns/nodes").is_none());
        assert!(parse_path("/apis/foo/v1/bars").is_none());
        let t = parse_path("/api/v1/pods").expect("all pods");
        assert!(t.namespace.is_none() && t.name.is_none());
        let q = query(
            &"/x?&limit=500&labelSelector=a%3Db"
                .parse::<Uri>()
                .expect("uri"),
        );
        assert_eq!(q["limit"], "500");
        assert_eq!(q["labelSelector"], "a=b");
    }
}
