//! HTTP errors in Focus Server's two shapes: the application's `{"error": "..."}`
//! and FastAPI's `{"detail": ...}`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// One entry of a FastAPI 422 `detail` list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    /// Where: `["body", "channels", "min"]`.
    pub loc: Vec<Value>,
    /// Human-readable message (pydantic's wording).
    pub msg: String,
    /// Machine-readable type (`missing`, `int_type`, `json_invalid`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// The offending input.
    pub input: Value,
}

impl FieldError {
    /// A field error at `loc` (without the leading `"body"`).
    pub fn at(path: &[&str], kind: &str, msg: impl Into<String>, input: Value) -> Self {
        let mut loc = vec![Value::from("body")];
        loc.extend(path.iter().map(|p| Value::from(*p)));
        FieldError {
            loc,
            msg: msg.into(),
            kind: kind.into(),
            input,
        }
    }
}

/// Every error the API answers with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400 `{"error": msg}`: a validation rule.
    #[error("{0}")]
    BadRequest(String),
    /// 404 `{"error": msg}`: an unknown job id, no recordings, no live metadata.
    #[error("{0}")]
    NotFound(String),
    /// 404 `{"detail":"Not Found"}`: no such route (FastAPI's default).
    #[error("Not Found")]
    NoRoute,
    /// 405 `{"detail":"Method Not Allowed"}`.
    #[error("Method Not Allowed")]
    MethodNotAllowed,
    /// 422 `{"detail": [...]}`: schema errors.
    #[error("unprocessable entity: {0:?}")]
    Unprocessable(Vec<FieldError>),
    /// 503 `{"error": msg}`: live stream unavailable, no free stream port.
    #[error("{0}")]
    Unavailable(String),
    /// 500 `{"error": msg}`: the cluster or the server failed.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::NotFound(_) | AppError::NoRoute => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        match self {
            AppError::BadRequest(m)
            | AppError::NotFound(m)
            | AppError::Unavailable(m)
            | AppError::Internal(m) => json!({ "error": m }),
            AppError::NoRoute => json!({ "detail": "Not Found" }),
            AppError::MethodNotAllowed => json!({ "detail": "Method Not Allowed" }),
            AppError::Unprocessable(details) => json!({ "detail": details }),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if matches!(self, AppError::Internal(_)) {
            tracing::warn!(error = %self, "internal error");
        }
        (self.status(), Json(self.body())).into_response()
    }
}

impl From<kube::Error> for AppError {
    fn from(e: kube::Error) -> Self {
        AppError::Internal(format!("Kubernetes request failed: {e}"))
    }
}

/// The 422 for a body that is not JSON at all.
pub fn json_invalid(err: &serde_json::Error) -> AppError {
    AppError::Unprocessable(vec![FieldError {
        loc: vec![Value::from("body"), Value::from(err.column())],
        msg: "JSON decode error".into(),
        kind: "json_invalid".into(),
        input: json!({}),
    }])
}

/// `axum::Json` whose rejections answer in FastAPI's 422 shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(from_json_rejection(&rejection)),
        }
    }
}

fn from_json_rejection(rejection: &JsonRejection) -> AppError {
    let (kind, msg) = match rejection {
        JsonRejection::JsonSyntaxError(_) => ("json_invalid", "JSON decode error".to_owned()),
        JsonRejection::JsonDataError(e) => ("value_error", e.body_text()),
        JsonRejection::MissingJsonContentType(_) => (
            "model_attributes_type",
            "Input should be a valid dictionary or object to extract fields from".to_owned(),
        ),
        other => ("value_error", other.body_text()),
    };
    AppError::Unprocessable(vec![FieldError {
        loc: vec![Value::from("body")],
        msg,
        kind: kind.into(),
        input: Value::Null,
    }])
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// A handler's result.
pub type ApiResult<T> = Result<Json<T>, AppError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(
            AppError::NotFound("Invalid job_id".into()).body(),
            json!({"error": "Invalid job_id"})
        );
        assert_eq!(AppError::NoRoute.body(), json!({"detail": "Not Found"}));
        let e = AppError::Unprocessable(vec![FieldError::at(
            &["channels"],
            "missing",
            "Field required",
            Value::Null,
        )]);
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.body()["detail"][0]["loc"], json!(["body", "channels"]));
        assert_eq!(e.body()["detail"][0]["type"], json!("missing"));
    }
}
