//! Keyset pagination benchmark (not a test): seeds one account with 100,000
//! todos (and a neighbour with 50,000) straight into SQLite, starts the
//! server, and times page 1 against page 50 and a page near the end of
//! every sort order, over HTTP.
//!
//! Run it against a release build:
//!
//! ```text
//! cargo run --release --example pagination_bench [-- TODOS [REPEATS]]
//! ```
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::{json, Value};

use securetodo::config::Settings;
use securetodo::db::models::todo::NewTodo;
use securetodo::db::schema::todos;
use securetodo::startup::Application;

const PAGE: usize = 20;
const BATCH: usize = 2_000;

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn page(&self, params: &[(&str, &str)]) -> Value {
        let response = self
            .http
            .get(format!("{}/api/v1/todos", self.base))
            .bearer_auth(&self.token)
            .query(params)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{params:?}");
        response.json().await.unwrap()
    }

    /// The cursor that starts after `rows` rows of `params`' order.
    async fn cursor_after(&self, params: &[(&str, &str)], rows: usize) -> String {
        let mut cursor: Option<String> = None;
        let mut skipped = 0;
        while skipped < rows {
            let step = (rows - skipped).min(100).to_string();
            let mut query = params.to_vec();
            query.push(("limit", &step));
            if let Some(c) = &cursor {
                query.push(("cursor", c));
            }
            let page = self.page(&query).await;
            skipped += page["items"].as_array().unwrap().len();
            cursor = Some(page["next_cursor"].as_str().unwrap().to_owned());
        }
        cursor.unwrap()
    }

    /// Median and 95th percentile of fetching one page, in milliseconds.
    async fn time(
        &self,
        params: &[(&str, &str)],
        cursor: Option<&str>,
        repeats: usize,
    ) -> (f64, f64) {
        let limit = PAGE.to_string();
        let mut query = params.to_vec();
        query.push(("limit", &limit));
        if let Some(c) = cursor {
            query.push(("cursor", c));
        }
        let mut samples: Vec<Duration> = Vec::with_capacity(repeats);
        for _ in 0..repeats {
            let start = Instant::now();
            let page = self.page(&query).await;
            samples.push(start.elapsed());
            assert_eq!(page["items"].as_array().unwrap().len(), PAGE);
        }
        samples.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        (ms(samples[repeats / 2]), ms(samples[repeats * 95 / 100]))
    }
}

/// Inserts `count` todos for `owner` in one transaction, in batches.
fn seed(conn: &mut SqliteConnection, owner: i64, count: usize) {
    let base = NaiveDate::from_ymd_opt(2025, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let words = [
        "milk", "report", "call", "invoice", "garden", "Review", "Ärger", "plan",
    ];
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        for start in (0..count).step_by(BATCH) {
            let rows: Vec<(String, String, String, NaiveDateTime, Option<NaiveDate>)> = (start
                ..(start + BATCH).min(count))
                .map(|i| {
                    let title = format!("{} {} #{}", words[i % words.len()], i % 997, i);
                    let sort = title.to_lowercase();
                    let description = format!("Seeded todo {i}: {}", words[(i / 7) % words.len()]);
                    // Every tenth todo shares its creation instant with the
                    // one before it, so ties are exercised too.
                    let tick = if i % 10 == 9 { i - 1 } else { i };
                    let created = base + chrono::Duration::seconds(tick as i64 * 30);
                    let due = (i % 3 != 0)
                        .then(|| base.date() + chrono::Duration::days((i % 730) as i64));
                    (title, sort, description, created, due)
                })
                .collect();
            let batch: Vec<NewTodo<'_>> = rows
                .iter()
                .enumerate()
                .map(|(n, (title, sort, description, created, due))| {
                    let i = start + n;
                    NewTodo {
                        user_id: owner,
                        title,
                        title_sort: sort,
                        description,
                        completed: i % 4 == 0,
                        priority: (i % 3) as i32,
                        due_date: *due,
                        created_at: *created,
                        updated_at: *created,
                        completed_at: (i % 4 == 0).then_some(*created),
                        change_seq: i as i64 + 1,
                    }
                })
                .collect();
            diesel::insert_into(todos::table)
                .values(&batch)
                .execute(conn)?;
        }
        Ok(())
    })
    .unwrap();
}

