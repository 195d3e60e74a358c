//! The caller's second factor: TOTP enrolment and confirmation, recovery
//! codes, turning MFA off. (The login's second step is `auth::verify_mfa`;
//! an admin's reset is `admin::reset_user_mfa`.)

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::problems::{JsonBodyErrors, TooManyAttempts, Unauthenticated};
use crate::api::users::confirm_password;
use crate::api::write_as;
use crate::app::mfa::{self, Checked, SecondFactor};
use crate::app::Actor;
use crate::auth::mfa::{MfaKeys, TotpCode};
use crate::auth::AuthUser;
use crate::db::Conn;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::Json;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartTotpRequest {
    /// The current password, to confirm.
    #[schema(example = "correct horse battery staple", format = Password)]
    pub password: String,
}

/// A pending TOTP enrolment: add it to an authenticator app, then confirm
/// it with a code. Shown once; nothing here is ever sent again.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrolmentResponse {
    /// The secret in base32 (160 bits), for typing into an app by hand.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    pub secret: String,
    /// The `otpauth://totp/` URI (issuer SecureTodo, the email as the
    /// account, SHA1, 6 digits, 30 seconds).
    #[schema(
        example = "otpauth://totp/SecureTodo:alice%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=SecureTodo"
    )]
    pub otpauth_uri: String,
    /// The URI as an SVG QR code (an image: show it with `<img>`, never as
    /// markup).
    #[schema(example = "<?xml version=\"1.0\" standalone=\"yes\"?><svg ...>")]
    pub qr_svg: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmTotpRequest {
    /// A current code of the new secret.
    #[schema(example = "123456")]
    pub code: String,
}

/// Recovery codes, shown once: each signs in once in place of a TOTP code.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesResponse {
    /// Ten codes of 120 bits each; only their keyed hashes are stored.
    #[schema(example = json!(["7k2m-q9xd-4hrt-0pzc-3n8w-vy5e", "m1cz-8bq4-t0ga-kd3w-x7rj-9fhe"]))]
    pub recovery_codes: Vec<String>,
}

/// The password and a second factor, for changes to the second factor.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaChangeRequest {
    /// The current password.
    #[schema(example = "correct horse battery staple", format = Password)]
    pub password: String,
    /// A current TOTP code, or an unused recovery code (which is spent).
    #[schema(example = "123456")]
    pub code: String,
}

/// Runs one of the caller's MFA use cases in a write transaction, with the
/// keys, the caller as actor, the session of the request and the time.
async fn write_mfa<T, F>(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    user: &AuthUser,
    change: F,
) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&mut Conn<'_>, &MfaKeys, &Actor, i64, NaiveDateTime) -> ApiResult<T> + Send + 'static,
{
    let session_id = user.session_id;
    let keys = state.clone();
    write_as(state, req, user, move |tx, actor| {
        change(tx, &keys.mfa, actor, session_id, crate::clock::now())
    })
    .await
}

/// A wrong code is a 422 on `code` (its audit event and counters have
/// committed by now).
fn accepted<T>(checked: Checked<T>) -> ApiResult<T> {
    match checked {
        Checked::Accepted(value) => Ok(value),
        Checked::WrongCode => Err(ApiError::validation("code", "is incorrect")),
    }
}

/// Start a TOTP enrolment (or start it over while it is pending).
///
/// MFA stays off until `POST /api/v1/users/me/mfa/totp/confirm` receives a
/// code of this secret.
#[utoipa::path(
    post,
    path = "/api/v1/users/me/mfa/totp",
    tag = "mfa",
    security(("bearer" = [])),
    request_body = StartTotpRequest,
    responses(
        (status = 200, description = "A pending enrolment", body = TotpEnrolmentResponse),
        JsonBodyErrors,
        Unauthenticated,
        (status = 409, description = "MFA is already on (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong password", body = Problem, content_type = "application/problem+json"),
        TooManyAttempts,
    )
)]
pub async fn start_totp_enrolment(
    user: AuthUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<StartTotpRequest>,
) -> ApiResult<web::Json<TotpEnrolmentResponse>> {
    confirm_password(&state, &req, &user, body.0.password, "password").await?;
    let enrolment = write_mfa(&state, &req, &user, |tx, keys, actor, _, now| {
        mfa::start_enrolment(tx, keys, actor, now)
    })
    .await?;
    Ok(web::Json(TotpEnrolmentResponse {
        secret: enrolment.secret_base32,
        otpauth_uri: enrolment.otpauth_uri,
        qr_svg: enrolment.qr_svg,
    }))
}

