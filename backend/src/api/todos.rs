//! The caller's todos: keyset-paged lists with filters, search and eight
//! orders; create (with `Idempotency-Key`), read (with `If-None-Match`),
//! update (with `If-Match`), delete to the trash, clear completed; the
//! trash (list, restore, empty) and delta sync.

use actix_web::http::header::{self, IfMatch, IfNoneMatch};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::dto::TodoResponse;
use crate::api::problems::{BadId, JsonBodyErrors, Unauthenticated};
use crate::app::idempotency::{self, Claim, IdempotencyKey, StoredResponse};
use crate::app::sync::{self, SyncPosition};
use crate::app::todos::{self, NewTodoInput, Precondition, TodoChange};
use crate::auth::{Caller, Credential, DeferredCaller};
use crate::db::models::todo::{ListFilter, SortValue, Todo};
use crate::db::{Backend, Conn};
use crate::domain::{DueDate, Priority, TodoDescription, TodoSort, TodoTitle};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{parse_query, Json, JsonWithBytes, PathId, Query, RawBody};
use crate::pagination::{self, Page};
use crate::state::AppState;

/// Longest accepted search string, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// One page of todos.
#[derive(Debug, Serialize, ToSchema)]
pub struct TodoListResponse {
    pub items: Vec<TodoResponse>,
    /// Pass as `cursor` (with the same `sort` and filters) for the next
    /// page; null on the last page.
    #[schema(required = true, value_type = Option<String>, example = "eyJzIjoi...")]
    pub next_cursor: Option<String>,
}

/// How many todos `DELETE /api/v1/todos?completed=true` moved to the trash.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClearCompletedResponse {
    #[schema(example = 3)]
    pub deleted: i64,
    /// The ids of the todos moved to the trash: restore them to undo.
    #[schema(example = json!([7, 9, 12]))]
    pub ids: Vec<i64>,
}

/// How many todos `DELETE /api/v1/todos/trash` purged for good.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmptyTrashResponse {
    #[schema(example = 3)]
    pub deleted: i64,
}

/// A todo in the trash.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrashedTodoResponse {
    #[serde(flatten)]
    pub todo: TodoResponse,
    /// When it moved to the trash; it is purged `TRASH_RETENTION_DAYS`
    /// later.
    pub deleted_at: DateTime<Utc>,
}

/// One page of the trash, most recently deleted first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrashListResponse {
    pub items: Vec<TrashedTodoResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(required = true, value_type = Option<String>, example = "eyJmIjoi...")]
    pub next_cursor: Option<String>,
}

/// One response of delta sync.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangesResponse {
    /// Todos created, changed or restored since the token, each once, in
    /// its latest state (every live todo when there was no `since`).
    pub items: Vec<TodoResponse>,
    /// Ids of todos trashed or purged since the token: remove them. Never
    /// also in `items`.
    #[schema(example = json!([4, 11]))]
    pub deleted_ids: Vec<i64>,
    /// Keep it; send it as `since` next time.
    #[schema(example = "eyJrIjoic3luYyIs...")]
    pub sync_token: String,
    /// More changes are waiting: call again at once with `sync_token`.
    #[schema(example = false)]
    pub has_more: bool,
}

/// A field that may be absent but, when present, must not be null.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    match Option::<T>::deserialize(deserializer)? {
        Some(value) => Ok(Some(value)),
        None => Err(serde::de::Error::custom("must not be null")),
    }
}

/// A nullable field whose absence differs from null: absent is `None`,
/// null is `Some(None)`.
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A new todo. Only `title` is required; no other field may be sent (ids,
/// owners and timestamps are the server's).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTodoRequest {
    /// 1 to 200 characters once surrounding whitespace is trimmed (it is
    /// stored trimmed). Markup and quotes are kept verbatim.
    #[schema(
        example = "Buy milk",
        pattern = r"^[\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:[\s\S]{0,198}[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    pub title: String,
    /// Up to 10,000 characters, stored verbatim. Defaults to empty.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, nullable = false, max_length = 10000, example = "Two litres, semi-skimmed")]
    pub description: Option<String>,
    /// Defaults to `normal`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Priority, nullable = false)]
    pub priority: Option<Priority>,
    /// A calendar date `YYYY-MM-DD`; null or absent for none.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date, example = "2026-12-24")]
    pub due_date: Option<String>,
    /// Defaults to false; true also sets `completed_at`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = bool, nullable = false, example = false)]
    pub completed: Option<bool>,
}

