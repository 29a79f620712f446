//! The Focus Server API client: typed requests for positive paths, raw JSON for
//! negative ones (nothing is validated client-side), tolerant response parsing.
//!
//! `POST /configure` is never retried: it is not idempotent.

use std::time::{Duration, Instant};

use crate::target::names::SandboxMarker;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{method} {url}: no answer within {timeout:?}")]
    Timeout {
        method: &'static str,
        url: String,
        timeout: Duration,
    },
    #[error("{method} {url}: {message}")]
    Transport {
        method: &'static str,
        url: String,
        message: String,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// One answer of Focus Server: status, JSON body (or the raw text), and latency.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub method: &'static str,
    pub path: String,
    pub request_body: Option<Value>,
    pub status: u16,
    pub body: Value,
    pub latency: Duration,
    /// Response headers, secrets redacted (for failure diagnostics).
    pub headers: Vec<(String, String)>,
}

/// A header as diagnostics may show it: a secret-looking name (`redact::secret_name`:
/// Authorization, Cookie, anything with token, key, auth, …) keeps its value inside.
pub fn redacted_header(name: &str, value: &str) -> (String, String) {
    let lower = name.to_ascii_lowercase();
    let value = if crate::target::redact::secret_name(&lower) {
        crate::target::redact::REDACTED.to_string()
    } else {
        value.to_string()
    };
    (lower, value)
}

impl ApiResponse {
    /// The `error` message of a 4xx/5xx body, or the FastAPI `detail`.
    pub fn error_text(&self) -> String {
        match (&self.body.get("error"), &self.body.get("detail")) {
            (Some(Value::String(s)), _) => s.clone(),
            (_, Some(d)) => d.to_string(),
            _ => self.body.to_string(),
        }
    }

    /// A one-line account for failure messages.
    pub fn describe(&self) -> String {
        let body = self.body.to_string();
        let body = if body.len() > 400 {
            format!("{}…", &body[..body.floor_char_boundary(400)])
        } else {
            body
        };
        format!(
            "{} {} answered {} in {:?}: {}",
            self.method, self.path, self.status, self.latency, body
        )
    }
}

/// The Focus Server API at one base URL (path prefix included).
#[derive(Clone)]
pub struct FocusApi {
    http: reqwest::Client,
    base: String,
    timeout: Duration,
}

impl std::fmt::Debug for FocusApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FocusApi")
            .field("base", &self.base)
            .finish()
    }
}

impl FocusApi {
    pub fn new(base: &str, timeout: Duration, tls_verify: bool) -> Result<FocusApi, ApiError> {
        Self::with_ca(base, timeout, tls_verify, None)
    }