/// Confirm the pending enrolment with a code: MFA is on.
///
/// Returns ten recovery codes, once. Every other session of the caller
/// ends; the code counts as used.
#[utoipa::path(
    post,
    path = "/api/v1/users/me/mfa/totp/confirm",
    tag = "mfa",
    security(("bearer" = [])),
    request_body = ConfirmTotpRequest,
    responses(
        (status = 200, description = "MFA is on; the recovery codes, shown once", body = RecoveryCodesResponse),
        JsonBodyErrors,
        Unauthenticated,
        (status = 409, description = "MFA is already on, or no enrolment is pending (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Malformed or wrong code", body = Problem, content_type = "application/problem+json"),
        TooManyAttempts,
    )
)]
pub async fn confirm_totp_enrolment(
    user: AuthUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<ConfirmTotpRequest>,
) -> ApiResult<web::Json<RecoveryCodesResponse>> {
    let code = TotpCode::parse(&body.0.code).map_err(|m| ApiError::validation("code", m))?;
    let checked = write_mfa(&state, &req, &user, move |tx, keys, actor, keep, now| {
        mfa::confirm_enrolment(tx, keys, actor, keep, &code, now)
    })
    .await?;
    Ok(web::Json(RecoveryCodesResponse {
        recovery_codes: accepted(checked)?,
    }))
}

/// A change to the caller's second factor that needs the password and a
/// code: parses the code and checks the password, in that order of cost (a
/// malformed code is answered before bcrypt runs), then runs `change` with
/// the code.
async fn change_with_code<T, F>(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    user: &AuthUser,
    body: MfaChangeRequest,
    change: F,
) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(
            &mut Conn<'_>,
            &MfaKeys,
            &Actor,
            i64,
            &SecondFactor,
            NaiveDateTime,
        ) -> ApiResult<Checked<T>>
        + Send
        + 'static,
{
    let factor =
        SecondFactor::parse_either(&body.code).map_err(|m| ApiError::validation("code", m))?;
    confirm_password(state, req, user, body.password, "password").await?;
    let checked = write_mfa(state, req, user, move |tx, keys, actor, session_id, now| {
        change(tx, keys, actor, session_id, &factor, now)
    })
    .await?;
    accepted(checked)
}

/// Replace the recovery codes with a new set (the old set stops working).
#[utoipa::path(
    post,
    path = "/api/v1/users/me/mfa/recovery-codes",
    tag = "mfa",
    security(("bearer" = [])),
    request_body = MfaChangeRequest,
    responses(
        (status = 200, description = "The new recovery codes, shown once", body = RecoveryCodesResponse),
        JsonBodyErrors,
        Unauthenticated,
        (status = 409, description = "MFA is off (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong password or code", body = Problem, content_type = "application/problem+json"),
        TooManyAttempts,
    )
)]
pub async fn regenerate_recovery_codes(
    user: AuthUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<MfaChangeRequest>,
) -> ApiResult<web::Json<RecoveryCodesResponse>> {
    let recovery_codes =
        change_with_code(&state, &req, &user, body.0, mfa::regenerate_recovery_codes).await?;
    Ok(web::Json(RecoveryCodesResponse { recovery_codes }))
}

/// Turn MFA off (the secret and recovery codes are deleted).
#[utoipa::path(
    delete,
    path = "/api/v1/users/me/mfa",
    tag = "mfa",
    security(("bearer" = [])),
    request_body = MfaChangeRequest,
    responses(
        (status = 204, description = "MFA is off"),
        JsonBodyErrors,
        Unauthenticated,
        (status = 409, description = "MFA is off already (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong password or code", body = Problem, content_type = "application/problem+json"),
        TooManyAttempts,
    )
)]
pub async fn disable_mfa(
    user: AuthUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<MfaChangeRequest>,
) -> ApiResult<HttpResponse> {
    change_with_code(&state, &req, &user, body.0, mfa::disable).await?;
    Ok(HttpResponse::NoContent().finish())
}