/// Any subset of a todo's writable fields. An absent field stays as it is;
/// `due_date: null` removes the due date. Other fields may not be null.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTodoRequest {
    /// 1 to 200 characters once surrounding whitespace is trimmed.
    #[serde(default, deserialize_with = "present")]
    #[schema(
        value_type = String,
        nullable = false,
        example = "Buy oat milk",
        pattern = r"^[\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:[\s\S]{0,198}[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    pub title: Option<String>,
    /// Up to 10,000 characters, stored verbatim.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, nullable = false, max_length = 10000)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Priority, nullable = false)]
    pub priority: Option<Priority>,
    /// A calendar date `YYYY-MM-DD`, or null to remove the due date.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Date, example = "2026-12-31")]
    pub due_date: Option<Option<String>>,
    /// True sets `completed_at` (when the todo was open); false clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = bool, nullable = false, example = true)]
    pub completed: Option<bool>,
}

/// Filters, order and page of `GET /api/v1/todos`. Unknown parameters and
/// invalid values are 422 naming the parameter; nothing is silently ignored.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListTodosQuery {
    /// Only completed (`true`) or only open (`false`) todos.
    pub completed: Option<bool>,
    /// Only todos of this priority.
    #[param(inline)]
    pub priority: Option<Priority>,
    /// A case-insensitive literal substring of the title or description, up
    /// to 200 characters. `%`, `_` and `\` are ordinary characters. Case is
    /// folded with Unicode lower-casing (`Ä` finds `ä`), one character at a
    /// time (so `ß` does not find `SS`). Empty matches everything.
    #[param(max_length = 200, example = "milk")]
    pub q: Option<String>,
    /// The order; ties are broken by `id` in the same direction. Todos
    /// without a due date come last in both `due_date` orders. Default
    /// `-created_at` (newest first).
    #[param(inline)]
    pub sort: Option<TodoSort>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, example = 20)]
    pub limit: Option<i64>,
    /// `next_cursor` from the previous page, used with the same `sort` and
    /// filters.
    pub cursor: Option<String>,
}

/// `DELETE /api/v1/todos` must say `completed=true`, so that a bare DELETE
/// of the collection can never remove everything by accident.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearCompletedQuery {
    pub completed: bool,
}

/// Written by hand: the derive cannot say "required, and only `true`".
impl IntoParams for ClearCompletedQuery {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::{ObjectBuilder, Required};
        let only_true = ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Boolean)
            .enum_values(Some([true]));
        vec![ParameterBuilder::new()
            .name("completed")
            .parameter_in(ParameterIn::Query)
            .required(Required::True)
            .description(Some("Must be `true`: only completed todos are removed."))
            .schema(Some(only_true))
            .build()]
    }
}

/// The page of `GET /api/v1/todos/trash`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TrashQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, example = 20)]
    pub limit: Option<i64>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

/// `GET /api/v1/todos/changes`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// The `sync_token` of your last response; absent for a first (full)
    /// sync.
    pub since: Option<String>,
    /// Most entries (todos plus deleted ids) per response, 1 to 500
    /// (default 100).
    #[param(minimum = 1, maximum = 500, example = 100)]
    pub limit: Option<i64>,
}

/// Where a trash page ended.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrashCursor {
    /// Digest of the owner's trash.
    f: String,
    t: NaiveDateTime,
    id: i64,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
enum TokenKind {
    #[serde(rename = "sync")]
    Sync,
}

/// A sync token: a position in the owner's change sequence, signed like
/// the cursors and bound to the owner.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncToken {
    k: TokenKind,
    u: i64,
    s: i64,
    i: i64,
    b: i64,
}

/// What a cursor remembers: where the last page ended, and the query it
/// belongs to, so that it cannot be replayed against another order or filter.
#[derive(Debug, Serialize, Deserialize)]
struct TodoCursor {
    #[serde(rename = "s")]
    sort: TodoSort,
    /// Digest of the owner and filters.
    #[serde(rename = "f")]
    filters: String,
    #[serde(rename = "v")]
    value: SortValue,
    id: i64,
}

