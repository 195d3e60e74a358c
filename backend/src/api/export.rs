//! `GET /api/v1/users/me/export`: the caller's data as a JSON or CSV
//! attachment, streamed page by page (each page one short query on the
//! blocking pool, the connection given back in between), so a 100,000-todo
//! account is never held in memory whole and a slow reader holds no
//! database connection.

use std::borrow::Cow;

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::dto::{ApiTokenResponse, TodoResponse, UserResponse};
use crate::api::problems::Unauthenticated;
use crate::app::export::{self, TodoPosition};
use crate::auth::AuthUser;
use crate::db::models::audit::StoredAuditEvent;
use crate::db::models::session::Session;
use crate::db::models::todo::Todo;
use crate::db::Db;
use crate::domain::Priority;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::Query;
use crate::state::AppState;

/// `format` of the export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// Everything: account, sessions, API token metadata, todos (trash
    /// included), audit events about the user.
    #[default]
    Json,
    /// The live todos, one per line.
    Csv,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `json` (default) or `csv`.
    #[param(inline)]
    pub format: Option<ExportFormat>,
}

/// The JSON export. `format` and `version` name this layout.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportDocument {
    #[schema(example = "securetodo.export")]
    pub format: String,
    #[schema(example = 1)]
    pub version: u32,
    pub exported_at: DateTime<Utc>,
    pub account: UserResponse,
    /// Every stored session: live ones, and ended ones until retention
    /// removes them.
    pub sessions: Vec<ExportedSession>,
    /// Metadata of the API tokens; never a secret or hash.
    pub api_tokens: Vec<ApiTokenResponse>,
    /// The live todos, oldest first, then the trash, most recently
    /// deleted first.
    pub todos: Vec<ExportedTodo>,
    /// Security events about the account, oldest first.
    pub audit_events: Vec<ExportedAuditEvent>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedSession {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[schema(required = true)]
    pub revoked_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub user_agent: Option<String>,
    #[schema(required = true)]
    pub ip: Option<String>,
}

impl From<&Session> for ExportedSession {
    fn from(s: &Session) -> Self {
        Self {
            id: s.id,
            created_at: s.created_at.and_utc(),
            last_used_at: s.last_used_at.and_utc(),
            expires_at: s.expires_at.and_utc(),
            revoked_at: s.revoked_at.map(|at| at.and_utc()),
            user_agent: s.user_agent.clone(),
            ip: s.ip.clone(),
        }
    }
}

/// A todo in the export: as the API shows it, and when it moved to the
/// trash (null for a live todo).
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedTodo {
    #[serde(flatten)]
    pub todo: TodoResponse,
    #[schema(required = true)]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<&Todo> for ExportedTodo {
    fn from(t: &Todo) -> Self {
        Self {
            todo: TodoResponse::from(t),
            deleted_at: t.deleted_at.map(|at| at.and_utc()),
        }
    }
}

/// Who caused an event about the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventActor {
    /// The user.
    #[serde(rename = "self")]
    Myself,
    /// An administrator (who is not named, nor their address).
    Administrator,
    /// Nobody signed in: failed sign-ins, the command line.
    Anonymous,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedAuditEvent {
    pub id: i64,
    #[serde(rename = "type")]
    #[schema(value_type = crate::domain::AuditEventType)]
    pub event_type: String,
    pub actor: EventActor,
    /// The client address, unless an administrator acted.
    #[schema(required = true)]
    pub ip: Option<String>,
    pub created_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl ExportedAuditEvent {
    fn new(user_id: i64, e: StoredAuditEvent) -> Self {
        let actor = match e.actor_user_id {
            Some(id) if id == user_id => EventActor::Myself,
            Some(_) => EventActor::Administrator,
            None => EventActor::Anonymous,
        };
        Self {
            id: e.id,
            event_type: e.event_type,
            actor,
            ip: e.ip.filter(|_| actor != EventActor::Administrator),
            created_at: e.created_at.and_utc(),
            detail: serde_json::from_str(&e.detail)
                .unwrap_or_else(|_| serde_json::Value::Object(Default::default())),
        }
    }
}

/// The CSV's header row (SPEC section 4).
pub const CSV_HEADER: [&str; 9] = [
    "id",
    "title",
    "description",
    "completed",
    "priority",
    "due_date",
    "created_at",
    "updated_at",
    "completed_at",
];

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or
/// carriage return first) gets a leading `'`, as OWASP's CSV injection
/// guidance says; everything else is kept verbatim.
pub fn guard_cell(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

fn priority_name(priority: Priority) -> &'static str {
    match priority {
        Priority::Low => "low",
        Priority::Normal => "normal",
        Priority::High => "high",
    }
}

fn rfc3339(at: chrono::NaiveDateTime) -> String {
    at.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// One CSV record per todo, RFC 4180 (CRLF, quotes where needed).
fn csv_chunk(todos: &[Todo], header: bool) -> ApiResult<Vec<u8>> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(todos.len() * 128 + 128));
    let fail = |e: csv::Error| ApiError::Internal(anyhow::Error::new(e).context("writing CSV"));
    if header {
        writer.write_record(CSV_HEADER).map_err(fail)?;
    }
    for t in todos {
        let record = [
            t.id.to_string(),
            t.title.clone(),
            t.description.clone(),
            t.completed.to_string(),
            priority_name(Priority::from_rank(t.priority)).to_owned(),
            t.due_date.map(|d| d.to_string()).unwrap_or_default(),
            rfc3339(t.created_at),
            rfc3339(t.updated_at),
            t.completed_at.map(rfc3339).unwrap_or_default(),
        ];
        writer
            .write_record(record.iter().map(|cell| guard_cell(cell).into_owned()))
            .map_err(fail)?;
    }
    writer
        .into_inner()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("writing CSV: {e}")))
}

