//! Prometheus metrics: one recorder per `Application`, rendered on the
//! `METRICS_ADDR` listener only.
//!
//! The recorder is not installed as the process-global `metrics` recorder:
//! each `Application` owns its own, so two servers in one process (the API
//! tests) never count each other's requests. Request-path code reaches it
//! through the request context (`crate::metrics::login`) or the middleware;
//! the gauges (pool, hash queue, process) are read when Prometheus scrapes.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use metrics::{Key, KeyName, Label, Level, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::request_context;

pub const HTTP_REQUESTS_TOTAL: &str = "http_requests_total";
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "http_request_duration_seconds";
pub const LOGINS_TOTAL: &str = "securetodo_logins_total";
pub const DB_POOL_CONNECTIONS: &str = "securetodo_db_pool_connections";
pub const DB_POOL_MAX_CONNECTIONS: &str = "securetodo_db_pool_max_connections";
pub const PASSWORD_HASH_QUEUE_DEPTH: &str = "securetodo_password_hash_queue_depth";
pub const BUILD_INFO: &str = "securetodo_build_info";

/// The route label of a request that matched no route (unknown paths, and
/// the static files and SPA pages under `/`): a fixed value, so that probing
/// random paths cannot create new series.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Upper bounds (seconds) of the latency buckets: from a cached page read
/// (about a millisecond) to a bcrypt login at cost 12 (about 0.25 s) and
/// requests queueing behind it.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

/// The application's metrics: the recorder and the handle that renders it.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(HTTP_REQUEST_DURATION_SECONDS.to_owned()),
                LATENCY_BUCKETS,
            )?
            .build_recorder();
        let handle = recorder.handle();
        let metrics = Self { recorder, handle };
        metrics.describe();
        metrics
            .gauge(Key::from_parts(
                BUILD_INFO,
                vec![Label::new("version", env!("CARGO_PKG_VERSION"))],
            ))
            .set(1.0);
        Ok(metrics)
    }

    fn describe(&self) {
        let counters = [
            (
                HTTP_REQUESTS_TOTAL,
                "HTTP requests answered, by method, route template and status.",
            ),
            (
                LOGINS_TOTAL,
                "Password logins by result (success, failure, ...).",
            ),
        ];
        for (name, help) in counters {
            self.recorder.describe_counter(
                KeyName::from_const_str(name),
                Some(Unit::Count),
                SharedString::const_str(help),
            );
        }
        self.recorder.describe_histogram(
            KeyName::from_const_str(HTTP_REQUEST_DURATION_SECONDS),
            Some(Unit::Seconds),
            SharedString::const_str(
                "Time from receiving a request to sending its response head, \
                 by method, route template and status.",
            ),
        );
        let gauges = [
            (
                DB_POOL_CONNECTIONS,
                "Database pool connections by state (idle, in_use).",
            ),
            (
                DB_POOL_MAX_CONNECTIONS,
                "Largest number of connections the database pool opens.",
            ),
            (
                PASSWORD_HASH_QUEUE_DEPTH,
                "Password hashes and verifications waiting or running.",
            ),
            (BUILD_INFO, "Always 1; the version is in the label."),
        ];
        for (name, help) in gauges {
            self.recorder.describe_gauge(
                KeyName::from_const_str(name),
                None,
                SharedString::const_str(help),
            );
        }
    }

    fn gauge(&self, key: Key) -> metrics::Gauge {
        self.recorder.register_gauge(&key, &METADATA)
    }

    /// Counts one answered request and its latency. `route` is the matched
    /// route template (`/api/v1/todos/{id}`), never the raw path.
    pub fn observe_request(
        &self,
        method: &Method,
        route: Option<String>,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let route = match route {
            Some(route) if !route.is_empty() => SharedString::from(route),
            _ => SharedString::const_str(UNMATCHED_ROUTE),
        };
        let labels = vec![
            Label::from_static_parts("method", method_label(method)),
            Label::new("route", route),
            Label::new("status", SharedString::from(status.as_u16().to_string())),
        ];
        let histogram = Key::from_parts(HTTP_REQUEST_DURATION_SECONDS, labels.clone());
        let counter = Key::from_parts(HTTP_REQUESTS_TOTAL, labels);
        self.recorder
            .register_counter(&counter, &METADATA)
            .increment(1);
        self.recorder
            .register_histogram(&histogram, &METADATA)
            .record(elapsed.as_secs_f64());
    }

    /// Counts one login attempt by its result.
    pub fn login(&self, result: &'static str) {
        let key = Key::from_parts(
            LOGINS_TOTAL,
            vec![Label::from_static_parts("result", result)],
        );
        self.recorder.register_counter(&key, &METADATA).increment(1);
    }

    /// Sets the gauges that are read rather than counted, then renders every
    /// series in the Prometheus text format (0.0.4), process series included.
    pub fn render(&self, gauges: &Gauges) -> String {
        let pool = [("idle", gauges.pool_idle), ("in_use", gauges.pool_in_use)];
        for (state, value) in pool {
            self.gauge(Key::from_parts(
                DB_POOL_CONNECTIONS,
                vec![Label::from_static_parts("state", state)],
            ))
            .set(f64::from(value));
        }
        self.gauge(Key::from_name(DB_POOL_MAX_CONNECTIONS))
            .set(f64::from(gauges.pool_max));
        self.gauge(Key::from_name(PASSWORD_HASH_QUEUE_DEPTH))
            .set(gauges.hash_queue as f64);
        let mut text = self.handle.render();
        if let Some(process) = ProcessStats::read() {
            process.render_into(&mut text);
        }
        text
    }

    /// Folds recorded histogram samples into their buckets. Without it, a
    /// server nobody scrapes would keep every latency sample in memory.
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// `GET /metrics` on the metrics listener.
pub async fn scrape(
    state: actix_web::web::Data<crate::state::AppState>,
    metrics: actix_web::web::Data<Metrics>,
) -> actix_web::HttpResponse {
    let pool = state.db.pool().state();
    let gauges = Gauges {
        pool_idle: pool.idle_connections,
        pool_in_use: pool.connections.saturating_sub(pool.idle_connections),
        pool_max: state.db.pool().max_size(),
        hash_queue: state.hasher.queue_depth(),
    };
    actix_web::HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render(&gauges))
}

