//! Decoding Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`),
//! which kubectl's typed commands send (`kubectl create namespace|configmap|secret|job|
//! deployment|service|serviceaccount|role|rolebinding …`). Only the messages and fields
//! those commands use are described; unknown fields are skipped. Responses stay JSON.
//!
//! One module past ~400 lines: one wire decoder over one table of message descriptions;
//! the last ~100 lines are tests against captured kubectl bodies.

use serde_json::{Map, Value, json};

use crate::status::ApiError;

/// The 4-byte prefix of every Kubernetes protobuf payload.
const MAGIC: &[u8] = b"k8s\x00";

#[derive(Debug, Clone, Copy)]
enum Ty {
    Str,
    Int,
    Bool,
    Msg(&'static str),
    MapStr,
    MapBytes,
    MapQty,
    IntOrStr,
}

#[derive(Debug, Clone, Copy)]
struct F {
    num: u64,
    name: &'static str,
    ty: Ty,
    repeated: bool,
}

const fn f(num: u64, name: &'static str, ty: Ty) -> F {
    F {
        num,
        name,
        ty,
        repeated: false,
    }
}

const fn r(num: u64, name: &'static str, ty: Ty) -> F {
    F {
        num,
        name,
        ty,
        repeated: true,
    }
}

use Ty::*;

fn schema(msg: &str) -> &'static [F] {
    match msg {
        "ObjectMeta" => {
            const S: &[F] = &[
                f(1, "name", Str),
                f(2, "generateName", Str),
                f(3, "namespace", Str),
                f(5, "uid", Str),
                f(6, "resourceVersion", Str),
                f(11, "labels", MapStr),
                f(12, "annotations", MapStr),
                r(13, "ownerReferences", Msg("OwnerReference")),
                r(14, "finalizers", Str),
            ];
            S
        }
        "OwnerReference" => {
            const S: &[F] = &[
                f(1, "kind", Str),
                f(3, "name", Str),
                f(4, "uid", Str),
                f(5, "apiVersion", Str),
                f(6, "controller", Bool),
                f(7, "blockOwnerDeletion", Bool),
            ];
            S
        }
        "Namespace" => {
            const S: &[F] = &[
                f(1, "metadata", Msg("ObjectMeta")),
                f(2, "spec", Msg("NamespaceSpec")),
            ];
            S
        }
        "NamespaceSpec" => {
            const S: &[F] = &[r(1, "finalizers", Str)];
            S
        }
        "ConfigMap" => {
            const S: &[F] = &[
                f(1, "metadata", Msg("ObjectMeta")),
                f(2, "data", MapStr),
                f(3, "binaryData", MapBytes),
                f(4, "immutable", Bool),
            ];
            S
        }
        "Secret" => {
            const S: &[F] = &[
                f(1, "metadata", Msg("ObjectMeta")),
                f(2, "data", MapBytes),
                f(3, "type", Str),
                f(4, "stringData", MapStr),
                f(5, "immutable", Bool),
            ];
            S
        }
        "ServiceAccount" => {
            const S: &[F] = &[
                f(1, "metadata", Msg("ObjectMeta")),
                r(3, "imagePullSecrets", Msg("LocalObjectReference")),
                f(4, "automountServiceAccountToken", Bool),
            ];
            S
        }
        "LocalObjectReference" => {
            const S: &[F] = &[f(1, "name", Str)];
            S
        }
        "Job" => {
            const S: &[F] = &[
                f(1, "metadata", Msg("ObjectMeta")),
                f(2, "spec", Msg("JobSpec")),
            ];
            S
        }
        "JobSpec" => {
            const S: &[F] = &[
                f(1, "parallelism", Int),
                f(2, "completions", Int),
                f(3, "activeDeadlineSeconds", Int),
                f(4, "selector", Msg("LabelSelector")),
                f(5, "manualSelector", Bool),
                f(6, "template", Msg("PodTemplateSpec")),
                f(7, "backoffLimit", Int),
                f(8, "ttlSecondsAfterFinished", Int),
                f(9, "completionMode", Str),
                f(10, "suspend", Bool),
                f(14, "podReplacementPolicy", Str),
                f(15, "managedBy", Str),
            ];
            S
        }
        "Deployment" => {
            const S: &[F] = &[
                f(1, "metadata", Msg("ObjectMeta")),
                f(2, "spec", Msg("DeploymentSpec")),
            ];
            S
        }
        "DeploymentSpec" => {
            const S: &[F] = &[
                f(1, "replicas", Int),
                f(2, "selector", Msg("LabelSelector")),
                f(3, "template", Msg("PodTemplateSpec")),
                f(4, "strategy", Msg("DeploymentStrategy")),
                f(5, "minReadySeconds", Int),
                f(6, "revisionHistoryLimit", Int),
                f(7, "paused", Bool),
                f(9, "progressDeadlineSeconds", Int),
            ];
            S
        }
        "DeploymentStrategy" => {
            const S: &[F] = &[
                f(1, "type", Str),
                f(2, "rollingUpdate", Msg("RollingUpdateDeployment")),
            ];
            S
        }
        "RollingUpdateDeployment" => {
            const S: &[F] = &[f(1, "maxUnavailable", IntOrStr), f(2, "maxSurge", IntOrStr)];
            S
        }
        "LabelSelector" => {
            const S: &[F] = &[
                f(1, "matchLabels", MapStr),
                r(2, "matchExpressions", Msg("LabelSelectorRequirement")),
            ];
            S
        }
        "LabelSelectorRequirement" => {
            const S: &[F] = &[f(1, "key", Str), f(2, "operator", Str), r(3, "values", Str)];
            S
        }
        "PodTemplateSpec" => {
            const S: &[F] = &[
                f(1, "metadata", Msg("ObjectMeta")),
                f(2, "spec", Msg("PodSpec")),
            ];
            S
        }
        "PodSpec" => {
            const S: &[F] = &[
                r(2, "containers", Msg("Container")),
                f(3, "restartPolicy", Str),
                f(4, "terminationGracePeriodSeconds", Int),
                f(5, "activeDeadlineSeconds", Int),
                f(6, "dnsPolicy", Str),
                f(7, "nodeSelector", MapStr),
                f(8, "serviceAccountName", Str),
                f(10, "nodeName", Str),
            ];
            S
        }
        "Container" => {
            const S: &[F] = &[
                f(1, "name", Str),
                f(2, "image", Str),
                r(3, "command", Str),
                r(4, "args", Str),
                f(5, "workingDir", Str),
                r(6, "ports", Msg("ContainerPort")),
                r(7, "env", Msg("EnvVar")),
                f(8, "resources", Msg("ResourceRequirements")),
                f(13, "terminationMessagePath", Str),
                f(14, "imagePullPolicy", Str),
                f(16, "stdin", Bool),
                f(18, "tty", Bool),
                f(20, "terminationMessagePolicy", Str),
            ];
            S
        }
        "ContainerPort" => {
            const S: &[F] = &[
                f(1, "name", Str),
                f(2, "hostPort", Int),
                f(3, "containerPort", Int),
                f(4, "protocol", Str),
            ];
            S
        }
        "EnvVar" => {
            const S: &[F] = &[f(1, "name", Str), f(2, "value", Str)];
            S
        }
        "ResourceRequirements" => {
            const S: &[F] = &[f(1, "limits", MapQty), f(2, "requests", MapQty)];
            S
        }
        "Service" => {
            const S: &[F] = &[
                f(1, "metadata", Msg("ObjectMeta")),
                f(2, "spec", Msg("ServiceSpec")),
            ];
            S
        }
        "ServiceSpec" => {
            const S: &[F] = &[
                r(1, "ports", Msg("ServicePort")),
                f(2, "selector", MapStr),
                f(3, "clusterIP", Str),
                f(4, "type", Str),
                r(5, "externalIPs", Str),
                f(7, "sessionAffinity", Str),
                f(10, "externalName", Str),
            ];
            S
        }
        "ServicePort" => {
            const S: &[F] = &[
                f(1, "name", Str),
                f(2, "protocol", Str),
                f(3, "port", Int),
                f(4, "targetPort", IntOrStr),
                f(5, "nodePort", Int),
            ];
            S
        }
        "Role" | "ClusterRole" => {
            const S: &[F] = &[
                f(1, "metadata", Msg("ObjectMeta")),
                r(2, "rules", Msg("PolicyRule")),
            ];
            S
        }
        "PolicyRule" => {
            const S: &[F] = &[
                r(1, "verbs", Str),
                r(2, "apiGroups", Str),
                r(3, "resources", Str),
                r(4, "resourceNames", Str),
                r(5, "nonResourceURLs", Str),
            ];
            S
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            const S: &[F] = &[
                f(1, "metadata", Msg("ObjectMeta")),
                r(2, "subjects", Msg("Subject")),
                f(3, "roleRef", Msg("RoleRef")),
            ];
            S
        }
        "Subject" => {
            const S: &[F] = &[
                f(1, "kind", Str),
                f(2, "apiGroup", Str),
                f(3, "name", Str),
                f(4, "namespace", Str),
            ];
            S
        }
        "RoleRef" => {
            const S: &[F] = &[f(1, "apiGroup", Str), f(2, "kind", Str), f(3, "name", Str)];
            S
        }
        "ResourceQuota" => {
            const S: &[F] = &[
                f(1, "metadata", Msg("ObjectMeta")),
                f(2, "spec", Msg("ResourceQuotaSpec")),
            ];
            S
        }
        // `kubectl drain` / `delete` through typed clients (DELETE body, eviction)
        "DeleteOptions" => {
            const S: &[F] = &[
                f(1, "gracePeriodSeconds", Int),
                f(2, "preconditions", Msg("Preconditions")),
                f(3, "orphanDependents", Bool),
                f(4, "propagationPolicy", Str),
                r(5, "dryRun", Str),
            ];
            S
        }
        "Preconditions" => {
            const S: &[F] = &[f(1, "uid", Str), f(2, "resourceVersion", Str)];
            S
        }
        "Eviction" => {
            const S: &[F] = &[
                f(1, "metadata", Msg("ObjectMeta")),
                f(2, "deleteOptions", Msg("DeleteOptions")),
            ];
            S
        }
        "ResourceQuotaSpec" => {
            const S: &[F] = &[f(1, "hard", MapQty), r(2, "scopes", Str)];
            S
        }
        _ => &[],
    }
}

