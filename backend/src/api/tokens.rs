//! The caller's personal API tokens: create (the secret shown once), list,
//! delete.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::dto::ApiTokenResponse;
use crate::api::problems::{BadId, JsonBodyErrors, TooManyAttempts, Unauthenticated};
use crate::api::users::confirm_password;
use crate::api::write_as;
use crate::app::tokens::{self, NewToken};
use crate::auth::tokens::new_api_token;
use crate::auth::AuthUser;
use crate::domain::{Scope, Scopes, TokenLifetime, TokenName};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{Json, PathId};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiTokenRequest {
    /// What the token is for: 1 to 100 characters after trimming.
    #[schema(example = "nightly backup script", min_length = 1, max_length = 100)]
    pub name: String,
    /// What the token may do: one or both of `todos:read`, `todos:write`.
    #[schema(min_items = 1, max_items = 2, example = json!(["todos:read"]))]
    pub scopes: Vec<Scope>,
    /// Days until the token expires, 1 to 365.
    #[schema(minimum = 1, maximum = 365, example = 90)]
    pub expires_in_days: i64,
    /// The caller's current password, to confirm.
    #[schema(example = "correct horse battery staple", format = Password)]
    pub password: String,
}

/// A new API token with its secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiTokenResponse {
    #[serde(flatten)]
    pub meta: ApiTokenResponse,
    /// The secret: send it as `Authorization: Bearer <token>`. Only its
    /// hash is stored, so it cannot be shown again.
    #[schema(example = "stp_8Qm2vY0cN1xR4tK7wZ3bH6jL9pD5sF2gA0eC1uV8yXo")]
    pub token: String,
}

/// The caller's live API tokens, newest first. Never more than 20, so
/// there is never a next page (`next_cursor` is always null).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenListResponse {
    pub items: Vec<ApiTokenResponse>,
    #[schema(value_type = Option<String>)]
    pub next_cursor: Option<String>,
}

/// The request's fields, each checked; every failure is listed.
fn parse(body: &CreateApiTokenRequest) -> ApiResult<(TokenName, Scopes, TokenLifetime)> {
    let name = TokenName::parse(&body.name);
    let scopes = Scopes::parse(&body.scopes);
    let lifetime = TokenLifetime::parse(body.expires_in_days);
    match (name, scopes, lifetime) {
        (Ok(name), Ok(scopes), Ok(lifetime)) => Ok((name, scopes, lifetime)),
        (name, scopes, lifetime) => {
            let errors = [
                ("name", name.err()),
                ("scopes", scopes.err()),
                ("expires_in_days", lifetime.err()),
            ]
            .into_iter()
            .filter_map(|(field, message)| message.map(|m| FieldError::new(field, m)))
            .collect();
            Err(ApiError::Validation(errors))
        }
    }
}

/// Create an API token for scripts and external clients. It works on the
/// `/api/v1/todos` endpoints only, within its scopes. At most 20 live
/// tokens per user; the secret is in this response only.
#[utoipa::path(
    post,
    path = "/api/v1/users/me/tokens",
    tag = "tokens",
    security(("bearer" = [])),
    request_body = CreateApiTokenRequest,
    responses(
        (status = 201, description = "The token, with its secret shown this once", body = CreatedApiTokenResponse),
        JsonBodyErrors,
        Unauthenticated,
        (status = 409, description = "Already 20 live tokens (`quota_exceeded`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name, scopes or lifetime, or a wrong password", body = Problem, content_type = "application/problem+json"),
        TooManyAttempts,
    )
)]
pub async fn create_api_token(
    user: AuthUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<CreateApiTokenRequest>,
) -> ApiResult<HttpResponse> {
    let (name, scopes, lifetime) = parse(&body.0)?;
    confirm_password(&state, &req, &user, body.0.password, "password").await?;
    let secret = new_api_token();
    let new = NewToken {
        name,
        scopes,
        lifetime,
        hash: secret.hash,
    };
    let token = write_as(&state, &req, &user, move |tx, actor| {
        tokens::create(tx, actor, new)
    })
    .await?;
    Ok(HttpResponse::Created().json(CreatedApiTokenResponse {
        meta: ApiTokenResponse::from(&token),
        token: secret.token,
    }))
}

/// The caller's live API tokens (never their secrets).
#[utoipa::path(
    get,
    path = "/api/v1/users/me/tokens",
    tag = "tokens",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Live tokens, newest first", body = ApiTokenListResponse),
        Unauthenticated,
    )
)]
pub async fn list_api_tokens(
    user: AuthUser,
    state: web::Data<AppState>,
) -> ApiResult<web::Json<ApiTokenListResponse>> {
    let id = user.user_id;
    let found = state.db.read(move |conn| tokens::list(conn, id)).await?;
    Ok(web::Json(ApiTokenListResponse {
        items: found.iter().map(ApiTokenResponse::from).collect(),
        next_cursor: None,
    }))
}

/// Delete one of the caller's API tokens: it stops working at once.
#[utoipa::path(
    delete,
    path = "/api/v1/users/me/tokens/{id}",
    tag = "tokens",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Token id")),
    responses(
        (status = 204, description = "Token deleted"),
        Unauthenticated,
        (status = 404, description = "No such token of the caller", body = Problem, content_type = "application/problem+json"),
        BadId,
    )
)]
pub async fn delete_api_token(
    user: AuthUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: PathId,
) -> ApiResult<HttpResponse> {
    let token_id = path.0;
    write_as(&state, &req, &user, move |tx, actor| {
        tokens::delete(tx, actor, token_id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
