//! The `POST /configure` body: its wire schema, parsed the way FastAPI/pydantic
//! (lax mode) would, with 422 details that name each offending field.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{AppError, FieldError, json_invalid};

/// An inclusive `{min, max}` pair (`channels`, `frequencyRange`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Range {
    /// Lower bound.
    pub min: i64,
    /// Upper bound.
    pub max: i64,
}

/// View type codes of the contract.
pub mod view_type {
    /// 0: multichannel spectrogram.
    pub const MULTICHANNEL: i64 = 0;
    /// 1: one channel.
    pub const SINGLECHANNEL: i64 = 1;
    /// 2: waterfall.
    pub const WATERFALL: i64 = 2;
}

/// A schema-valid configure request (its values still unchecked).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigureRequest {
    /// `displayTimeAxisDuration`, seconds.
    pub display_time_axis_duration: Option<i64>,
    /// `nfftSelection`.
    pub nfft_selection: Option<i64>,
    /// `displayInfo.height`.
    pub height: i64,
    /// `channels`.
    pub channels: Range,
    /// `frequencyRange`, Hz.
    pub frequency_range: Option<Range>,
    /// `start_time`, epoch seconds.
    pub start_time: Option<i64>,
    /// `end_time`, epoch seconds.
    pub end_time: Option<i64>,
    /// `view_type` code.
    pub view_type: i64,
    /// The body as received.
    pub raw: Value,
}

/// Parses a configure body. Malformed JSON and schema errors are 422s in FastAPI's shape.
pub fn parse_configure(body: &[u8]) -> Result<ConfigureRequest, AppError> {
    let raw: Value = serde_json::from_slice(body).map_err(|e| json_invalid(&e))?;
    let mut errors = Vec::new();
    let Some(obj) = raw.as_object() else {
        return Err(AppError::Unprocessable(vec![not_an_object(&[], &raw)]));
    };
    let display_time_axis_duration = optional_int(obj, "displayTimeAxisDuration", &mut errors);
    let nfft_selection = optional_int(obj, "nfftSelection", &mut errors);
    let height = required_object(obj, "displayInfo", &mut errors)
        .and_then(|o| required_int(o, &["displayInfo", "height"], &mut errors));
    let channels = required_object(obj, "channels", &mut errors)
        .and_then(|o| range(o, "channels", &mut errors));
    let frequency_range = match obj.get("frequencyRange") {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => range(o, "frequencyRange", &mut errors),
        Some(other) => {
            errors.push(not_an_object(&["frequencyRange"], other));
            None
        }
    };
    let start_time = optional_int(obj, "start_time", &mut errors);
    let end_time = optional_int(obj, "end_time", &mut errors);
    let view_type = required_int(obj, &["view_type"], &mut errors);

    match (height, channels, view_type) {
        (Some(height), Some(channels), Some(view_type)) if errors.is_empty() => {
            Ok(ConfigureRequest {
                display_time_axis_duration,
                nfft_selection,
                height,
                channels,
                frequency_range,
                start_time,
                end_time,
                view_type,
                raw,
            })
        }
        _ => Err(AppError::Unprocessable(errors)),
    }
}

/// The `strict-schema` defect: unknown top-level fields and a `view_type` sent as a
/// string are schema errors (pydantic `extra="forbid"`, strict ints).
pub fn strict_schema(body: &[u8]) -> Result<(), AppError> {
    const KNOWN: &[&str] = &[
        "displayTimeAxisDuration",
        "nfftSelection",
        "displayInfo",
        "channels",
        "frequencyRange",
        "start_time",
        "end_time",
        "view_type",
    ];
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) else {
        return Ok(());
    };
    let mut errors: Vec<FieldError> = obj
        .iter()
        .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
        .map(|(k, v)| {
            FieldError::at(
                &[k.as_str()],
                "extra_forbidden",
                "Extra inputs are not permitted",
                v.clone(),
            )
        })
        .collect();
    if let Some(v @ Value::String(_)) = obj.get("view_type") {
        errors.push(FieldError::at(
            &["view_type"],
            "int_type",
            "Input should be a valid integer",
            v.clone(),
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Unprocessable(errors))
    }
}

/// `{"start_time": s, "end_time": s}` of `POST /recordings_in_time_range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    /// Epoch seconds.
    pub start_time: i64,
    /// Epoch seconds.
    pub end_time: i64,
}

/// Parses a recordings query body.
pub fn parse_window(body: &[u8]) -> Result<TimeWindow, AppError> {
    let raw: Value = serde_json::from_slice(body).map_err(|e| json_invalid(&e))?;
    let Some(obj) = raw.as_object() else {
        return Err(AppError::Unprocessable(vec![not_an_object(&[], &raw)]));
    };
    let mut errors = Vec::new();
    let start = required_int(obj, &["start_time"], &mut errors);
    let end = required_int(obj, &["end_time"], &mut errors);
    match (start, end) {
        (Some(start_time), Some(end_time)) if errors.is_empty() => Ok(TimeWindow {
            start_time,
            end_time,
        }),
        _ => Err(AppError::Unprocessable(errors)),
    }
}

fn not_an_object(path: &[&str], input: &Value) -> FieldError {
    FieldError::at(
        path,
        "model_attributes_type",
        "Input should be a valid dictionary or object to extract fields from",
        input.clone(),
    )
}

fn required_object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a Map<String, Value>> {
    match obj.get(key) {
        None => {
            errors.push(FieldError::at(
                &[key],
                "missing",
                "Field required",
                Value::Object(obj.clone()),
            ));
            None
        }
        Some(Value::Object(o)) => Some(o),
        Some(other) => {
            errors.push(not_an_object(&[key], other));
            None
        }
    }
}