fn bad(what: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "the object provided is unrecognized or malformed: protobuf: {what}"
    ))
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ApiError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| bad("truncated varint"))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad("varint too long"))
    }

    fn next(&mut self) -> Result<Option<(u64, Wire<'a>)>, ApiError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let (num, wt) = (key >> 3, key & 7);
        let wire = match wt {
            0 => Wire::Varint(self.varint()?),
            1 | 5 => {
                let n = if wt == 1 { 8 } else { 4 };
                self.pos = self
                    .pos
                    .checked_add(n)
                    .filter(|p| *p <= self.buf.len())
                    .ok_or_else(|| bad("truncated fixed"))?;
                Wire::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| bad("length"))?;
                let end = self
                    .pos
                    .checked_add(len)
                    .filter(|e| *e <= self.buf.len())
                    .ok_or_else(|| bad("truncated field"))?;
                let b = &self.buf[self.pos..end];
                self.pos = end;
                Wire::Bytes(b)
            }
            _ => return Err(bad("unsupported wire type")),
        };
        Ok(Some((num, wire)))
    }
}

const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn text(b: &[u8]) -> Result<String, ApiError> {
    String::from_utf8(b.to_vec()).map_err(|_| bad("invalid UTF-8"))
}

/// A map entry: key = 1, value = 2.
fn entry(
    b: &[u8],
    value: impl Fn(&[u8]) -> Result<Value, ApiError>,
) -> Result<(String, Value), ApiError> {
    let mut rd = Reader { buf: b, pos: 0 };
    let (mut k, mut v) = (String::new(), Value::String(String::new()));
    while let Some((num, w)) = rd.next()? {
        if let Wire::Bytes(b) = w {
            match num {
                1 => k = text(b)?,
                2 => v = value(b)?,
                _ => {}
            }
        }
    }
    Ok((k, v))
}