async fn sign_up(http: &reqwest::Client, base: &str, email: &str) -> (i64, String) {
    let credentials = json!({"email": email, "password": "Velvet-Harbor-Compass-58"});
    let registered = http
        .post(format!("{base}/api/v1/auth/register"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let pair: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&credentials)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        pair["user"]["id"].as_i64().unwrap(),
        pair["access_token"].as_str().unwrap().to_owned(),
    )
}

#[actix_web::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let total: usize = args.get(1).map_or(100_000, |a| a.parse().unwrap());
    let repeats: usize = args.get(2).map_or(200, |a| a.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("bench.db");
    let vars: HashMap<&str, String> = [
        ("HOST", "127.0.0.1".to_owned()),
        ("PORT", "0".to_owned()),
        ("DATABASE_URL", format!("sqlite://{}", db_path.display())),
        (
            "JWT_SECRET",
            "bench-secret-0123456789abcdef0123456789".to_owned(),
        ),
        ("BCRYPT_COST", "4".to_owned()),
        ("AUTH_RATE_LIMIT_PER_MINUTE", "1000".to_owned()),
        ("FRONTEND_DIR", String::new()),
    ]
    .into_iter()
    .collect();
    let settings = Settings::from_lookup(|k| vars.get(k).cloned()).unwrap();
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());

    let http = reqwest::Client::new();
    let (owner, token) = sign_up(&http, &base, "bench@example.com").await;
    let (neighbour, _) = sign_up(&http, &base, "neighbour@example.com").await;

    let started = Instant::now();
    let mut conn = SqliteConnection::establish(db_path.to_str().unwrap()).unwrap();
    conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;")
        .unwrap();
    seed(&mut conn, owner, total);
    seed(&mut conn, neighbour, total / 2);
    println!(
        "seeded {total} todos for the account (and {} for a neighbour) in {:.1} s",
        total / 2,
        started.elapsed().as_secs_f64()
    );

    let client = Client { http, base, token };
    let deep_rows = total - total / 20;
    println!(
        "limit={PAGE}, {repeats} requests per cell, median / p95 in ms (HTTP round trip incl. auth)"
    );
    println!(
        "{:<34} {:>15} {:>15} {:>17}",
        "query",
        "page 1",
        "page 50",
        format!("row {deep_rows}+")
    );
    let queries: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("sort=-created_at (default)", vec![]),
        ("sort=created_at", vec![("sort", "created_at")]),
        ("sort=due_date", vec![("sort", "due_date")]),
        ("sort=-due_date", vec![("sort", "-due_date")]),
        ("sort=priority", vec![("sort", "priority")]),
        ("sort=-priority", vec![("sort", "-priority")]),
        ("sort=title", vec![("sort", "title")]),
        ("sort=-title", vec![("sort", "-title")]),
        ("completed=false", vec![("completed", "false")]),
        (
            "priority=high&sort=due_date",
            vec![("priority", "high"), ("sort", "due_date")],
        ),
        (
            "q=report&sort=title",
            vec![("q", "report"), ("sort", "title")],
        ),
    ];
    for (name, params) in queries {
        // Warm the page cache for this order first.
        client.time(&params, None, 5).await;
        let first = client.time(&params, None, repeats).await;
        let page50 = client.cursor_after(&params, 49 * PAGE).await;
        let fiftieth = client.time(&params, Some(&page50), repeats).await;
        let deep = match params.first() {
            // A search matches a fraction of the rows; skip its deep page.
            Some(("q", _)) | Some(("priority", _)) | Some(("completed", _)) => None,
            _ => {
                let cursor = client.cursor_after(&params, deep_rows).await;
                Some(client.time(&params, Some(&cursor), repeats).await)
            }
        };
        let cell = |(median, p95): (f64, f64)| format!("{median:.2} / {p95:.2}");
        println!(
            "{:<34} {:>15} {:>15} {:>17}",
            name,
            cell(first),
            cell(fiftieth),
            deep.map_or("-".to_owned(), cell)
        );
    }
    handle.stop(true).await;
}