/// The digest of one owner's list with these filters (the sort is checked
/// on its own): a cursor is valid only for the list it was issued for.
fn list_digest(owner: i64, filter: &ListFilter) -> String {
    pagination::filter_digest(
        "todos",
        &(owner, filter.completed, filter.priority, &filter.search),
    )
}

/// The request's `If-Match` (actix's typed header). One that does not
/// parse is a precondition nothing satisfies: 412, never a silent write.
fn if_match(req: &HttpRequest) -> Precondition {
    if !req.headers().contains_key(header::IF_MATCH) {
        return Precondition(None);
    }
    Precondition(Some(
        <IfMatch as header::Header>::parse(req).unwrap_or(IfMatch::Items(Vec::new())),
    ))
}

fn tagged(mut response: actix_web::HttpResponseBuilder, todo: &Todo) -> HttpResponse {
    response
        .insert_header((header::ETAG, Precondition::etag(todo)))
        .json(TodoResponse::from(todo))
}

fn field<T>(errors: &mut Vec<FieldError>, name: &str, parsed: Result<T, &str>) -> Option<T> {
    parsed
        .map_err(|m| errors.push(FieldError::new(name, m)))
        .ok()
}

/// The request's `Idempotency-Key` with the fingerprint it is bound to, if
/// it sent one; a malformed or repeated header is 400.
fn idempotency_of(req: &HttpRequest, body: &[u8]) -> ApiResult<Option<(IdempotencyKey, String)>> {
    let mut values = req.headers().get_all(idempotency::HEADER);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let key = IdempotencyKey::parse(value.as_bytes())?;
    if values.next().is_some() {
        return Err(ApiError::BadHeader(FieldError::new(
            idempotency::HEADER,
            "must be sent once",
        )));
    }
    let fingerprint = idempotency::fingerprint(req.method().as_str(), req.path(), body);
    Ok(Some((key, fingerprint)))
}

/// A todo response as it is sent, and recorded for an `Idempotency-Key`.
fn stored(status: StatusCode, todo: &Todo, location: bool) -> ApiResult<StoredResponse> {
    Ok(StoredResponse {
        status: status.as_u16(),
        body: serde_json::to_string(&TodoResponse::from(todo))
            .map_err(|e| ApiError::Internal(e.into()))?,
        etag: Some(Precondition::etag(todo)),
        location: location.then(|| format!("/api/v1/todos/{}", todo.id)),
    })
}

fn render(response: StoredResponse, replayed: bool) -> HttpResponse {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
    let mut builder = HttpResponse::build(status);
    builder.content_type("application/json");
    if let Some(etag) = response.etag {
        builder.insert_header((header::ETAG, etag));
    }
    if let Some(location) = response.location {
        builder.insert_header((header::LOCATION, location));
    }
    if replayed {
        builder.insert_header(("Idempotent-Replayed", "true"));
    }
    builder.body(response.body)
}

