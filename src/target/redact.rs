//! Secrets never reach an output: URLs are printed without their userinfo.

/// The URL without `user:password@` (unchanged when it is not a URL or has none).
pub fn url(text: &str) -> String {
    match reqwest::Url::parse(text) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => text.to_string(),
    }
}

/// Whether a header, annotation or variable name looks like it holds a secret.
pub fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "token",
        "key",
        "secret",
        "password",
        "passwd",
        "auth",
        "cookie",
        "credential",
    ]
    .iter()
    .any(|w| n.contains(w))
}

pub const REDACTED: &str = "<redacted>";

/// A Kubernetes object (as JSON) as diagnostics may show it: `managedFields` gone,
/// every container's `env` values and secret-looking annotations redacted.
pub fn manifest(mut v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        if let Some(ann) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            for (k, val) in ann.iter_mut() {
                // last-applied-configuration repeats the whole object, env included.
                if secret_name(k) || k.ends_with("last-applied-configuration") {
                    *val = Value::String(REDACTED.into());
                }
            }
        }
    }
    redact_env(&mut v);
    v
}

/// Redacts `env[].value` wherever a container list appears (pods, Job templates).
fn redact_env(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "env"
                    && let Value::Array(vars) = child
                {
                    for var in vars.iter_mut() {
                        if let Some(o) = var.as_object_mut()
                            && o.contains_key("value")
                        {
                            o.insert("value".into(), Value::String(REDACTED.into()));
                        }
                    }
                } else {
                    redact_env(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_env),
        _ => {}
    }
}

/// A Markdown fence that the text cannot close: longer than any backtick run in it.
pub fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn manifests_lose_env_values_managed_fields_and_secret_annotations() {
        let pod = json!({
            "metadata": {"name": "p", "managedFields": [{"manager": "x"}],
                "annotations": {"vault.example/api-token": "tok-123", "team": "panda"}},
            "spec": {"containers": [{"name": "c", "env": [
                {"name": "PASSWORD", "value": "hunter2"},
                {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
            ]}]}
        });
        let shown = super::manifest(pod).to_string();
        for secret in ["hunter2", "tok-123", "managedFields"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("panda") && shown.contains("PASSWORD") && shown.contains("secretKeyRef")
        );
    }

    #[test]
    fn secret_names_are_caught_case_insensitively() {
        for n in [
            "Authorization",
            "X-Api-Key",
            "Set-Cookie",
            "x-session-TOKEN",
            "DB_Password",
        ] {
            assert!(super::secret_name(n), "{n}");
        }
        assert!(!super::secret_name("Content-Type"));
    }

    #[test]
    fn content_cannot_close_its_fence() {
        let text = "a\n```\nb ```` c";
        let f = super::fence_for(text);
        assert!(f.len() > 4, "{f}");
    }

    #[test]
    fn userinfo_is_stripped() {
        assert_eq!(
            super::url("https://user:pa55@focus.example/x"),
            "https://focus.example/x"
        );
        assert_eq!(super::url("http://127.0.0.1:9/"), "http://127.0.0.1:9/");
        assert_eq!(super::url("not a url"), "not a url");
    }
}
