//! API errors and their metav1 `Status` bodies.
//!
//! kube-rs classifies errors by `reason` only, so every error answer is a JSON
//! `Status` carrying the exact upstream reason, code and message shape.

use serde_json::{Value, json};

use crate::resources::ResourceType;

/// One field-level validation failure (`details.causes[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub field: String,
    pub message: String,
    pub reason: &'static str,
}

impl Cause {
    /// `Invalid value: <value>: <detail>` (upstream `field.Invalid`).
    pub fn invalid(field: impl Into<String>, value: &Value, detail: &str) -> Self {
        let shown = match value {
            Value::String(s) => format!("\"{s}\""),
            other => other.to_string(),
        };
        Cause {
            field: field.into(),
            message: format!("Invalid value: {shown}: {detail}"),
            reason: "FieldValueInvalid",
        }
    }

    /// `Required value` (upstream `field.Required`).
    pub fn required(field: impl Into<String>) -> Self {
        Cause {
            field: field.into(),
            message: "Required value".to_string(),
            reason: "FieldValueRequired",
        }
    }

    /// `Unsupported value: <value>: supported values: ...`.
    pub fn unsupported(field: impl Into<String>, value: &Value, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        Cause {
            field: field.into(),
            message: format!(
                "Unsupported value: {value}: supported values: {}",
                list.join(", ")
            ),
            reason: "FieldValueNotSupported",
        }
    }
}

/// Every way an API call can fail, rendered as an upstream `Status`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{qualified} \"{name}\" not found")]
    NotFound {
        group: String,
        plural: String,
        qualified: String,
        name: String,
    },
    #[error("the server could not find the requested resource")]
    UnknownPath,
    #[error("{qualified} \"{name}\" already exists")]
    AlreadyExists {
        group: String,
        plural: String,
        qualified: String,
        name: String,
    },
    #[error("Operation cannot be fulfilled on {qualified} \"{name}\": {detail}")]
    Conflict {
        group: String,
        plural: String,
        qualified: String,
        name: String,
        detail: String,
    },
    #[error(
        "{} \"{name}\" is invalid: {}",
        qualified_kind(kind, group),
        render_causes(causes)
    )]
    Invalid {
        group: String,
        kind: String,
        name: String,
        causes: Vec<Cause>,
    },
    #[error("{qualified} \"{name}\" is forbidden: {detail}")]
    Forbidden {
        group: String,
        plural: String,
        qualified: String,
        name: String,
        detail: String,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("too old resource version: {requested} ({current})")]
    Expired { requested: u64, current: u64 },
    #[error(
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json"
    )]
    UnsupportedMediaType,
    #[error(
        "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml"
    )]
    UnsupportedBody,
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    #[error("{0}")]
    Internal(String),
}

fn qualified_kind(kind: &str, group: &str) -> String {
    if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    }
}

fn render_causes(causes: &[Cause]) -> String {
    let parts: Vec<String> = causes
        .iter()
        .map(|c| {
            if c.field.is_empty() {
                c.message.clone()
            } else {
                format!("{}: {}", c.field, c.message)
            }
        })
        .collect();
    if parts.len() == 1 {
        parts.concat()
    } else {
        format!("[{}]", parts.join(", "))
    }
}

impl ApiError {
    pub fn not_found(rt: &ResourceType, name: &str) -> Self {
        ApiError::NotFound {
            group: rt.group.to_string(),
            plural: rt.plural.to_string(),
            qualified: rt.qualified(),
            name: name.to_string(),
        }
    }

    pub fn already_exists(rt: &ResourceType, name: &str) -> Self {
        ApiError::AlreadyExists {
            group: rt.group.to_string(),
            plural: rt.plural.to_string(),
            qualified: rt.qualified(),
            name: name.to_string(),
        }
    }

    /// Stale `metadata.resourceVersion` on an update.
    pub fn conflict_modified(rt: &ResourceType, name: &str) -> Self {
        Self::conflict(
            rt,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    pub fn conflict(rt: &ResourceType, name: &str, detail: &str) -> Self {
        ApiError::Conflict {
            group: rt.group.to_string(),
            plural: rt.plural.to_string(),
            qualified: rt.qualified(),
            name: name.to_string(),
            detail: detail.to_string(),
        }
    }

    pub fn invalid(rt: &ResourceType, name: &str, causes: Vec<Cause>) -> Self {
        ApiError::Invalid {
            group: rt.group.to_string(),
            kind: rt.kind.to_string(),
            name: name.to_string(),
            causes,
        }
    }

    pub fn forbidden(rt: &ResourceType, name: &str, detail: String) -> Self {
        ApiError::Forbidden {
            group: rt.group.to_string(),
            plural: rt.plural.to_string(),
            qualified: rt.qualified(),
            name: name.to_string(),
            detail,
        }
    }

    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound { .. } | ApiError::UnknownPath => 404,
            ApiError::AlreadyExists { .. } | ApiError::Conflict { .. } => 409,
            ApiError::Invalid { .. } => 422,
            ApiError::Forbidden { .. } => 403,
            ApiError::BadRequest(_) => 400,
            ApiError::Expired { .. } => 410,
            ApiError::UnsupportedMediaType | ApiError::UnsupportedBody => 415,
            ApiError::MethodNotAllowed => 405,
            ApiError::Internal(_) => 500,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } | ApiError::UnknownPath => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::Forbidden { .. } => "Forbidden",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Expired { .. } => "Expired",
            ApiError::UnsupportedMediaType | ApiError::UnsupportedBody => "UnsupportedMediaType",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::Internal(_) => "InternalError",
        }
    }

    fn details(&self) -> Option<Value> {
        fn named(group: &str, kind: &str, name: &str) -> Value {
            let mut d = json!({"name": name, "kind": kind});
            if !group.is_empty() {
                d["group"] = json!(group);
            }
            d
        }
        match self {
            ApiError::NotFound {
                group,
                plural,
                name,
                ..
            }
            | ApiError::AlreadyExists {
                group,
                plural,
                name,
                ..
            }
            | ApiError::Conflict {
                group,
                plural,
                name,
                ..
            }
            | ApiError::Forbidden {
                group,
                plural,
                name,
                ..
            } => Some(named(group, plural, name)),
            ApiError::Invalid {
                group,
                kind,
                name,
                causes,
            } => {
                let mut d = named(group, kind, name);
                d["causes"] = causes
                    .iter()
                    .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                    .collect();
                Some(d)
            }
            ApiError::UnknownPath => Some(json!({})),
            _ => None,
        }
    }

    /// The metav1 `Status` body for this error.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        if let Some(d) = self.details() {
            s["details"] = d;
        }
        s
    }
}

/// A successful deletion answer (`status: Success`).
pub fn success_status(rt: &ResourceType, name: &str, uid: &str) -> Value {
    let mut details = json!({"name": name, "kind": rt.plural, "uid": uid});
    if !rt.group.is_empty() {
        details["group"] = json!(rt.group);
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}
