//! The closed set of API errors and their `application/problem+json` form.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

pub type ApiResult<T> = Result<T, ApiError>;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One field that broke a rule. `message` never repeats the submitted value.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// The request field (body property or query parameter) at fault.
    #[schema(example = "title")]
    pub field: String,
    /// What is wrong with it.
    #[schema(example = "must be 1 to 200 characters")]
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// RFC 9457 problem details, as every error response carries them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:securetodo:problem:<code>`.
    #[serde(rename = "type")]
    #[schema(example = "urn:securetodo:problem:validation_failed")]
    pub problem_type: String,
    /// Short summary of the problem type.
    #[schema(example = "Validation failed")]
    pub title: String,
    /// The HTTP status code.
    #[schema(example = 422)]
    pub status: u16,
    /// Explanation specific to this occurrence; never internal detail.
    #[schema(example = "The request has invalid fields.")]
    pub detail: String,
    /// Stable machine-readable error code.
    #[schema(example = "validation_failed")]
    pub code: String,
    /// The fields at fault, for validation failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// The id of the request (the response's `X-Request-Id`): quote it when
    /// reporting a problem; the server's log lines for the request carry it.
    #[schema(example = "3f2a6c0e9b1d4e8f8a7b6c5d4e3f2a1b")]
    #[serde(skip_serializing_if = "String::is_empty")]
    pub request_id: String,
}

