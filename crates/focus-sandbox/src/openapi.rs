//! `GET /openapi.json`: the contract's constraints as an OpenAPI 3.1 document
//! (enums, minimums, required fields), for schema-driven testers.

use serde_json::{Value, json};

use crate::config::ServerProfile;
use crate::state::AppState;
use crate::validation::MULTICHANNEL_NFFT;

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn validation_error() -> Value {
    json!({
        "description": "Validation Error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}
    })
}

/// The document for this server (its prefix and profile).
pub fn document(s: &AppState) -> Value {
    let cfg = s.config();
    let nyquist = cfg.nyquist();
    let prefix = s.prefix();
    let single_nfft: Vec<i64> = (7..=16).map(|p| 1_i64 << p).collect();

    let mut paths = json!({
        "/configure": {"post": {
            "operationId": "configure",
            "summary": "Open an investigation (one Kubernetes Job). Not idempotent: never retry.",
            "requestBody": {"required": true, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/ConfigureRequest"}}}},
            "responses": {
                "200": {"description": "Investigation opened", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ConfigureResponse"}}}},
                "400": error_response("A validation rule failed; the message names the field"),
                "404": error_response("No recording found in given time range"),
                "422": validation_error(),
                "503": error_response("Live stream unavailable / No free stream port")
            }
        }},
        "/metadata/{job_id}": {"get": {
            "operationId": "metadata",
            "parameters": [{"name": "job_id", "in": "path", "required": true,
                "schema": {"type": "string", "pattern": "^[0-9]+-[0-9]+$"}}],
            "responses": {
                "200": {"description": "The investigation", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/JobMetadata"}}}},
                "404": error_response("Invalid job_id")
            }
        }},
        "/channels": {"get": {
            "operationId": "channels",
            "responses": {"200": {"description": "Channel range", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/ChannelRange"}}}}}
        }},
        "/live_metadata": {"get": {
            "operationId": "live_metadata",
            "responses": {
                "200": {"description": "Live fiber metadata", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/LiveMetadata"}}}},
                "404": error_response("Live metadata not available")
            }
        }},
        "/recordings_in_time_range": {"post": {
            "operationId": "recordings_in_time_range",
            "requestBody": {"required": true, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/TimeWindow"}}}},
            "responses": {
                "200": {"description": "[start, end] pairs; end -1 while recording",
                    "content": {"application/json": {"schema": {"type": "array", "items": {
                        "type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}}}}},
                "400": error_response("Invalid time range"),
                "422": validation_error()
            }
        }},
        "/ack": {"get": {
            "operationId": "ack",
            "responses": {"200": {"description": "Alive", "content": {"application/json": {
                "schema": {"type": "object"}}}}}
        }}
    });
    if s.profile() == ServerProfile::AsRequired
        && !s.has(crate::defects::Defect::OpenapiDrift)
        && let Value::Object(map) = &mut paths
    {
        map.insert(
            "/job/{job_id}".into(),
            json!({"delete": {
                "operationId": "cancel_job",
                "parameters": [{"name": "job_id", "in": "path", "required": true,
                    "schema": {"type": "string", "pattern": "^[0-9]+-[0-9]+$"}}],
                "responses": {
                    "200": {"description": "Deletion issued", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Cancelled"}}}},
                    "404": error_response("Invalid job_id")
                }
            }}),
        );
    }

    let range = |name: &str, lo: Option<i64>, hi: Value, desc: &str| {
        let mut min = json!({"type": "integer"});
        let mut max = json!({"type": "integer"});
        if let Some(lo) = lo {
            min["minimum"] = json!(lo);
            max["minimum"] = json!(lo);
        }
        if !hi.is_null() {
            min["maximum"] = hi.clone();
            max["maximum"] = hi;
        }
        json!({"title": name, "type": "object", "description": desc,
            "properties": {"min": min, "max": max}, "required": ["min", "max"]})
    };

    let variant = |view: i64, nfft: Value, spectral: bool, historic: bool| {
        let mut properties = json!({
            "view_type": {"anyOf": [
                {"type": "integer", "enum": [view]},
                {"type": "string", "enum": [view.to_string()]}],
                "description": "0 multichannel, 1 singlechannel, 2 waterfall (int or numeric string)"},
            "displayInfo": {"$ref": "#/components/schemas/DisplayInfo"},
            "channels": {"$ref": "#/components/schemas/Channels"},
            "nfftSelection": nfft
        });
        let mut required = vec!["displayInfo", "channels", "view_type", "nfftSelection"];
        if historic {
            properties["start_time"] = json!({"type": "integer", "minimum": 0,
                "description": "Epoch seconds; before end_time"});
            properties["end_time"] = json!({"type": "integer", "minimum": 1,
                "description": "Epoch seconds; after start_time, not in the future"});
            required.extend(["start_time", "end_time"]);
        } else {
            properties["start_time"] =
                json!({"type": "null", "description": "Live: null or absent"});
            properties["end_time"] = json!({"type": "null", "description": "Live: null or absent"});
        }
        if spectral {
            properties["displayTimeAxisDuration"] =
                json!({"type": "integer", "minimum": 1, "description": "Seconds"});
            properties["frequencyRange"] = json!({"$ref": "#/components/schemas/FrequencyRange"});
            required.extend(["displayTimeAxisDuration", "frequencyRange"]);
        } else {
            properties["displayTimeAxisDuration"] =
                json!({"type": "null", "description": "Omitted for waterfall"});
            properties["frequencyRange"] =
                json!({"type": "null", "description": "Omitted for waterfall"});
        }
        json!({"type": "object", "required": required, "properties": properties})
    };

    let multi = json!({"type": "integer", "enum": MULTICHANNEL_NFFT});
    let single = json!({"type": "integer", "enum": single_nfft});
    let waterfall = json!({"type": "integer", "enum": [1]});

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Focus Server (focus-sandbox reference)",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!("Profile {}. Constraints follow the contract's required column.", s.profile())
        },
        "servers": [{"url": if prefix.is_empty() { "/".to_owned() } else { prefix }}],
        "paths": paths,
        "components": {"schemas": {
            "ConfigureRequest": {
                "description": "One of three shapes, by view_type. Not expressible here: channels.min <= channels.max, frequencyRange.min < frequencyRange.max, singlechannel min == max, at most max_channel_count channels, start_time and end_time both set (historic) or both null (live), start_time < end_time, not in the future.",
                "oneOf": [
                    {"$ref": "#/components/schemas/LiveMultichannelRequest"},
                    {"$ref": "#/components/schemas/LiveSinglechannelRequest"},
                    {"$ref": "#/components/schemas/LiveWaterfallRequest"},
                    {"$ref": "#/components/schemas/HistoricMultichannelRequest"},
                    {"$ref": "#/components/schemas/HistoricSinglechannelRequest"},
                    {"$ref": "#/components/schemas/HistoricWaterfallRequest"}
                ]
            },
            "LiveMultichannelRequest": variant(0, multi.clone(), true, false),
            "LiveSinglechannelRequest": variant(1, single.clone(), true, false),
            "LiveWaterfallRequest": variant(2, waterfall.clone(), false, false),
            "HistoricMultichannelRequest": variant(0, multi, true, true),
            "HistoricSinglechannelRequest": variant(1, single, true, true),
            "HistoricWaterfallRequest": variant(2, waterfall, false, true),
            "Channels": range("Channels", Some(cfg.lowest_channel), json!(cfg.highest_channel),
                &format!("Inclusive; min <= max; at most {} channels", cfg.max_channel_count)),
            "FrequencyRange": {"title": "FrequencyRange", "type": "object",
                "description": "Hz; 0 <= min < max <= Nyquist (PRR/2)",
                "required": ["min", "max"],
                "properties": {
                    "min": {"type": "integer", "minimum": 0, "maximum": (nyquist - 1.0).floor()},
                    "max": {"type": "integer", "minimum": 1, "maximum": nyquist.floor()}
                }},
            "DisplayInfo": {"type": "object", "required": ["height"],
                "properties": {"height": {"type": "integer", "minimum": 1}}},
            "ConfigureResponse": {
                "type": "object",
                "required": ["status", "job_id", "stream_port", "stream_url", "view_type",
                    "channel_amount", "channel_to_stream_index", "stream_amount",
                    "frequencies_list", "frequencies_amount", "lines_dt"],
                "properties": {
                    "status": {"type": "string"},
                    "job_id": {"type": "string", "pattern": "^[0-9]+-[0-9]+$"},
                    "stream_port": {"type": "integer", "minimum": cfg.port_of(1), "maximum": cfg.port_of(cfg.max_slots)},
                    "stream_url": {"type": "string", "pattern": "^http://[0-9.]+$"},
                    "view_type": {"type": "integer", "enum": [0, 1, 2]},
                    "channel_amount": {"type": "integer", "minimum": 0},
                    "channel_to_stream_index": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
                    "stream_amount": {"type": "integer", "minimum": 0},
                    "frequencies_list": {"type": "array", "items": {"type": "number"}},
                    "frequencies_amount": {"type": "integer", "minimum": 0},
                    "lines_dt": {"type": "number"},
                    "metadata": {"type": "object"}
                }
            },
            "JobMetadata": {"allOf": [
                {"$ref": "#/components/schemas/ConfigureResponse"},
                {"type": "object", "required": ["job_status", "configuration"], "properties": {
                    "job_status": {"type": "string", "enum": ["pending", "running", "failed", "completed"]},
                    "configuration": {"type": "object"}}}
            ]},
            "Cancelled": {"type": "object", "required": ["job_id", "status"], "properties": {
                "job_id": {"type": "string"}, "status": {"type": "string", "enum": ["cancelled"]}}},
            "ChannelRange": {"type": "object", "required": ["lowest_channel", "highest_channel"], "properties": {
                "lowest_channel": {"type": "integer"}, "highest_channel": {"type": "integer"}}},
            "LiveMetadata": {"type": "object", "required": ["dx", "prr", "fiber_start_meters",
                "fiber_length_meters", "sw_version", "number_of_channels", "fiber_description"],
                "properties": {
                    "dx": {"type": "number"}, "prr": {"type": "number"},
                    "fiber_start_meters": {"type": ["integer", "null"]},
                    "fiber_length_meters": {"type": ["integer", "null"]},
                    "sw_version": {"type": "string"},
                    "number_of_channels": {"type": "integer"},
                    "fiber_description": {"type": "string"}}},
            "TimeWindow": {"type": "object", "required": ["start_time", "end_time"], "properties": {
                "start_time": {"type": "integer", "minimum": 0},
                "end_time": {"type": "integer", "minimum": 0}}},
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
            "HTTPValidationError": {"type": "object", "properties": {"detail": {"type": "array", "items": {
                "type": "object", "required": ["loc", "msg", "type"], "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"}, "type": {"type": "string"}}}}}}
        }}
    })
}