fn range(obj: &Map<String, Value>, key: &str, errors: &mut Vec<FieldError>) -> Option<Range> {
    let min = required_int(obj, &[key, "min"], errors);
    let max = required_int(obj, &[key, "max"], errors);
    Some(Range {
        min: min?,
        max: max?,
    })
}

/// A required integer at `path` (the last element is the key in `obj`).
fn required_int(
    obj: &Map<String, Value>,
    path: &[&str],
    errors: &mut Vec<FieldError>,
) -> Option<i64> {
    let key = path.last().copied().unwrap_or_default();
    match obj.get(key) {
        None => {
            errors.push(FieldError::at(
                path,
                "missing",
                "Field required",
                Value::Object(obj.clone()),
            ));
            None
        }
        Some(v) => match lax_int(v, key == "view_type") {
            Ok(i) => Some(i),
            Err((kind, msg)) => {
                errors.push(FieldError::at(path, kind, msg, v.clone()));
                None
            }
        },
    }
}

fn optional_int(obj: &Map<String, Value>, key: &str, errors: &mut Vec<FieldError>) -> Option<i64> {
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(v) => match lax_int(v, false) {
            Ok(i) => Some(i),
            Err((kind, msg)) => {
                errors.push(FieldError::at(&[key], kind, msg, v.clone()));
                None
            }
        },
    }
}

/// An integer field: JSON integers and floats without a fractional part; numeric
/// strings only where the contract allows them (`view_type`); never booleans,
/// null, objects or arrays.
fn lax_int(v: &Value, strings: bool) -> Result<i64, (&'static str, &'static str)> {
    const INT_TYPE: (&str, &str) = ("int_type", "Input should be a valid integer");
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i)
            } else if let Some(f) = n.as_f64() {
                if f.fract() != 0.0 {
                    Err((
                        "int_from_float",
                        "Input should be a valid integer, got a number with a fractional part",
                    ))
                } else if f.abs() < 9.0e18 {
                    // In range, whole: the cast is exact.
                    #[allow(clippy::cast_possible_truncation)]
                    Ok(f as i64)
                } else {
                    Err((
                        "int_parsing_size",
                        "Unable to parse input string as an integer, exceeded maximum size",
                    ))
                }
            } else {
                Err(INT_TYPE)
            }
        }
        // Only the canonical spelling ("0", "-3"), not " 0", "+0" or "00".
        Value::String(s) if strings => {
            s.parse::<i64>()
                .ok()
                .filter(|i| i.to_string() == *s)
                .ok_or((
                    "int_parsing",
                    "Input should be a valid integer, unable to parse string as an integer",
                ))
        }
        _ => Err(INT_TYPE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn details(body: Value) -> Vec<(Value, String)> {
        match parse_configure(body.to_string().as_bytes()) {
            Err(AppError::Unprocessable(d)) => {
                d.into_iter().map(|e| (json!(e.loc), e.kind)).collect()
            }
            other => panic!("expected 422, got {other:?}"),
        }
    }

    fn valid() -> Value {
        json!({
            "displayTimeAxisDuration": 30, "nfftSelection": 1024, "displayInfo": {"height": 600},
            "channels": {"min": 1, "max": 50}, "frequencyRange": {"min": 0, "max": 500},
            "start_time": null, "end_time": null, "view_type": 0
        })
    }

    #[test]
    fn valid_body_parses_and_extra_fields_are_ignored() {
        let mut body = valid();
        body["unknown"] = json!("x");
        body["view_type"] = json!("1");
        let r = parse_configure(body.to_string().as_bytes()).expect("valid");
        assert_eq!(r.view_type, 1);
        assert_eq!(r.channels, Range { min: 1, max: 50 });
        assert_eq!(r.frequency_range, Some(Range { min: 0, max: 500 }));
        assert_eq!(r.start_time, None);
    }

    #[test]
    fn missing_and_wrong_types_name_the_field() {
        let mut body = valid();
        body.as_object_mut().map(|o| o.remove("channels"));
        assert_eq!(
            details(body),
            vec![(json!(["body", "channels"]), "missing".into())]
        );

        let mut body = valid();
        body["view_type"] = json!("multichannel");
        assert_eq!(
            details(body),
            vec![(json!(["body", "view_type"]), "int_parsing".into())]
        );

        let mut body = valid();
        body["displayInfo"] = json!({});
        assert_eq!(
            details(body),
            vec![(json!(["body", "displayInfo", "height"]), "missing".into())]
        );

        let mut body = valid();
        body["channels"]["min"] = json!({"a": 1});
        body["nfftSelection"] = json!(10.5);
        let d = details(body);
        assert!(d.contains(&(json!(["body", "channels", "min"]), "int_type".into())));
        assert!(d.contains(&(json!(["body", "nfftSelection"]), "int_from_float".into())));

        let mut body = valid();
        body["displayInfo"]["height"] = json!("600");
        assert_eq!(
            details(body),
            vec![(json!(["body", "displayInfo", "height"]), "int_type".into())]
        );

        let mut body = valid();
        body["view_type"] = json!(" 0");
        assert_eq!(
            details(body),
            vec![(json!(["body", "view_type"]), "int_parsing".into())]
        );

        let mut body = valid();
        body["displayInfo"]["height"] = json!(true);
        assert_eq!(
            details(body),
            vec![(json!(["body", "displayInfo", "height"]), "int_type".into())]
        );
    }

    #[test]
    fn malformed_json_is_422() {
        assert!(matches!(
            parse_configure(b"{not json"),
            Err(AppError::Unprocessable(d)) if d[0].kind == "json_invalid"
        ));
        assert!(matches!(
            parse_configure(b"[1,2]"),
            Err(AppError::Unprocessable(d)) if d[0].loc == vec![json!("body")]
        ));
    }
}
