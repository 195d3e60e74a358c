//! Request extractors whose failures are problem+json: a JSON body that
//! names the field at fault, and a query string validated the same way.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON request body. Requires `application/json` (or `+json`), at most
/// 64 KiB; syntax errors are 400, rule violations 422 naming the field.
#[derive(Debug)]
pub struct Json<T>(pub T);

/// Like [`Json`], but an empty body without a content type is `None`
/// (refresh and logout accept a cookie instead of a body).
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

fn is_json(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn read_body(req: &HttpRequest, payload: &mut Payload) -> Result<Bytes, ApiError> {
    if let Some(length) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if length > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
    }
    let mut body = actix_web::web::BytesMut::new();
    while let Some(chunk) = futures_util::StreamExt::next(payload).await {
        let chunk = chunk.map_err(|_| ApiError::MalformedJson)?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Deserializes JSON, translating serde's error into a field error whose
/// message never repeats the submitted value (it may be a password).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde would read a struct from an array too; bodies are objects only.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => Err(ApiError::validation("body", "must be a JSON object")),
            Err(_) => Err(ApiError::MalformedJson),
        };
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            ApiError::Validation(vec![describe(&path, &inner.to_string())])
        } else if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
            // Valid JSON that serde_json reports as a syntax error: a number
            // or other non-string where an enum is expected (`"role": 1`).
            ApiError::Validation(vec![describe(&path, "invalid type, expected a string")])
        } else {
            ApiError::MalformedJson
        }
    })?;
    de.end().map_err(|_| ApiError::MalformedJson)?;
    Ok(value)
}

/// Builds a field error from a serde message such as
/// ``unknown field `id`, expected one of ...`` or
/// ``invalid type: string "x", expected a boolean at line 1 column 9``.
fn describe(path: &str, message: &str) -> FieldError {
    let message = message.split(" at line ").next().unwrap_or(message);
    let parent = if path == "." { "" } else { path };
    let join = |name: &str| {
        if parent.is_empty() {
            name.to_owned()
        } else {
            format!("{parent}.{name}")
        }
    };
    let quoted = |m: &str| m.split('`').nth(1).map(str::to_owned);
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let name = quoted(rest).unwrap_or_default();
        // serde_path_to_error already puts the unknown key in the path.
        let field = if parent == name || parent.ends_with(&format!(".{name}")) {
            parent.to_owned()
        } else {
            join(&name)
        };
        return FieldError::new(field, "is not an accepted field");
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let name = quoted(rest).unwrap_or_default();
        return FieldError::new(join(&name), "is required");
    }
    let field = if parent.is_empty() {
        "body".to_owned()
    } else {
        parent.to_owned()
    };
    let expected = message
        .split_once(", expected ")
        .map(|(_, expected)| expected.replace('`', ""));
    let text = if message.starts_with("unknown variant") {
        format!(
            "must be one of {}",
            expected.unwrap_or_default().trim_start_matches("one of ")
        )
    } else if message.starts_with("invalid type") {
        format!(
            "has the wrong type; expected {}",
            expected.unwrap_or_else(|| "another type".into())
        )
    } else if let Some(expected) = expected {
        format!("is invalid; expected {expected}")
    } else if message.starts_with("invalid") {
        "is invalid".to_owned()
    } else {
        // Our own `de::Error::custom` messages, which never contain input.
        message.to_owned()
    };
    FieldError::new(field, text)
}

/// Reads the body (at most 64 KiB), then makes the extractor's value of it
/// and the request.
fn from_body<T: 'static>(
    req: &HttpRequest,
    payload: &mut Payload,
    make: impl FnOnce(&HttpRequest, Bytes) -> Result<T, ApiError> + 'static,
) -> Pin<Box<dyn Future<Output = Result<T, ApiError>>>> {
    let req = req.clone();
    let mut payload = payload.take();
    Box::pin(async move {
        let bytes = read_body(&req, &mut payload).await?;
        make(&req, bytes)
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = JsonWithBytes::<T>::from_request(req, payload);
        Box::pin(async move { json.await.map(|JsonWithBytes(value, _)| Json(value)) })
    }
}

/// [`Json`] that also keeps the body exactly as sent: an `Idempotency-Key`
/// is bound to the bytes of the request it first came with.
#[derive(Debug)]
pub struct JsonWithBytes<T>(pub T, pub Bytes);

impl<T: DeserializeOwned + 'static> FromRequest for JsonWithBytes<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if !is_json(req) {
            // Refused before a byte is read, so an oversized body of the
            // wrong type is a 415 too.
            drop(payload.take());
            return Box::pin(std::future::ready(Err(ApiError::UnsupportedMediaType)));
        }
        from_body(req, payload, |_, bytes| {
            parse_json(&bytes).map(|value| JsonWithBytes(value, bytes))
        })
    }
}

/// A body that is not read as anything (an action without input), kept as
/// sent and limited to 64 KiB like every other body.
#[derive(Debug)]
pub struct RawBody(pub Bytes);

impl FromRequest for RawBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        from_body(req, payload, |_, bytes| Ok(RawBody(bytes)))
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        from_body(req, payload, |req, bytes| {
            let has_type = req.headers().contains_key(header::CONTENT_TYPE);
            if bytes.iter().all(u8::is_ascii_whitespace) && !is_json(req) {
                return if has_type && !bytes.is_empty() {
                    Err(ApiError::UnsupportedMediaType)
                } else {
                    Ok(OptionalJson(None))
                };
            }
            if !is_json(req) {
                return Err(ApiError::UnsupportedMediaType);
            }
            if bytes.iter().all(u8::is_ascii_whitespace) || bytes.trim_ascii() == b"null" {
                return Ok(OptionalJson(None));
            }
            parse_json(&bytes).map(|v| OptionalJson(Some(v)))
        })
    }
}