/// `items` as JSON array elements, each preceded by a comma unless it is
/// the very first of its array.
fn json_items<T: Serialize>(items: &[T], first: bool) -> ApiResult<Vec<u8>> {
    let mut out = Vec::with_capacity(items.len() * 256);
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !first {
            out.push(b',');
        }
        out.push(b'\n');
        serde_json::to_writer(&mut out, item)
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("writing JSON")))?;
    }
    Ok(out)
}

/// Where the stream is.
enum Step {
    Todos {
        after: Option<TodoPosition>,
        first: bool,
    },
    /// JSON only: the trashed todos, in the same array.
    Trash {
        after: Option<TodoPosition>,
        first: bool,
    },
    Audit {
        after: i64,
        first: bool,
    },
    Done,
}

struct Export {
    db: Db,
    user_id: i64,
    format: ExportFormat,
    step: Step,
}

impl Export {
    /// The next chunk of the body, and the step after it; `None` at the end.
    async fn next(mut self) -> Option<(Result<Bytes, ApiError>, Self)> {
        let (user_id, format) = (self.user_id, self.format);
        let chunk = match self.step {
            Step::Done => return None,
            Step::Todos { after, first } => {
                let page = self
                    .db
                    .read(move |conn| {
                        let todos = export::todos_page(conn, user_id, after)?;
                        let bytes = match format {
                            ExportFormat::Csv => csv_chunk(&todos, first)?,
                            ExportFormat::Json => {
                                let items: Vec<ExportedTodo> =
                                    todos.iter().map(ExportedTodo::from).collect();
                                json_items(&items, first)?
                            }
                        };
                        Ok((
                            bytes,
                            todos.last().map(|t| (t.created_at, t.id)),
                            todos.len(),
                        ))
                    })
                    .await;
                page.map(|(bytes, last, count)| {
                    let full = count == usize::try_from(export::PAGE_SIZE).unwrap_or(usize::MAX);
                    self.step = match (last, format) {
                        (Some(last), _) if full => Step::Todos {
                            after: Some(last),
                            first: false,
                        },
                        (_, ExportFormat::Csv) => Step::Done,
                        (_, ExportFormat::Json) => Step::Trash {
                            after: None,
                            first: first && count == 0,
                        },
                    };
                    bytes
                })
            }
            Step::Trash { after, first } => {
                let page = self
                    .db
                    .read(move |conn| {
                        let todos = export::trash_page(conn, user_id, after)?;
                        let items: Vec<ExportedTodo> =
                            todos.iter().map(ExportedTodo::from).collect();
                        let last = todos
                            .last()
                            .map(|t| (t.deleted_at.unwrap_or_default(), t.id));
                        Ok((json_items(&items, first)?, last, todos.len()))
                    })
                    .await;
                page.map(|(mut bytes, last, count)| {
                    let full = count == usize::try_from(export::PAGE_SIZE).unwrap_or(usize::MAX);
                    self.step = match last {
                        Some(last) if full => Step::Trash {
                            after: Some(last),
                            first: false,
                        },
                        _ => {
                            bytes.extend_from_slice(b"\n],\"audit_events\":[");
                            Step::Audit {
                                after: 0,
                                first: true,
                            }
                        }
                    };
                    bytes
                })
            }
            Step::Audit { after, first } => {
                let page = self
                    .db
                    .read(move |conn| {
                        let events = export::audit_page(conn, user_id, after)?;
                        let last = events.last().map(|e| e.id);
                        let count = events.len();
                        let items: Vec<ExportedAuditEvent> = events
                            .into_iter()
                            .map(|e| ExportedAuditEvent::new(user_id, e))
                            .collect();
                        Ok((json_items(&items, first)?, last, count))
                    })
                    .await;
                page.map(|(mut bytes, last, count)| {
                    let full = count == usize::try_from(export::PAGE_SIZE).unwrap_or(usize::MAX);
                    self.step = match last {
                        Some(last) if full => Step::Audit {
                            after: last,
                            first: false,
                        },
                        _ => {
                            bytes.extend_from_slice(b"\n]}\n");
                            Step::Done
                        }
                    };
                    bytes
                })
            }
        };
        match chunk {
            Ok(bytes) => Some((Ok(Bytes::from(bytes)), self)),
            Err(e) => {
                // The status is sent already: end the body early (the
                // client sees a truncated download) and log why.
                log::error!("export of user {user_id} failed: {e:?}");
                self.step = Step::Done;
                Some((Err(e), self))
            }
        }
    }
}