fn scalar_string(b: &[u8], field: u64) -> Result<String, ApiError> {
    let mut rd = Reader { buf: b, pos: 0 };
    let mut out = String::new();
    while let Some((num, w)) = rd.next()? {
        if let (true, Wire::Bytes(b)) = (num == field, w) {
            out = text(b)?;
        }
    }
    Ok(out)
}

fn value_of(ty: Ty, w: Wire<'_>) -> Result<Option<Value>, ApiError> {
    Ok(match (ty, w) {
        (Str, Wire::Bytes(b)) => Some(json!(text(b)?)),
        // int32/int64 are two's complement varints
        (Int, Wire::Varint(v)) => Some(json!(v as i64)),
        (Bool, Wire::Varint(v)) => Some(json!(v != 0)),
        (Msg(m), Wire::Bytes(b)) => Some(message(m, b)?),
        (IntOrStr, Wire::Bytes(b)) => {
            let mut rd = Reader { buf: b, pos: 0 };
            let (mut is_str, mut i, mut s) = (false, 0i64, String::new());
            while let Some((num, w)) = rd.next()? {
                match (num, w) {
                    (1, Wire::Varint(v)) => is_str = v == 1,
                    (2, Wire::Varint(v)) => i = v as i64,
                    (3, Wire::Bytes(b)) => s = text(b)?,
                    _ => {}
                }
            }
            Some(if is_str { json!(s) } else { json!(i) })
        }
        _ => None,
    })
}

