//! Problem+json responses shared by many operations, declared once for the
//! OpenAPI document (`responses(..., Unauthenticated, JsonBodyErrors)`).
//! Responses particular to one operation stay in its `#[utoipa::path]`.

use utoipa::IntoResponses;

use crate::error::Problem;

/// What every authenticated operation may answer before it runs: 401
/// without a valid token, 403 for an API token used outside its scopes
/// (tokens open the todo endpoints only), 429 over the caller's API rate
/// limit.
#[derive(IntoResponses)]
pub enum Unauthenticated {
    #[response(
        status = 401,
        description = "Missing or invalid access token",
        content_type = "application/problem+json"
    )]
    Unauthorized(Problem),
    #[response(
        status = 403,
        description = "An API token used outside its scopes (`insufficient_scope`)",
        content_type = "application/problem+json"
    )]
    InsufficientScope(Problem),
    #[response(
        status = 429,
        description = "Over the caller's API rate limit (`rate_limited`); see `Retry-After`",
        content_type = "application/problem+json"
    )]
    RateLimited(Problem),
}

/// 403 on every admin operation.
#[derive(IntoResponses)]
pub enum NotAdmin {
    #[response(
        status = 403,
        description = "The caller is not an admin",
        content_type = "application/problem+json"
    )]
    Forbidden(Problem),
}

/// 400, 413 and 415 on every operation that reads a JSON body.
#[derive(IntoResponses)]
pub enum JsonBodyErrors {
    #[response(
        status = 400,
        description = "Body is not valid JSON",
        content_type = "application/problem+json"
    )]
    Malformed(Problem),
    #[response(
        status = 413,
        description = "Body over 64 KiB",
        content_type = "application/problem+json"
    )]
    TooLarge(Problem),
    #[response(
        status = 415,
        description = "Body is not JSON",
        content_type = "application/problem+json"
    )]
    NotJson(Problem),
}

/// 429 on the operations that take credentials, and 503 when the shared
/// rate-limit store (Redis) cannot be reached: those limits fail closed.
#[derive(IntoResponses)]
pub enum TooManyAttempts {
    #[response(
        status = 429,
        description = "Too many attempts",
        content_type = "application/problem+json"
    )]
    RateLimited(Problem),
    #[response(
        status = 503,
        description = "The rate limit cannot be checked right now (`unavailable`); see `Retry-After`",
        content_type = "application/problem+json"
    )]
    Unavailable(Problem),
}

/// 422 on operations whose only parameter is an integer id in the path.
#[derive(IntoResponses)]
pub enum BadId {
    #[response(
        status = 422,
        description = "The id is not an integer",
        content_type = "application/problem+json"
    )]
    NotAnInteger(Problem),
}
