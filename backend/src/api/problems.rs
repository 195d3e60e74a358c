//! Problem+json responses shared by several operations, declared once for
//! the OpenAPI document (`responses(..., Unauthenticated, JsonBodyErrors)`).
//! Responses particular to one operation stay in its `#[utoipa::path]`.

use utoipa::IntoResponses;

use crate::error::Problem;

/// Declares response groups whose every response is a problem+json body:
/// `Group { Variant = (status, "description"), ... }`.
macro_rules! problem_responses {
    ($($(#[$meta:meta])* $group:ident { $($variant:ident = ($status:tt, $description:tt)),+ $(,)? })+) => {
        $(
            $(#[$meta])*
            #[derive(IntoResponses)]
            pub enum $group {
                $(
                    #[response(
                        status = $status,
                        description = $description,
                        content_type = "application/problem+json"
                    )]
                    $variant(Problem),
                )+
            }
        )+
    };
}

problem_responses! {
    /// What every authenticated operation may answer before it runs: 401
    /// without a valid token, 403 for an API token used outside its scopes
    /// (tokens open the todo endpoints only), 429 over the caller's API rate
    /// limit.
    Unauthenticated {
        Unauthorized = (401, "Missing or invalid access token"),
        InsufficientScope = (403, "An API token used outside its scopes (`insufficient_scope`)"),
        RateLimited = (429, "Over the caller's API rate limit (`rate_limited`); see `Retry-After`"),
    }

    /// 403 on every admin operation.
    NotAdmin {
        Forbidden = (403, "The caller is not an admin"),
    }

    /// 400, 413 and 415 on every operation that reads a JSON body.
    JsonBodyErrors {
        Malformed = (400, "Body is not valid JSON"),
        TooLarge = (413, "Body over 64 KiB"),
        NotJson = (415, "Body is not JSON"),
    }

    /// 404 on the admin operations on one user.
    NoSuchUser {
        NotFound = (404, "No such user"),
    }

    /// 429 on the operations that take credentials, and 503 when the shared
    /// rate-limit store (Redis) cannot be reached: those limits fail closed.
    TooManyAttempts {
        RateLimited = (429, "Too many attempts"),
        Unavailable = (503, "The rate limit cannot be checked right now (`unavailable`); see `Retry-After`"),
    }

    /// 409 on the admin operations that could remove the last active admin.
    LastAdmin {
        Conflict = (409, "The user is the last active admin (`last_admin`)"),
    }

    /// 422 on operations whose only parameter is an integer id in the path.
    BadId {
        NotAnInteger = (422, "The id is not an integer"),
    }
}