/// Every error the API can answer with. Each maps to one status and one
/// stable `code`; nothing here carries internal text to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON at all (syntax error, empty, truncated).
    #[error("malformed JSON body")]
    MalformedJson,
    /// A request the server cannot read at all (not about its body).
    #[error("bad request")]
    BadRequest,
    /// Well-formed input that breaks a rule.
    #[error("validation failed: {0:?}")]
    Validation(Vec<FieldError>),
    /// A request header the server cannot accept (400 `validation_failed`
    /// naming the header), such as a malformed `Idempotency-Key`.
    #[error("invalid header: {0:?}")]
    BadHeader(FieldError),
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("email already registered")]
    EmailTaken,
    #[error("missing or invalid access token")]
    Unauthorized,
    /// The refresh token (body or cookie) is missing, unknown, expired or was
    /// already used. Code `unauthorized` like [`ApiError::Unauthorized`], but
    /// the detail speaks of the refresh token, not of an access token.
    #[error("missing, unknown, expired or reused refresh token")]
    RefreshRejected,
    #[error("access token expired")]
    TokenExpired,
    #[error("forbidden")]
    Forbidden,
    /// An API token outside its scopes: on an endpoint tokens cannot use,
    /// or without the scope the method needs.
    #[error("insufficient scope")]
    InsufficientScope,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("the last active admin cannot lose the role")]
    LastAdmin,
    #[error("precondition failed")]
    PreconditionFailed,
    /// The `Idempotency-Key` was used before with another request.
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    /// `MAX_TODOS_PER_USER` reached.
    #[error("todo quota exceeded")]
    QuotaExceeded,
    /// The sync token predates the change history the server keeps.
    #[error("sync token expired")]
    SyncExpired,
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// The live API tokens a user may hold are all taken.
    #[error("API token quota exceeded")]
    TokenQuotaExceeded,
    /// A dependency the request cannot be served safely without is out of
    /// reach (Redis, for the credential rate limits): try again shortly.
    #[error("dependency unavailable")]
    Unavailable { retry_after_secs: u64 },
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("service unavailable")]
    ServiceUnavailable(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedJson | Self::BadRequest | Self::Validation(_) | Self::BadHeader(_) => {
                "validation_failed"
            }
            Self::InvalidCredentials => "invalid_credentials",
            Self::EmailTaken => "email_taken",
            Self::Unauthorized | Self::RefreshRejected => "unauthorized",
            Self::TokenExpired => "token_expired",
            Self::Forbidden => "forbidden",
            Self::InsufficientScope => "insufficient_scope",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::LastAdmin => "last_admin",
            Self::PreconditionFailed => "precondition_failed",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::QuotaExceeded => "quota_exceeded",
            Self::SyncExpired => "sync_expired",
            Self::RateLimited { .. } => "rate_limited",
            Self::TokenQuotaExceeded => "quota_exceeded",
            Self::Unavailable { .. } => "unavailable",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::ServiceUnavailable(_) => "service_unavailable",
            Self::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::MalformedJson => "Malformed request body",
            Self::BadRequest => "Bad request",
            Self::Validation(_) | Self::BadHeader(_) => "Validation failed",
            Self::InvalidCredentials => "Invalid credentials",
            Self::EmailTaken => "Email already registered",
            Self::Unauthorized | Self::RefreshRejected => "Unauthorized",
            Self::TokenExpired => "Token expired",
            Self::Forbidden => "Forbidden",
            Self::InsufficientScope => "Insufficient scope",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::Conflict(_) => "Conflict",
            Self::LastAdmin => "Last admin",
            Self::PreconditionFailed => "Precondition failed",
            Self::IdempotencyKeyReused => "Idempotency key reused",
            Self::QuotaExceeded => "Quota exceeded",
            Self::SyncExpired => "Sync token expired",
            Self::RateLimited { .. } => "Too many requests",
            Self::TokenQuotaExceeded => "Quota exceeded",
            Self::Unavailable { .. } => "Temporarily unavailable",
            Self::PayloadTooLarge => "Payload too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::ServiceUnavailable(_) => "Service unavailable",
            Self::Internal(_) => "Internal server error",
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::MalformedJson => "The request body is not valid JSON.".into(),
            Self::BadRequest => "The request could not be understood.".into(),
            Self::Validation(_) => "The request has invalid fields; see `errors`.".into(),
            Self::BadHeader(_) => "A request header is invalid; see `errors`.".into(),
            Self::InvalidCredentials => "The email or password is incorrect.".into(),
            Self::EmailTaken => "An account with this email already exists.".into(),
            Self::Unauthorized => "A valid access token is required.".into(),
            Self::RefreshRejected => {
                "The refresh token is missing, expired or no longer valid; sign in again.".into()
            }
            Self::TokenExpired => "The access token has expired; refresh it.".into(),
            Self::Forbidden => "You do not have permission for this action.".into(),
            Self::InsufficientScope => {
                "This API token cannot be used here: tokens work on the /api/v1/todos endpoints, \
                 GET with `todos:read` and other methods with `todos:write`."
                    .into()
            }
            Self::NotFound => "The resource does not exist.".into(),
            Self::MethodNotAllowed => "This method is not allowed on this resource.".into(),
            Self::Conflict(what) => (*what).to_owned(),
            Self::LastAdmin => {
                "The last active admin cannot be demoted, disabled or deleted.".into()
            }
            Self::PreconditionFailed => {
                "The resource has changed since you read it (If-Match did not match).".into()
            }
            Self::IdempotencyKeyReused => {
                "This Idempotency-Key was already used with another request.".into()
            }
            Self::QuotaExceeded => {
                "You hold the most todos an account may (trash included); empty the trash or delete some.".into()
            }
            Self::SyncExpired => {
                "The sync token is older than the change history kept; sync again without `since`.".into()
            }
            Self::RateLimited { retry_after_secs } => {
                format!("Too many requests; retry after {retry_after_secs} seconds.")
            }
            Self::TokenQuotaExceeded => {
                "You already have 20 API tokens; delete one before creating another.".into()
            }
            Self::Unavailable { retry_after_secs } => format!(
                "The service cannot check this request right now; retry after {retry_after_secs} seconds."
            ),
            Self::PayloadTooLarge => "The request body exceeds 64 KiB.".into(),
            Self::UnsupportedMediaType => "The request body must be application/json.".into(),
            Self::ServiceUnavailable(_) => "The service is not ready.".into(),
            Self::Internal(_) => "An unexpected error occurred.".into(),
        }
    }

    pub fn problem(&self) -> Problem {
        Problem {
            problem_type: format!("urn:securetodo:problem:{}", self.code()),
            title: self.title().to_owned(),
            status: self.status_code().as_u16(),
            detail: self.detail(),
            code: self.code().to_owned(),
            errors: match self {
                Self::Validation(errors) => Some(errors.clone()),
                Self::BadHeader(error) => Some(vec![error.clone()]),
                _ => None,
            },
            // Set by the outermost middleware for the whole request; empty
            // (and omitted) only outside a request, as in unit tests.
            request_id: crate::request_context::current_id()
                .map(|id| id.as_str().to_owned())
                .unwrap_or_default(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MalformedJson | Self::BadRequest | Self::BadHeader(_) => StatusCode::BAD_REQUEST,
            Self::Validation(_) | Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::QuotaExceeded => StatusCode::CONFLICT,
            Self::SyncExpired => StatusCode::GONE,
            Self::InvalidCredentials
            | Self::Unauthorized
            | Self::RefreshRejected
            | Self::TokenExpired => StatusCode::UNAUTHORIZED,
            Self::EmailTaken | Self::Conflict(_) | Self::LastAdmin | Self::TokenQuotaExceeded => {
                StatusCode::CONFLICT
            }
            Self::Forbidden | Self::InsufficientScope => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::ServiceUnavailable(_) | Self::Unavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            // The full chain goes to the log; the client gets the fixed body.
            Self::Internal(e) => log::error!("internal error: {e:?}"),
            Self::ServiceUnavailable(e) => log::warn!("service unavailable: {e:?}"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        match self {
            Self::Unauthorized | Self::RefreshRejected | Self::InvalidCredentials => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            Self::TokenExpired => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        "Bearer error=\"invalid_token\", error_description=\"token expired\"",
                    ),
                ));
            }
            Self::InsufficientScope => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"insufficient_scope\""),
                ));
            }
            Self::RateLimited { retry_after_secs } | Self::Unavailable { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            Self::MethodNotAllowed => {}
            _ => {}
        }
        let body = serde_json::to_vec(&self.problem()).unwrap_or_else(|_| {
            br#"{"type":"urn:securetodo:problem:internal","title":"Internal server error","status":500,"detail":"An unexpected error occurred.","code":"internal"}"#.to_vec()
        });
        response.body(body)
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::Internal(anyhow::Error::new(e).context("blocking task failed"))
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => Self::NotFound,
            other => Self::Internal(anyhow::Error::new(other).context("database query failed")),
        }
    }
}

