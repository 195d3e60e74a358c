//! Log output: env_logger (so `RUST_LOG` filters as before) writing either
//! text lines or, with `LOG_FORMAT=json`, one JSON object per line.
//!
//! Every line written while a request is handled carries its `request_id`
//! (from the request context); the access line also carries the request's
//! fields as key-values (`method`, `path`, `status`, `duration_ms`,
//! `user_id`, `ip`), which the JSON format writes as properties.

use std::io::Write;

use log::kv::{self, VisitSource};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::LogFormat;
use crate::request_context;

/// The target of the one line written per request.
pub const ACCESS_TARGET: &str = "securetodo::access";

/// Installs the process logger. Call once, before anything logs.
pub fn init(format: LogFormat) {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format(move |buf, record| {
            let now = chrono::Utc::now();
            match format {
                LogFormat::Text => write_text(buf, record, now),
                LogFormat::Json => write_json(buf, record, now),
            }
        })
        .init();
}

fn timestamp(now: chrono::DateTime<chrono::Utc>) -> String {
    now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `[ts LEVEL target] message request_id=... user_id=...`
pub fn write_text(
    out: &mut dyn Write,
    record: &log::Record<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> std::io::Result<()> {
    let fields = Fields::of(record);
    write!(
        out,
        "[{} {:<5} {}] {}",
        timestamp(now),
        record.level(),
        record.target(),
        record.args()
    )?;
    if let Some(id) = fields.request_id() {
        write!(out, " request_id={id}")?;
    }
    if let Some(user) = fields.values.get("user_id") {
        write!(out, " user_id={user}")?;
    }
    writeln!(out)
}

#[derive(Serialize)]
struct JsonLine<'a> {
    ts: String,
    level: &'a str,
    target: &'a str,
    msg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(flatten)]
    fields: Map<String, Value>,
}

/// `{"ts", "level", "target", "msg", "request_id"?, ...key-values}`; the
/// serializer does all escaping, so any message stays one line.
pub fn write_json(
    out: &mut dyn Write,
    record: &log::Record<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> std::io::Result<()> {
    let mut fields = Fields::of(record);
    let request_id = fields.request_id();
    fields.values.remove("request_id");
    let line = JsonLine {
        ts: timestamp(now),
        level: record.level().as_str(),
        target: record.target(),
        msg: record.args().to_string(),
        request_id,
        fields: fields.values,
    };
    serde_json::to_writer(&mut *out, &line)?;
    writeln!(out)
}

/// A record's key-values, as JSON values.
struct Fields {
    values: Map<String, Value>,
}

/// Keys the line itself sets; a key-value with one of these names is dropped
/// rather than written twice.
const RESERVED: [&str; 4] = ["ts", "level", "target", "msg"];

impl Fields {
    fn of(record: &log::Record<'_>) -> Self {
        let mut fields = Self { values: Map::new() };
        let _ = record.key_values().visit(&mut fields);
        fields
    }

    /// The record's own `request_id`, else the current request's.
    fn request_id(&self) -> Option<String> {
        match self.values.get("request_id") {
            Some(Value::String(id)) => Some(id.clone()),
            _ => request_context::current_id().map(|id| id.as_str().to_owned()),
        }
    }
}

impl<'kvs> VisitSource<'kvs> for Fields {
    fn visit_pair(&mut self, key: kv::Key<'kvs>, value: kv::Value<'kvs>) -> Result<(), kv::Error> {
        let key = key.as_str();
        if RESERVED.contains(&key) {
            return Ok(());
        }
        let value = if let Some(n) = value.to_u64() {
            Value::from(n)
        } else if let Some(n) = value.to_i64() {
            Value::from(n)
        } else if let Some(b) = value.to_bool() {
            Value::from(b)
        } else if let Some(x) = value.to_f64() {
            serde_json::Number::from_f64(x)
                .map_or_else(|| Value::from(x.to_string()), Value::Number)
        } else if let Some(s) = value.to_borrowed_str() {
            Value::from(s)
        } else {
            Value::from(value.to_string())
        };
        self.values.insert(key.to_owned(), value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request_context::{RequestContext, RequestId};

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2026-11-30T10:11:12.345Z")
            .unwrap()
            .with_timezone(&chrono::Utc)
    }

    fn render(
        writer: fn(
            &mut dyn Write,
            &log::Record<'_>,
            chrono::DateTime<chrono::Utc>,
        ) -> std::io::Result<()>,
        record: &log::Record<'_>,
    ) -> String {
        let mut out = Vec::new();
        writer(&mut out, record, now()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_lines_are_one_object_with_the_fields_and_key_values() {
        let kvs: &[(&str, kv::Value<'_>)] = &[
            ("request_id", kv::Value::from("abc-123")),
            ("method", kv::Value::from("GET")),
            ("status", kv::Value::from(404u16)),
            ("duration_ms", kv::Value::from(1.25f64)),
            ("user_id", kv::Value::from(-7i64)),
            ("cached", kv::Value::from(true)),
            ("msg", kv::Value::from("must not override")),
        ];
        let record = log::Record::builder()
            .args(format_args!("line one\nline \"two\""))
            .level(log::Level::Warn)
            .target("securetodo::access")
            .key_values(&kvs)
            .build();
        let line = render(write_json, &record);
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "ts": "2026-11-30T10:11:12.345Z",
                "level": "WARN",
                "target": "securetodo::access",
                "msg": "line one\nline \"two\"",
                "request_id": "abc-123",
                "method": "GET",
                "status": 404,
                "duration_ms": 1.25,
                "user_id": -7,
                "cached": true,
            })
        );
    }

    #[test]
    fn lines_written_inside_a_request_carry_its_id() {
        let id = RequestId::parse(b"req-42").unwrap();
        let context = RequestContext { id, metrics: None };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (json, text) = runtime.block_on(request_context::scope(context, async {
            let record = log::Record::builder()
                .args(format_args!("database slow"))
                .level(log::Level::Info)
                .target("securetodo::db")
                .build();
            (render(write_json, &record), render(write_text, &record))
        }));
        let value: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["request_id"], "req-42");
        assert_eq!(value["msg"], "database slow");
        assert_eq!(
            text,
            "[2026-11-30T10:11:12.345Z INFO  securetodo::db] database slow request_id=req-42\n"
        );
        // Outside a request there is no id.
        let record = log::Record::builder()
            .args(format_args!("started"))
            .level(log::Level::Info)
            .target("securetodo::cli")
            .build();
        let value: Value = serde_json::from_str(&render(write_json, &record)).unwrap();
        assert!(value.get("request_id").is_none(), "{value}");
        assert_eq!(
            render(write_text, &record),
            "[2026-11-30T10:11:12.345Z INFO  securetodo::cli] started\n"
        );
    }

    #[test]
    fn text_lines_show_the_request_and_user_ids() {
        let kvs: &[(&str, kv::Value<'_>)] = &[
            ("request_id", kv::Value::from("r1")),
            ("user_id", kv::Value::from(9i64)),
            ("path", kv::Value::from("/x")),
        ];
        let record = log::Record::builder()
            .args(format_args!("\"GET /x\" 200"))
            .level(log::Level::Info)
            .target(ACCESS_TARGET)
            .key_values(&kvs)
            .build();
        assert_eq!(
            render(write_text, &record),
            "[2026-11-30T10:11:12.345Z INFO  securetodo::access] \"GET /x\" 200 request_id=r1 user_id=9\n"
        );
    }
}