/// The values the scrape reads from the application.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    pub pool_idle: u32,
    pub pool_in_use: u32,
    pub pool_max: u32,
    pub hash_queue: usize,
}

/// A bounded label for the method: the standard methods by name, anything
/// else as `other`, so odd methods cannot create new series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts a login attempt on the current request's metrics, if any.
/// `result`: `success`, `failure` (any refused attempt) or another fixed word.
pub fn login(result: &'static str) {
    request_context::with_current(|context| {
        if let Some(metrics) = &context.metrics {
            metrics.login(result);
        }
    });
}

/// How many callers are waiting for or holding a password-hash slot.
#[derive(Debug, Clone, Default)]
pub struct QueueDepth(Arc<AtomicUsize>);

impl QueueDepth {
    /// Counts the caller in until the guard drops (also when its future is
    /// cancelled while waiting).
    pub fn enter(&self) -> QueueGuard {
        self.0.fetch_add(1, Ordering::Relaxed);
        QueueGuard(Arc::clone(&self.0))
    }

    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
pub struct QueueGuard(Arc<AtomicUsize>);

impl Drop for QueueGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// CPU time and memory of this process, from `/proc` (Linux only).
#[derive(Debug, Clone, Copy, PartialEq)]
struct ProcessStats {
    cpu_seconds: f64,
    resident_bytes: u64,
    threads: u64,
    open_fds: Option<u64>,
}

/// Clock ticks per second in `/proc/*/stat` (`USER_HZ`): 100 on every
/// Linux architecture this builds for.
const USER_HZ: f64 = 100.0;

impl ProcessStats {
    fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|entries| entries.count() as u64);
        let mut stats = Self::parse(&stat, &status)?;
        stats.open_fds = open_fds;
        Some(stats)
    }

    /// Parses `/proc/self/stat` (utime, stime, num_threads) and
    /// `/proc/self/status` (VmRSS).
    fn parse(stat: &str, status: &str) -> Option<Self> {
        // The command name (field 2) may contain spaces and parentheses;
        // the fields after its closing parenthesis start at field 3.
        let after_name = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
        let ticks = field(14)? + field(15)?;
        let threads = field(20)?;
        let rss_kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(Self {
            cpu_seconds: ticks as f64 / USER_HZ,
            resident_bytes: rss_kib * 1024,
            threads,
            open_fds: None,
        })
    }

    /// The standard process series, formatted here because the exporter's
    /// counters hold whole numbers and CPU seconds are fractional. Fixed
    /// names, no labels: nothing to escape.
    fn render_into(&self, text: &mut String) {
        let mut series = vec![
            (
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
                self.cpu_seconds,
            ),
            (
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                self.resident_bytes as f64,
            ),
            (
                "process_threads",
                "gauge",
                "Number of OS threads in the process.",
                self.threads as f64,
            ),
        ];
        if let Some(fds) = self.open_fds {
            series.push((
                "process_open_fds",
                "gauge",
                "Number of open file descriptors.",
                fds as f64,
            ));
        }
        for (name, kind, help, value) in series {
            let _ = write!(
                text,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n\n"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_method_route_template_and_status() {
        let metrics = Metrics::new().unwrap();
        for _ in 0..3 {
            metrics.observe_request(
                &Method::GET,
                Some("/api/v1/todos/{id}".to_owned()),
                StatusCode::OK,
                Duration::from_millis(3),
            );
        }
        metrics.observe_request(
            &Method::from_bytes(b"BREW").unwrap(),
            None,
            StatusCode::NOT_FOUND,
            Duration::from_millis(1),
        );
        metrics.login("success");
        metrics.login("failure");
        metrics.login("failure");
        let text = metrics.render(&Gauges {
            pool_idle: 3,
            pool_in_use: 1,
            pool_max: 4,
            hash_queue: 2,
        });
        for expected in [
            r#"http_requests_total{method="GET",route="/api/v1/todos/{id}",status="200"} 3"#,
            r#"http_requests_total{method="other",route="unmatched",status="404"} 1"#,
            r#"http_request_duration_seconds_bucket{method="GET",route="/api/v1/todos/{id}",status="200",le="0.005"} 3"#,
            r#"http_request_duration_seconds_count{method="GET",route="/api/v1/todos/{id}",status="200"} 3"#,
            r#"securetodo_logins_total{result="success"} 1"#,
            r#"securetodo_logins_total{result="failure"} 2"#,
            r#"securetodo_db_pool_connections{state="idle"} 3"#,
            r#"securetodo_db_pool_connections{state="in_use"} 1"#,
            "securetodo_db_pool_max_connections 4",
            "securetodo_password_hash_queue_depth 2",
            concat!(
                r#"securetodo_build_info{version=""#,
                env!("CARGO_PKG_VERSION"),
                r#""} 1"#
            ),
            "# TYPE http_request_duration_seconds histogram",
            "# TYPE http_requests_total counter",
        ] {
            assert!(text.contains(expected), "{expected} missing from\n{text}");
        }
    }

    #[test]
    fn upkeep_keeps_what_was_recorded() {
        let metrics = Metrics::new().unwrap();
        metrics.observe_request(
            &Method::POST,
            Some("/api/v1/todos".to_owned()),
            StatusCode::CREATED,
            Duration::from_millis(20),
        );
        metrics.run_upkeep();
        let text = metrics.render(&Gauges::default());
        assert!(text.contains(
            r#"http_request_duration_seconds_count{method="POST",route="/api/v1/todos",status="201"} 1"#
        ));
    }

    #[test]
    fn login_hook_counts_only_inside_a_request_with_metrics() {
        // Outside any request: a no-op, never a panic.
        login("success");
        let metrics = Arc::new(Metrics::new().unwrap());
        let context = request_context::RequestContext {
            id: request_context::RequestId::generate(),
            metrics: Some(Arc::clone(&metrics)),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(request_context::scope(context, async { login("success") }));
        let text = metrics.render(&Gauges::default());
        assert!(
            text.contains(r#"securetodo_logins_total{result="success"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn queue_depth_counts_holders_until_they_drop() {
        let depth = QueueDepth::default();
        let a = depth.enter();
        let b = depth.enter();
        assert_eq!(depth.get(), 2);
        drop(a);
        assert_eq!(depth.get(), 1);
        drop(b);
        assert_eq!(depth.get(), 0);
    }

    #[test]
    fn process_stats_parse_proc_files() {
        let stat = "4242 (secure todo) (x)) S 1 4242 4242 0 -1 4194560 1200 0 0 0 \
                    250 75 0 0 20 0 7 0 123456 31000000 2500 18446744073709551615";
        let status = "Name:\tsecuretodo\nVmPeak:\t  30000 kB\nVmRSS:\t   10240 kB\nThreads:\t7\n";
        let stats = ProcessStats::parse(stat, status).unwrap();
        assert_eq!(
            stats,
            ProcessStats {
                cpu_seconds: 3.25,
                resident_bytes: 10_485_760,
                threads: 7,
                open_fds: None,
            }
        );
        assert!(ProcessStats::parse("garbage", status).is_none());
        assert!(ProcessStats::parse(stat, "Name:\tx\n").is_none());
        let mut text = String::new();
        stats.render_into(&mut text);
        assert!(text.contains(
            "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 3.25\n"
        ));
        assert!(text.contains("process_resident_memory_bytes 10485760\n"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_cpu_time_and_resident_memory() {
        let stats = ProcessStats::read().unwrap();
        assert!(stats.resident_bytes > 0 && stats.threads > 0);
        assert!(stats.open_fds.unwrap_or(0) > 0);
    }
}