/// The JSON document up to the opening of its `todos` array.
fn json_head(account: &export::AccountExport) -> ApiResult<Vec<u8>> {
    #[derive(Serialize)]
    struct Head {
        format: &'static str,
        version: u32,
        exported_at: DateTime<Utc>,
        account: UserResponse,
        sessions: Vec<ExportedSession>,
        api_tokens: Vec<ApiTokenResponse>,
    }
    let head = Head {
        format: "securetodo.export",
        version: 1,
        exported_at: Utc::now(),
        account: UserResponse::from(&account.user),
        sessions: account.sessions.iter().map(ExportedSession::from).collect(),
        api_tokens: account.tokens.iter().map(ApiTokenResponse::from).collect(),
    };
    let mut bytes = serde_json::to_vec(&head)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("writing JSON")))?;
    // An object always ends with `}`: reopen it for the streamed arrays.
    bytes.pop();
    bytes.extend_from_slice(b",\"todos\":[");
    Ok(bytes)
}

/// Download the caller's data. `json` (default): the account, sessions,
/// API token metadata, todos (the trash included, with `deleted_at`) and
/// the audit events about the account;
/// `csv`: the live todos, one per line, with a header row. Cells that a
/// spreadsheet would run as a formula start with `'`.
#[utoipa::path(
    get,
    path = "/api/v1/users/me/export",
    tag = "users",
    security(("bearer" = [])),
    params(ExportQuery),
    responses(
        (status = 200, description = "The export, as an attachment", content(
            (ExportDocument = "application/json"),
            (String = "text/csv", example = "id,title,description,completed,priority,due_date,created_at,updated_at,completed_at\r\n42,Buy milk,,false,normal,,2026-11-30T08:00:00.000000Z,2026-11-30T08:00:00.000000Z,\r\n"),
        ), headers(
            ("Content-Disposition" = String, description = "`attachment; filename=\"securetodo-export-YYYY-MM-DD.json\"` (or `.csv`)"),
        )),
        Unauthenticated,
        (status = 422, description = "Unknown `format` or parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn export_account(
    user: AuthUser,
    state: web::Data<AppState>,
    query: Query<ExportQuery>,
) -> ApiResult<HttpResponse> {
    let format = query.0.format.unwrap_or_default();
    let user_id = user.user_id;
    let head = match format {
        ExportFormat::Json => {
            let account = state
                .db
                .read(move |conn| export::account(conn, user_id))
                .await?;
            json_head(&account)?
        }
        ExportFormat::Csv => Vec::new(),
    };
    let (content_type, extension) = match format {
        ExportFormat::Json => ("application/json", "json"),
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
    };
    let first = Export {
        db: state.db.clone(),
        user_id,
        format,
        step: Step::Todos {
            after: None,
            first: true,
        },
    };
    let head = futures_util::stream::iter([Ok::<_, ApiError>(Bytes::from(head))]);
    let rest = futures_util::stream::unfold(first, Export::next);
    let disposition = format!(
        "attachment; filename=\"securetodo-export-{}.{extension}\"",
        Utc::now().format("%Y-%m-%d")
    );
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&disposition)
                .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?,
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(futures_util::StreamExt::chain(head, rest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused_and_others_kept() {
        for (cell, expected) in [
            ("=1+1", "'=1+1"),
            ("+SUM(A1)", "'+SUM(A1)"),
            ("-2", "'-2"),
            ("@cmd", "'@cmd"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("plain", "plain"),
            ("", ""),
            ("a=b", "a=b"),
        ] {
            assert_eq!(guard_cell(cell), expected, "{cell:?}");
        }
    }
}