impl From<r2d2::Error> for ApiError {
    fn from(e: r2d2::Error) -> Self {
        Self::Internal(anyhow::Error::new(e).context("no database connection available"))
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        Self::Internal(e)
    }
}

/// Turns an error status that some framework component produced with its own
/// body (405 from a resource, a CORS refusal, a static-file error) into the
/// matching problem, so that every error a client sees has the same shape.
pub fn problem_for_status(status: StatusCode) -> Option<ApiError> {
    Some(match status.as_u16() {
        400 => ApiError::BadRequest,
        401 => ApiError::Unauthorized,
        403 => ApiError::Forbidden,
        404 => ApiError::NotFound,
        405 => ApiError::MethodNotAllowed,
        413 => ApiError::PayloadTooLarge,
        415 => ApiError::UnsupportedMediaType,
        500..=599 => ApiError::Internal(anyhow::anyhow!("framework error status {status}")),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_a_spec_code_and_matching_status() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (ApiError::MalformedJson, 400, "validation_failed"),
            (ApiError::validation("f", "m"), 422, "validation_failed"),
            (ApiError::InvalidCredentials, 401, "invalid_credentials"),
            (ApiError::EmailTaken, 409, "email_taken"),
            (ApiError::Unauthorized, 401, "unauthorized"),
            (ApiError::RefreshRejected, 401, "unauthorized"),
            (ApiError::TokenExpired, 401, "token_expired"),
            (ApiError::Forbidden, 403, "forbidden"),
            (ApiError::InsufficientScope, 403, "insufficient_scope"),
            (ApiError::TokenQuotaExceeded, 409, "quota_exceeded"),
            (
                ApiError::Unavailable {
                    retry_after_secs: 5,
                },
                503,
                "unavailable",
            ),
            (ApiError::NotFound, 404, "not_found"),
            (ApiError::Conflict("x"), 409, "conflict"),
            (ApiError::LastAdmin, 409, "last_admin"),
            (ApiError::PreconditionFailed, 412, "precondition_failed"),
            (
                ApiError::BadHeader(FieldError::new("Idempotency-Key", "m")),
                400,
                "validation_failed",
            ),
            (
                ApiError::IdempotencyKeyReused,
                422,
                "idempotency_key_reused",
            ),
            (ApiError::QuotaExceeded, 409, "quota_exceeded"),
            (ApiError::SyncExpired, 410, "sync_expired"),
            (
                ApiError::RateLimited {
                    retry_after_secs: 3,
                },
                429,
                "rate_limited",
            ),
            (ApiError::PayloadTooLarge, 413, "payload_too_large"),
            (
                ApiError::UnsupportedMediaType,
                415,
                "unsupported_media_type",
            ),
            (
                ApiError::Internal(anyhow::anyhow!("secret SQL")),
                500,
                "internal",
            ),
        ];
        for (error, status, code) in cases {
            let problem = error.problem();
            assert_eq!(problem.status, status);
            assert_eq!(problem.code, code);
            assert_eq!(
                problem.problem_type,
                format!("urn:securetodo:problem:{code}")
            );
            assert!(!problem.detail.contains("secret SQL"));
        }
    }

    #[test]
    fn framework_statuses_map_to_problems() {
        let cases = [
            (400, "validation_failed"),
            (401, "unauthorized"),
            (403, "forbidden"),
            (404, "not_found"),
            (405, "method_not_allowed"),
            (413, "payload_too_large"),
            (415, "unsupported_media_type"),
            (500, "internal"),
            (502, "internal"),
        ];
        for (status, code) in cases {
            let error = problem_for_status(StatusCode::from_u16(status).unwrap()).unwrap();
            assert_eq!(error.code(), code);
        }
        assert!(problem_for_status(StatusCode::IM_A_TEAPOT).is_none());
    }

    #[test]
    fn responses_carry_the_protocol_headers_and_a_fixed_5xx_body() {
        let unauthorized = ApiError::Unauthorized.error_response();
        assert_eq!(
            unauthorized
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .unwrap(),
            "Bearer"
        );
        let expired = ApiError::TokenExpired.error_response();
        assert!(expired
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .unwrap()
            .to_str()
            .unwrap()
            .contains("invalid_token"));
        let limited = ApiError::RateLimited {
            retry_after_secs: 7,
        }
        .error_response();
        assert_eq!(limited.headers().get(header::RETRY_AFTER).unwrap(), "7");
        let internal =
            ApiError::Internal(anyhow::anyhow!("/etc/secret path and SELECT * FROM users"));
        let problem = serde_json::to_string(&internal.problem()).unwrap();
        assert!(
            !problem.contains("secret") && !problem.contains("SELECT"),
            "{problem}"
        );
        assert_eq!(
            internal
                .error_response()
                .headers()
                .get(header::CONTENT_TYPE)
                .unwrap(),
            PROBLEM_JSON
        );
    }

    #[test]
    fn library_errors_convert_without_leaking() {
        assert!(matches!(
            ApiError::from(diesel::result::Error::NotFound),
            ApiError::NotFound
        ));
        assert!(matches!(
            ApiError::from(diesel::result::Error::RollbackTransaction),
            ApiError::Internal(_)
        ));
        assert!(matches!(
            ApiError::from(anyhow::anyhow!("x")),
            ApiError::Internal(_)
        ));
        assert_eq!(
            ApiError::Conflict("The todo changed.").problem().detail,
            "The todo changed."
        );
        assert_eq!(
            ApiError::ServiceUnavailable(anyhow::anyhow!("db down"))
                .problem()
                .status,
            503
        );
    }
}