    /// As [`FocusApi::new`], trusting also the CA certificates of a PEM file (a private
    /// CA), with full hostname verification.
    pub fn with_ca(
        base: &str,
        timeout: Duration,
        tls_verify: bool,
        ca_pem: Option<&[u8]>,
    ) -> Result<FocusApi, ApiError> {
        // reqwest is built without a crypto provider (see Cargo.toml): ring, once.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .tls_danger_accept_invalid_certs(!tls_verify)
            .no_proxy();
        if let Some(pem) = ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| ApiError::Client(format!("target.tls_ca: {e}")))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| ApiError::Client(e.to_string()))?;
        Ok(FocusApi {
            http,
            base: base.trim_end_matches('/').to_string(),
            timeout,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn send(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<ApiResponse, ApiError> {
        self.send_marked(method, path, body, None).await
    }

    async fn send_marked(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
        marker: Option<&SandboxMarker>,
    ) -> Result<ApiResponse, ApiError> {
        let url = format!("{}{}", self.base, path);
        let mut req = match method {
            "GET" => self.http.get(&url),
            "POST" => self.http.post(&url),
            "DELETE" => self.http.delete(&url),
            "PUT" => self.http.put(&url),
            _ => self.http.request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET),
                &url,
            ),
        };
        if let Some(m) = marker {
            req = req.header(focus_sandbox::names::MARKER_HEADER, m.as_str());
        }
        if let Some(b) = body {
            // Serialised by hand so that invalid shapes reach the server untouched.
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let started = Instant::now();
        let resp = req
            .send()
            .await
            .map_err(|e| self.transport(method, &url, e))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| redacted_header(k.as_str(), v.to_str().unwrap_or("<binary>")))
            .collect();
        let text = resp
            .text()
            .await
            .map_err(|e| self.transport(method, &url, e))?;
        let latency = started.elapsed();
        Ok(ApiResponse {
            method,
            path: path.to_string(),
            request_body: body.cloned(),
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            latency,
            headers,
        })
    }

    fn transport(&self, method: &'static str, url: &str, e: reqwest::Error) -> ApiError {
        // Failures reach reports: never a URL's userinfo (reqwest's text names the URL).
        let url = crate::target::redact::url(url);
        let e = e.without_url();
        if e.is_timeout() {
            ApiError::Timeout {
                method,
                url,
                timeout: self.timeout,
            }
        } else {
            let mut message = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                message = format!("{message}: {s}");
                src = s.source();
            }
            ApiError::Transport {
                method,
                url,
                message,
            }
        }
    }

    /// Idempotent GETs retry transport errors with a short bounded backoff.
    async fn get(&self, path: &str) -> Result<ApiResponse, ApiError> {
        let mut delay = Duration::from_millis(100);
        let mut attempt = 0;
        loop {
            match self.send("GET", path, None).await {
                Err(ApiError::Transport { .. }) if attempt < 2 => {
                    attempt += 1;
                    tokio::time::sleep(delay).await;
                    delay *= 4;
                }
                other => return other,
            }
        }
    }

    pub async fn ack(&self) -> Result<ApiResponse, ApiError> {
        self.get("/ack").await
    }

    pub async fn channels(&self) -> Result<ApiResponse, ApiError> {
        self.get("/channels").await
    }

    pub async fn live_metadata(&self) -> Result<ApiResponse, ApiError> {
        self.get("/live_metadata").await
    }

    pub async fn metadata(&self, job_id: &str) -> Result<ApiResponse, ApiError> {
        self.get(&format!("/metadata/{job_id}")).await
    }

    pub async fn openapi(&self) -> Result<ApiResponse, ApiError> {
        self.get("/openapi.json").await
    }

    /// `POST /configure` with exactly this JSON. Sent once: never retried. `marker`
    /// (the sandbox only) takes the next-investigation settings armed for it.
    pub async fn configure(
        &self,
        body: &Value,
        marker: Option<&SandboxMarker>,
    ) -> Result<ApiResponse, ApiError> {
        self.send_marked("POST", "/configure", Some(body), marker)
            .await
    }

    pub async fn recordings_in_time_range(
        &self,
        start: i64,
        end: i64,
    ) -> Result<ApiResponse, ApiError> {
        self.send(
            "POST",
            "/recordings_in_time_range",
            Some(&json!({"start_time": start, "end_time": end})),
        )
        .await
    }

    /// `PUT <base><path>` with a JSON body (the sandbox control API).
    pub async fn put(&self, path: &str, body: &Value) -> Result<ApiResponse, ApiError> {
        self.send("PUT", path, Some(body)).await
    }

    /// `DELETE <base><path>` (the sandbox control API).
    pub async fn delete(&self, path: &str) -> Result<ApiResponse, ApiError> {
        self.send("DELETE", path, None).await
    }

    pub async fn cancel(&self, job_id: &str) -> Result<ApiResponse, ApiError> {
        self.send("DELETE", &format!("/job/{job_id}"), None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_headers_never_reach_diagnostics() {
        for name in ["Authorization", "Set-Cookie", "X-Auth-Token", "x-api-key"] {
            assert_eq!(redacted_header(name, "s3cret").1, "<redacted>", "{name}");
        }
        assert_eq!(
            redacted_header("Content-Type", "application/json"),
            ("content-type".to_string(), "application/json".to_string())
        );
    }
}