/// A query string deserialized into `T` (use `deny_unknown_fields`);
/// failures are 422 naming the parameter.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_query(req.query_string()).map(Query))
    }
}

pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let mut error = describe(&path, &message);
        if error.field == "body" {
            error.field = "query".into();
        }
        if message.contains("invalid digit") || message.contains("number too large") {
            error.message = "must be a whole number".into();
        } else if message.contains("provided string was not `true` or `false`") {
            error.message = "must be `true` or `false`".into();
        }
        ApiError::Validation(vec![error])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        title: String,
        done: Option<bool>,
    }

    #[test]
    fn json_errors_name_the_field_without_echoing_values() {
        let cases: &[(&str, &str)] = &[
            (r#"{"title":"a","id":1}"#, "id"),
            (r#"{"done":true}"#, "title"),
            (r#"{"title":"a","done":"secretvalue"}"#, "done"),
            (r#"{"title":12345}"#, "title"),
            (r#"[1,2]"#, "body"),
        ];
        for (body, field) in cases {
            let Err(ApiError::Validation(errors)) = parse_json::<Body>(body.as_bytes()) else {
                panic!("expected 422 for {body}");
            };
            assert_eq!(errors[0].field, *field, "{body}");
            assert!(!errors[0].message.contains("secretvalue"));
            assert!(!errors[0].message.contains("12345"));
        }
    }

    #[test]
    fn a_non_string_where_an_enum_is_expected_is_422() {
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "lowercase")]
        enum Kind {
            Low,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct WithEnum {
            kind: Kind,
        }
        for body in [r#"{"kind":1}"#, r#"{"kind":true}"#, r#"{"kind":[]}"#] {
            let Err(ApiError::Validation(errors)) = parse_json::<WithEnum>(body.as_bytes()) else {
                panic!("expected 422 for {body}");
            };
            assert_eq!(errors[0].field, "kind", "{body}");
        }
        assert!(parse_json::<WithEnum>(br#"{"kind":"low"}"#).is_ok());
        assert!(matches!(
            parse_json::<WithEnum>(br#"{"kind":1"#),
            Err(ApiError::MalformedJson)
        ));
    }

    #[test]
    fn malformed_json_is_400() {
        for body in ["", "{", "{\"title\":", "nope", "{\"title\":\"a\"} trailing"] {
            assert!(
                matches!(
                    parse_json::<Body>(body.as_bytes()),
                    Err(ApiError::MalformedJson)
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn enum_values_and_custom_messages_are_described_without_input() {
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "lowercase")]
        #[allow(dead_code)]
        enum Level {
            Low,
            High,
        }
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct WithEnum {
            level: Level,
            count: Option<u8>,
        }
        let Err(ApiError::Validation(errors)) =
            parse_json::<WithEnum>(br#"{"level":"sneaky-value"}"#)
        else {
            panic!("expected 422");
        };
        assert_eq!(errors[0].field, "level");
        assert_eq!(errors[0].message, "must be one of low or high");
        assert!(!errors[0].message.contains("sneaky"));
        let Err(ApiError::Validation(errors)) =
            parse_json::<WithEnum>(br#"{"level":"low","count":300}"#)
        else {
            panic!("expected 422");
        };
        assert_eq!(errors[0].field, "count");
        assert!(!errors[0].message.contains("300"), "{}", errors[0].message);
    }

    #[test]
    fn query_errors_name_the_parameter() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Q {
            limit: Option<i64>,
            completed: Option<bool>,
        }
        let cases = [
            ("limit=abc", "limit", "must be a whole number"),
            (
                "limit=99999999999999999999",
                "limit",
                "must be a whole number",
            ),
            ("completed=yes", "completed", "must be `true` or `false`"),
            ("limt=5", "limt", "is not an accepted field"),
        ];
        for (query, field, message) in cases {
            let Err(ApiError::Validation(errors)) = parse_query::<Q>(query) else {
                panic!("expected 422 for {query}");
            };
            assert_eq!(errors[0].field, field, "{query}");
            assert_eq!(errors[0].message, message, "{query}");
        }
        assert!(parse_query::<Q>("limit=5&completed=true").is_ok());
        assert!(parse_query::<Q>("").is_ok());
    }

    #[test]
    fn query_decoding_handles_percent_and_plus() {
        #[derive(Deserialize)]
        struct Q {
            q: String,
        }
        let q: Q = parse_query("q=a%25b+c%5F").unwrap();
        assert_eq!(q.q, "a%b c_");
        let q: Q = parse_query("q=100%").unwrap();
        assert_eq!(q.q, "100%");
    }
}

/// The `{id}` segment of a path as a 64-bit integer; anything else is 422
/// naming `id`. (An integer that names nothing is the handler's 404.)
#[derive(Debug, Clone, Copy)]
pub struct PathId(pub i64);

impl FromRequest for PathId {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let parsed = req
            .match_info()
            .get("id")
            .and_then(|raw| raw.parse::<i64>().ok())
            .map(PathId)
            .ok_or_else(|| ApiError::validation("id", "must be an integer"));
        std::future::ready(parsed)
    }
}