/// Runs `act` in a write transaction, at most once per `Idempotency-Key`:
/// with a key, the response is recorded in the same transaction, a repeat
/// replays it, and a failure releases the key.
async fn respond_once<F>(
    state: &AppState,
    owner: i64,
    idempotent: Option<(IdempotencyKey, String)>,
    act: F,
) -> ApiResult<HttpResponse>
where
    F: FnOnce(&mut Conn<'_>) -> ApiResult<StoredResponse> + Send + 'static,
{
    let Some((key, fingerprint)) = idempotent else {
        return Ok(render(state.db.write(act).await?, false));
    };
    let claimed = key.clone();
    let claim = state
        .db
        .write(move |tx| idempotency::begin(tx, owner, &claimed, &fingerprint, crate::clock::now()))
        .await?;
    if let Claim::Replay(response) = claim {
        return Ok(render(response, true));
    }
    let held = key.clone();
    let outcome = state
        .db
        .write(move |tx| {
            let response = act(tx)?;
            idempotency::finish(tx, owner, &held, &response)?;
            Ok(response)
        })
        .await;
    match outcome {
        Ok(response) => Ok(render(response, false)),
        Err(error) => {
            if let Err(release) = state
                .db
                .write(move |tx| idempotency::abandon(tx, owner, &key))
                .await
            {
                log::warn!("releasing an idempotency key failed: {release}");
            }
            Err(error)
        }
    }
}

/// List the caller's todos, one page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/todos",
    tag = "todos",
    security(("bearer" = []), ("api_token" = ["todos:read"])),
    params(ListTodosQuery),
    responses(
        (status = 200, description = "A page of the caller's todos", body = TodoListResponse),
        Unauthenticated,
        (status = 422, description = "An invalid or unknown parameter, or a cursor that is unreadable or belongs to another sort or filter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_todos(
    caller: DeferredCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<web::Json<TodoListResponse>> {
    let request = match list_request(&state, &req) {
        Ok(request) => request,
        Err(invalid) => return Err(refuse(&state, &req, caller, invalid).await),
    };
    // The credential's check and the page share one hop and one connection
    // (and, for a session on PostgreSQL, one statement).
    let (sort, limit) = (request.sort, request.limit);
    let deferred = caller.clone();
    let outcome = state
        .db
        .read(move |conn| read_page(conn, &deferred, request))
        .await;
    let (confirmed, rows, digest) = match outcome {
        Ok(found) => found,
        Err(invalid @ ApiError::Validation(_)) => {
            return Err(refuse(&state, &req, caller, invalid).await)
        }
        Err(error) => return Err(error),
    };
    caller.admit(&req, &confirmed).await?;

    let page = Page::from_rows(rows, limit, |last| {
        state.cursor_key.encode(&TodoCursor {
            sort,
            filters: digest.clone(),
            value: last.sort_value(sort),
            id: last.id,
        })
    })?;
    Ok(web::Json(TodoListResponse {
        items: page.items.iter().map(TodoResponse::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Checks the caller on `conn` and reads the page: for a session, in the
/// page's own statement where the backend gains by it. Gives the caller,
/// the rows and the filter digest the page's cursor carries.
fn read_page(
    conn: &mut Conn<'_>,
    deferred: &DeferredCaller,
    request: ListRequest,
) -> ApiResult<(Caller, Vec<Todo>, String)> {
    let ListRequest {
        filter,
        sort,
        after,
        limit,
        cursor_filters,
    } = request;
    let position = after.as_ref().map(|(value, id)| (value, *id));
    let (caller, rows) = match deferred.pending_session() {
        Some((session_id, owner)) => {
            check_cursor_filters(cursor_filters.as_deref(), owner, &filter)?;
            let rows =
                todos::list_in_session(conn, (session_id, owner), &filter, sort, position, limit)?
                    .ok_or(ApiError::Unauthorized)?;
            let caller = Caller {
                user_id: owner,
                credential: Credential::Session { session_id },
            };
            (caller, rows)
        }
        None => {
            let caller = deferred.confirm(conn)?;
            let owner = caller.user_id;
            check_cursor_filters(cursor_filters.as_deref(), owner, &filter)?;
            let rows = todos::list(conn, owner, &filter, sort, position, limit)?;
            (caller, rows)
        }
    };
    let digest = list_digest(caller.user_id, &filter);
    Ok((caller, rows, digest))
}

/// The answer to a list request that is invalid: the caller's credential is
/// checked (and a token's request counted) first, so that an ended session
/// or a bad token hears 401, a token without the scope 403 and a token over
/// its limit 429 before anything about the query, as everywhere else.
async fn refuse(
    state: &AppState,
    req: &HttpRequest,
    caller: DeferredCaller,
    invalid: ApiError,
) -> ApiError {
    let deferred = caller.clone();
    let checked = match state.db.read(move |conn| deferred.confirm(conn)).await {
        Ok(confirmed) => caller.admit(req, &confirmed).await,
        Err(error) => Err(error),
    };
    checked.err().unwrap_or(invalid)
}

/// A list request's filter, order, position and page size, and the filter
/// digest its cursor carries (checked against the owner's once the
/// credential has named the owner).
struct ListRequest {
    filter: ListFilter,
    sort: TodoSort,
    after: Option<(SortValue, i64)>,
    limit: i64,
    cursor_filters: Option<String>,
}

fn list_request(state: &AppState, req: &HttpRequest) -> ApiResult<ListRequest> {
    let query: ListTodosQuery = parse_query(req.query_string())?;
    let limit = pagination::limit(query.limit)?;
    let search = match query.q {
        Some(q) if q.chars().count() > MAX_QUERY_CHARS => {
            return Err(ApiError::validation("q", "must be at most 200 characters"));
        }
        Some(q) if q.contains('\0') => {
            return Err(ApiError::validation("q", crate::domain::NUL_REFUSED));
        }
        Some(q) if !q.is_empty() => Some(q.to_lowercase()),
        _ => None,
    };
    let filter = ListFilter {
        completed: query.completed,
        priority: query.priority.map(Priority::rank),
        search,
    };
    let sort = query.sort.unwrap_or_default();
    let (after, cursor_filters) = match &query.cursor {
        None => (None, None),
        Some(raw) => {
            let cursor: TodoCursor = state.cursor_key.decode(raw)?;
            if cursor.sort != sort {
                return Err(cursor_of_another_list());
            }
            (Some((cursor.value, cursor.id)), Some(cursor.filters))
        }
    };
    Ok(ListRequest {
        filter,
        sort,
        after,
        limit,
        cursor_filters,
    })
}

/// A cursor belongs to the owner's list with the same filters.
fn check_cursor_filters(
    cursor_filters: Option<&str>,
    owner: i64,
    filter: &ListFilter,
) -> ApiResult<()> {
    match cursor_filters {
        Some(digest) if digest != list_digest(owner, filter) => Err(cursor_of_another_list()),
        _ => Ok(()),
    }
}

fn cursor_of_another_list() -> ApiError {
    ApiError::validation(
        "cursor",
        "belongs to another sort or filter; start again without it",
    )
}

/// Create a todo.
#[utoipa::path(
    post,
    path = "/api/v1/todos",
    tag = "todos",
    security(("bearer" = []), ("api_token" = ["todos:write"])),
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false, description = "1 to 255 printable ASCII characters, sent as they are: a repeat with the same body within 24 hours answers the first response again instead of creating another todo"),
    ),
    request_body = CreateTodoRequest,
    responses(
        (status = 201, description = "Created; `Location` names it and `ETag` tags its version. A repeat with the same `Idempotency-Key` and body answers the first response again, with `Idempotent-Replayed: true`", body = TodoResponse,
            headers(
                ("Location" = String, description = "`/api/v1/todos/{id}`"),
                ("ETag" = String, description = "Strong entity tag of this version"),
                ("Idempotent-Replayed" = String, description = "`true` on a replayed response"),
            )),
        (status = 400, description = "Body is not valid JSON, or the `Idempotency-Key` is malformed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`quota_exceeded`: the account holds `MAX_TODOS_PER_USER` todos (trash included); or `conflict`: a request with this `Idempotency-Key` is still in flight", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 422, description = "A field breaks a rule, is null, or is not accepted; or `idempotency_key_reused`: the key came with another request", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_todo(
    user: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonWithBytes<CreateTodoRequest>,
) -> ApiResult<HttpResponse> {
    let JsonWithBytes(body, bytes) = body;
    let idempotent = idempotency_of(&req, &bytes)?;
    let CreateTodoRequest {
        title,
        description,
        priority,
        due_date,
        completed,
    } = body;
    let mut errors = Vec::new();
    let title = field(&mut errors, "title", TodoTitle::parse(&title));
    let description = field(
        &mut errors,
        "description",
        TodoDescription::parse(description.unwrap_or_default()),
    );
    let due_date = match due_date {
        Some(raw) => field(&mut errors, "due_date", DueDate::parse(&raw).map(Some)),
        None => Some(None),
    };
    let (Some(title), Some(description), Some(due_date)) = (title, description, due_date) else {
        return Err(ApiError::Validation(errors));
    };
    let input = NewTodoInput {
        title,
        description,
        priority: priority.unwrap_or_default(),
        due_date,
        completed: completed.unwrap_or(false),
    };
    let owner = user.user_id;
    let max_todos = state.settings.max_todos_per_user;
    if idempotent.is_none() && state.db.pool().backend() == Backend::Postgres {
        // Shares a commit with the owner's other creates in flight (see
        // `app::create_queue` for why PostgreSQL only).
        let created = state
            .creates
            .create(state.db.pool(), owner, input, max_todos)
            .await?;
        return Ok(render(stored(StatusCode::CREATED, &created, true)?, false));
    }
    respond_once(&state, owner, idempotent, move |tx| {
        let created = todos::create(tx, owner, input, max_todos)?;
        stored(StatusCode::CREATED, &created, true)
    })
    .await
}

/// Read one of the caller's todos.
#[utoipa::path(
    get,
    path = "/api/v1/todos/{id}",
    tag = "todos",
    security(("bearer" = []), ("api_token" = ["todos:read"])),
    params(
        ("id" = i64, Path, description = "Todo id"),
        ("If-None-Match" = Option<String>, Header, nullable = false, description = "The `ETag` you hold (or `*`): 304 without a body while it is still current"),
    ),
    responses(
        (status = 200, description = "The todo; `ETag` tags its version for `If-Match`", body = TodoResponse,
            headers(("ETag" = String, description = "Strong entity tag of this version"))),
        (status = 304, description = "`If-None-Match` names the current version; no body",
            headers(("ETag" = String, description = "Strong entity tag of this version"))),
        Unauthenticated,
        (status = 404, description = "No such todo of the caller", body = Problem, content_type = "application/problem+json"),
        BadId,
    )
)]
pub async fn get_todo(
    user: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: PathId,
) -> ApiResult<HttpResponse> {
    let (owner, id) = (user.user_id, path.0);
    let found = state
        .db
        .read(move |conn| todos::get(conn, owner, id))
        .await?;
    if not_modified(&req, &found) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, Precondition::etag(&found)))
            .finish());
    }
    Ok(tagged(HttpResponse::Ok(), &found))
}

/// `If-None-Match` names the todo's current version: `*`, or a tag equal
/// by weak comparison (RFC 9110 section 13.1.2). One that does not parse
/// matches nothing, so the full response is sent.
fn not_modified(req: &HttpRequest, todo: &Todo) -> bool {
    if !req.headers().contains_key(header::IF_NONE_MATCH) {
        return false;
    }
    match <IfNoneMatch as header::Header>::parse(req) {
        Ok(IfNoneMatch::Any) => true,
        Ok(IfNoneMatch::Items(tags)) => {
            let current = Precondition::entity_tag(todo);
            tags.iter().any(|tag| tag.weak_eq(&current))
        }
        Err(_) => false,
    }
}

/// Checks a PATCH body into a [`TodoChange`].
fn parse_change(body: UpdateTodoRequest) -> ApiResult<TodoChange> {
    let mut errors = Vec::new();
    let title = body
        .title
        .map(|t| field(&mut errors, "title", TodoTitle::parse(&t)));
    let description = body.description.map(|d| {
        field(&mut errors, "description", TodoDescription::parse(d))
            .map(TodoDescription::into_inner)
    });
    let due_date = body.due_date.map(|d| match d {
        Some(raw) => field(&mut errors, "due_date", DueDate::parse(&raw)).map(Some),
        None => Some(None),
    });
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(TodoChange {
        title: title.flatten(),
        description: description.flatten(),
        priority: body.priority,
        due_date: due_date.flatten(),
        completed: body.completed,
    })
}

/// Change any subset of a todo's fields.
#[utoipa::path(
    patch,
    path = "/api/v1/todos/{id}",
    tag = "todos",
    security(("bearer" = []), ("api_token" = ["todos:write"])),
    params(
        ("id" = i64, Path, description = "Todo id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "Apply only if the todo is still at this version: the `ETag` you read, or `*` for any version"),
    ),
    request_body = UpdateTodoRequest,
    responses(
        (status = 200, description = "The todo after the change (unchanged when nothing differs); `ETag` tags the new version", body = TodoResponse,
            headers(("ETag" = String, description = "Strong entity tag of the new version"))),
        JsonBodyErrors,
        Unauthenticated,
        (status = 404, description = "No such todo of the caller", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version (`precondition_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not an integer, or a field breaks a rule, is wrongly null, or is not accepted", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_todo(
    user: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: PathId,
    body: Json<UpdateTodoRequest>,
) -> ApiResult<HttpResponse> {
    let change = parse_change(body.0)?;
    let precondition = if_match(&req);
    let (owner, id) = (user.user_id, path.0);
    let updated = state
        .db
        .write(move |tx| todos::update(tx, owner, id, change, &precondition))
        .await?;
    Ok(tagged(HttpResponse::Ok(), &updated))
}

/// Move one of the caller's todos to the trash.
#[utoipa::path(
    delete,
    path = "/api/v1/todos/{id}",
    tag = "todos",
    security(("bearer" = []), ("api_token" = ["todos:write"])),
    params(
        ("id" = i64, Path, description = "Todo id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "Delete only if the todo is still at this version: the `ETag` you read, or `*`"),
    ),
    responses(
        (status = 204, description = "Moved to the trash (restorable for `TRASH_RETENTION_DAYS`)"),
        Unauthenticated,
        (status = 404, description = "No such todo of the caller", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version (`precondition_failed`)", body = Problem, content_type = "application/problem+json"),
        BadId,
    )
)]
pub async fn delete_todo(
    user: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: PathId,
) -> ApiResult<HttpResponse> {
    let precondition = if_match(&req);
    let (owner, id) = (user.user_id, path.0);
    state
        .db
        .write(move |tx| todos::delete(tx, owner, id, &precondition))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Move all of the caller's completed todos to the trash.
#[utoipa::path(
    delete,
    path = "/api/v1/todos",
    tag = "todos",
    security(("bearer" = []), ("api_token" = ["todos:write"])),
    params(ClearCompletedQuery),
    responses(
        (status = 200, description = "How many completed todos moved to the trash, and their ids", body = ClearCompletedResponse),
        Unauthenticated,
        (status = 422, description = "`completed=true` is missing or false, or another parameter was sent", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn clear_completed_todos(
    user: Caller,
    state: web::Data<AppState>,
    query: Query<ClearCompletedQuery>,
) -> ApiResult<web::Json<ClearCompletedResponse>> {
    if !query.0.completed {
        return Err(ApiError::validation(
            "completed",
            "must be `true`: only completed todos can be deleted together",
        ));
    }
    let owner = user.user_id;
    let ids = state
        .db
        .write(move |tx| todos::clear_completed(tx, owner))
        .await?;
    Ok(web::Json(ClearCompletedResponse {
        deleted: i64::try_from(ids.len()).unwrap_or(i64::MAX),
        ids,
    }))
}

/// List the caller's trash, most recently deleted first.
#[utoipa::path(
    get,
    path = "/api/v1/todos/trash",
    tag = "todos",
    security(("bearer" = []), ("api_token" = ["todos:read"])),
    params(TrashQuery),
    responses(
        (status = 200, description = "A page of the caller's trashed todos, each with `deleted_at`", body = TrashListResponse),
        Unauthenticated,
        (status = 422, description = "An invalid or unknown parameter, or an unreadable cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_trash(
    user: Caller,
    state: web::Data<AppState>,
    query: Query<TrashQuery>,
) -> ApiResult<web::Json<TrashListResponse>> {
    let limit = pagination::limit(query.0.limit)?;
    let owner = user.user_id;
    let digest = pagination::filter_digest("todos.trash", &owner);
    let after = match &query.0.cursor {
        None => None,
        Some(raw) => {
            let cursor: TrashCursor = state.cursor_key.decode(raw)?;
            if cursor.f != digest {
                return Err(ApiError::validation(
                    "cursor",
                    "was issued for another list; start again without it",
                ));
            }
            Some((cursor.t, cursor.id))
        }
    };
    let rows = state
        .db
        .read(move |conn| todos::trash(conn, owner, after, limit))
        .await?;
    let page = Page::from_rows(rows, limit, |last| {
        state.cursor_key.encode(&TrashCursor {
            f: digest.clone(),
            t: last.deleted_at.unwrap_or_default(),
            id: last.id,
        })
    })?;
    Ok(web::Json(TrashListResponse {
        items: page
            .items
            .iter()
            .map(|todo| TrashedTodoResponse {
                todo: TodoResponse::from(todo),
                deleted_at: todo.deleted_at.unwrap_or_default().and_utc(),
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Bring a todo back from the trash, unchanged.
#[utoipa::path(
    post,
    path = "/api/v1/todos/{id}/restore",
    tag = "todos",
    security(("bearer" = []), ("api_token" = ["todos:write"])),
    params(
        ("id" = i64, Path, description = "Todo id"),
        ("Idempotency-Key" = Option<String>, Header, nullable = false, description = "1 to 255 printable ASCII characters: a repeat within 24 hours answers the first response again"),
    ),
    responses(
        (status = 200, description = "The todo, back in the list exactly as it was (same `ETag`)", body = TodoResponse,
            headers(
                ("ETag" = String, description = "Strong entity tag of this version"),
                ("Idempotent-Replayed" = String, description = "`true` on a replayed response"),
            )),
        (status = 400, description = "The `Idempotency-Key` is malformed", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 404, description = "No such todo in the caller's trash", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A request with this `Idempotency-Key` is still in flight (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not an integer, or `idempotency_key_reused`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn restore_todo(
    user: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: PathId,
    body: RawBody,
) -> ApiResult<HttpResponse> {
    let idempotent = idempotency_of(&req, &body.0)?;
    let (owner, id) = (user.user_id, path.0);
    respond_once(&state, owner, idempotent, move |tx| {
        let restored = todos::restore(tx, owner, id)?;
        stored(StatusCode::OK, &restored, false)
    })
    .await
}

/// Empty the caller's trash for good.
#[utoipa::path(
    delete,
    path = "/api/v1/todos/trash",
    tag = "todos",
    security(("bearer" = []), ("api_token" = ["todos:write"])),
    responses(
        (status = 200, description = "How many trashed todos were purged", body = EmptyTrashResponse),
        Unauthenticated,
    )
)]
pub async fn empty_trash(
    user: Caller,
    state: web::Data<AppState>,
) -> ApiResult<web::Json<EmptyTrashResponse>> {
    let owner = user.user_id;
    let deleted = state
        .db
        .write(move |tx| Ok(todos::purge(tx, owner, None)?))
        .await?;
    Ok(web::Json(EmptyTrashResponse {
        deleted: i64::try_from(deleted).unwrap_or(i64::MAX),
    }))
}

/// Delta sync: what changed since a sync token.
#[utoipa::path(
    get,
    path = "/api/v1/todos/changes",
    tag = "todos",
    security(("bearer" = []), ("api_token" = ["todos:read"])),
    params(ChangesQuery),
    responses(
        (status = 200, description = "The changes since `since` (every live todo without it); call again with `sync_token` while `has_more`", body = ChangesResponse),
        (status = 410, description = "`sync_expired`: the token is older than the change history kept; sync again without `since`", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 422, description = "An invalid or unknown parameter, or a `since` that is unreadable or not the caller's", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_changes(
    user: Caller,
    state: web::Data<AppState>,
    query: Query<ChangesQuery>,
) -> ApiResult<web::Json<ChangesResponse>> {
    let limit = match query.0.limit {
        None => sync::DEFAULT_LIMIT,
        Some(n) if (1..=sync::MAX_LIMIT).contains(&n) => n,
        Some(_) => return Err(ApiError::validation("limit", "must be between 1 and 500")),
    };
    let owner = user.user_id;
    let since = match &query.0.since {
        None => None,
        Some(raw) => {
            let unreadable =
                || ApiError::validation("since", "is not a sync token this server issued to you");
            let token: SyncToken = state.cursor_key.decode(raw).map_err(|_| unreadable())?;
            if token.u != owner {
                return Err(unreadable());
            }
            Some(SyncPosition {
                seq: token.s,
                id: token.i,
                base: token.b,
            })
        }
    };
    let changes = state
        .db
        .read(move |conn| sync::changes(conn, owner, since, limit))
        .await?;
    let sync_token = state.cursor_key.encode(&SyncToken {
        k: TokenKind::Sync,
        u: owner,
        s: changes.next.seq,
        i: changes.next.id,
        b: changes.next.base,
    })?;
    Ok(web::Json(ChangesResponse {
        items: changes.items.iter().map(TodoResponse::from).collect(),
        deleted_ids: changes.deleted_ids,
        sync_token,
        has_more: changes.has_more,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TITLE_PATTERN;
    use crate::openapi::ApiDoc;
    use utoipa::OpenApi;

    #[test]
    fn the_documented_title_pattern_is_the_domain_rule() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        for schema in ["CreateTodoRequest", "UpdateTodoRequest"] {
            let pattern = &doc["components"]["schemas"][schema]["properties"]["title"]["pattern"];
            assert_eq!(pattern, TITLE_PATTERN, "{schema}");
        }
    }

    #[test]
    fn filter_digests_differ_per_owner_and_filter() {
        let base = ListFilter::default();
        let searched = ListFilter {
            search: Some("x".into()),
            ..ListFilter::default()
        };
        assert_eq!(list_digest(1, &base), list_digest(1, &base));
        assert_ne!(list_digest(1, &base), list_digest(2, &base));
        assert_ne!(list_digest(1, &base), list_digest(1, &searched));
    }
}