/// Fields that are pointers in Go: a zero/false value was set on purpose.
const POINTER_FIELDS: &[&str] = &[
    "replicas",
    "parallelism",
    "completions",
    "backoffLimit",
    "activeDeadlineSeconds",
    "ttlSecondsAfterFinished",
    "terminationGracePeriodSeconds",
    "revisionHistoryLimit",
    "progressDeadlineSeconds",
    "automountServiceAccountToken",
    "immutable",
    "suspend",
    "manualSelector",
    "controller",
    "blockOwnerDeletion",
];

/// gogo-protobuf writes every non-pointer field; JSON omits empty ones (`omitempty`).
fn is_unset(field: &str, v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b && !POINTER_FIELDS.contains(&field),
        Value::Number(n) => n.as_i64() == Some(0) && !POINTER_FIELDS.contains(&field),
        _ => false,
    }
}

fn message(name: &str, buf: &[u8]) -> Result<Value, ApiError> {
    let fields = schema(name);
    let mut out = Map::new();
    let mut rd = Reader { buf, pos: 0 };
    while let Some((num, w)) = rd.next()? {
        let Some(fd) = fields.iter().find(|x| x.num == num) else {
            continue;
        };
        match (fd.ty, w) {
            (MapStr | MapBytes | MapQty, Wire::Bytes(b)) => {
                let (k, v) = entry(b, |vb| match fd.ty {
                    MapBytes => Ok(json!(base64(vb))),
                    MapQty => Ok(json!(scalar_string(vb, 1)?)),
                    _ => Ok(json!(text(vb)?)),
                })?;
                let m = out.entry(fd.name).or_insert_with(|| json!({}));
                if let Some(m) = m.as_object_mut() {
                    m.insert(k, v);
                }
            }
            (ty, w) => {
                if let Some(v) = value_of(ty, w)? {
                    if fd.repeated {
                        let a = out.entry(fd.name).or_insert_with(|| json!([]));
                        if let Some(a) = a.as_array_mut() {
                            a.push(v);
                        }
                    } else if !is_unset(fd.name, &v) {
                        out.insert(fd.name.to_string(), v);
                    }
                }
            }
        }
    }
    Ok(Value::Object(out))
}

