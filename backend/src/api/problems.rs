//! Problem+json responses shared by many operations, declared once for the
//! OpenAPI document (`responses(..., Unauthenticated, JsonBodyErrors)`).
//! Responses particular to one operation stay in its `#[utoipa::path]`.

use utoipa::IntoResponses;

use crate::error::Problem;

/// 401 on every operation that needs an access token.
#[derive(IntoResponses)]
pub enum Unauthenticated {
    #[response(
        status = 401,
        description = "Missing or invalid access token",
        content_type = "application/problem+json"
    )]
    Unauthorized(Problem),
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

/// 429 on the operations that take credentials.
#[derive(IntoResponses)]
pub enum TooManyAttempts {
    #[response(
        status = 429,
        description = "Too many attempts",
        content_type = "application/problem+json"
    )]
    RateLimited(Problem),
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