/// Decode a protobuf body (`k8s\0` + runtime.Unknown) into the JSON object.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("missing k8s magic prefix"))?;
    let mut rd = Reader { buf: rest, pos: 0 };
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), None);
    while let Some((num, w)) = rd.next()? {
        match (num, w) {
            (1, Wire::Bytes(tm)) => {
                api_version = scalar_string(tm, 1)?;
                kind = scalar_string(tm, 2)?;
            }
            (2, Wire::Bytes(b)) => raw = Some(b),
            _ => {}
        }
    }
    let raw = raw.ok_or_else(|| bad("no raw object"))?;
    if schema(&kind).is_empty() {
        return Err(ApiError::UnsupportedBody);
    }
    let mut obj = message(&kind, raw)?;
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind);
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn bytes_field(num: u64, b: &[u8], out: &mut Vec<u8>) {
        varint((num << 3) | 2, out);
        varint(b.len() as u64, out);
        out.extend_from_slice(b);
    }

    #[test]
    fn decodes_kubectl_drain_delete_options() {
        // kubectl 1.37.1 `drain --force`: DELETE …/pods/NAME with an empty DeleteOptions
        let mut body = b"k8s\x00\x0a\x13\x0a\x02v1\x12\x0dDeleteOptions".to_vec();
        body.extend_from_slice(b"\x12\x00\x1a\x00\x22\x00");
        let v = decode(&body).expect("decodes");
        assert_eq!(v, json!({"apiVersion": "v1", "kind": "DeleteOptions"}));
        // with a propagation policy and a grace period
        let mut opts = Vec::new();
        varint(1 << 3, &mut opts);
        varint(30, &mut opts);
        bytes_field(4, b"Foreground", &mut opts);
        let mut tm = Vec::new();
        bytes_field(1, b"v1", &mut tm);
        bytes_field(2, b"DeleteOptions", &mut tm);
        let mut body = b"k8s\x00".to_vec();
        bytes_field(1, &tm, &mut body);
        bytes_field(2, &opts, &mut body);
        let v = decode(&body).expect("decodes");
        assert_eq!(v["gracePeriodSeconds"], json!(30));
        assert_eq!(v["propagationPolicy"], json!("Foreground"));
    }

    #[test]
    fn decodes_a_namespace_envelope() {
        let mut meta = Vec::new();
        bytes_field(1, b"panda", &mut meta);
        let mut label = Vec::new();
        bytes_field(1, b"team", &mut label);
        bytes_field(2, b"a", &mut label);
        bytes_field(11, &label, &mut meta);
        let mut ns = Vec::new();
        bytes_field(1, &meta, &mut ns);
        let mut tm = Vec::new();
        bytes_field(1, b"v1", &mut tm);
        bytes_field(2, b"Namespace", &mut tm);
        let mut unknown = Vec::new();
        bytes_field(1, &tm, &mut unknown);
        bytes_field(2, &ns, &mut unknown);
        let mut body = MAGIC.to_vec();
        body.extend_from_slice(&unknown);
        let v = decode(&body).expect("decodes");
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "panda", "labels": {"team": "a"}}})
        );
        assert!(decode(b"nope").is_err());
    }

    /// The body kubectl 1.32 sent for
    /// `kubectl create job grpc-job-7 --image=registry.local/grpc:1.0 -- serve --port 50051`.
    #[test]
    fn decodes_kubectl_create_job() {
        let hex = include_str!("../../tests/fixtures/kubectl-1.32-create-job.pb.hex").trim();
        let body: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        let v = decode(&body).expect("decodes");
        assert_eq!(
            v,
            json!({"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "grpc-job-7"},
                "spec": {"template": {"metadata": {}, "spec": {
                    "containers": [{"name": "grpc-job-7", "image": "registry.local/grpc:1.0",
                        "command": ["serve", "--port", "50051"], "resources": {}}],
                    "restartPolicy": "Never"}}}})
        );
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
