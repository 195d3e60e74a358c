//! The `securetodo` binary: configuration refusal, migrate, create-admin,
//! openapi, serve with graceful shutdown.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::helpers::{spawn_app_with, TEST_JWT_SECRET};

pub fn securetodo(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_securetodo"));
    cmd.current_dir(dir).env_clear();
    // Keep what coverage instrumentation needs to record this process.
    for (key, value) in std::env::vars() {
        if key.starts_with("LLVM_PROFILE") || key.starts_with("CARGO_LLVM_COV") || key == "PATH" {
            cmd.env(key, value);
        }
    }
    cmd.env("RUST_LOG", "info").env("BCRYPT_COST", "4").env(
        "DATABASE_URL",
        format!("sqlite://{}/data/cli.db", dir.display()),
    );
    cmd
}

/// Runs `cmd`, which must succeed: its stdout and stderr.
pub fn succeeds(cmd: &mut Command) -> (String, String) {
    let output = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    (String::from_utf8_lossy(&output.stdout).into_owned(), stderr)
}

/// Runs `cmd`, which must fail: its stderr.
pub fn fails(cmd: &mut Command) -> String {
    let output = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{stderr}");
    stderr
}

/// `securetodo` serving on a free port without the SPA, its log piped.
pub fn serving(dir: &std::path::Path) -> Command {
    let mut cmd = securetodo(dir);
    cmd.env("PORT", "0")
        .env("FRONTEND_DIR", "")
        .stderr(Stdio::piped());
    cmd
}

#[test]
fn production_refuses_to_start_without_a_strong_secret_and_never_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let example = securetodo::config::ENV_EXAMPLE_JWT_SECRET;
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[], "JWT_SECRET"),
        (&[("JWT_SECRET", "too-short-secret-value")], "JWT_SECRET"),
        (&[("JWT_SECRET", example)], "JWT_SECRET"),
        (
            &[("JWT_SECRET", TEST_JWT_SECRET), ("BCRYPT_COST", "9")],
            "BCRYPT_COST",
        ),
        (
            &[("JWT_SECRET", TEST_JWT_SECRET), ("BCRYPT_COST", "10")],
            "MFA_ENCRYPTION_KEY",
        ),
        (
            &[
                ("JWT_SECRET", TEST_JWT_SECRET),
                ("BCRYPT_COST", "10"),
                ("MFA_ENCRYPTION_KEY", "too-short-to-be-32-bytes"),
            ],
            "MFA_ENCRYPTION_KEY",
        ),
    ];
    for (vars, variable) in cases {
        let mut cmd = securetodo(dir.path());
        cmd.env("APP_ENV", "production").env("PORT", "0");
        for (k, v) in *vars {
            cmd.env(k, v);
        }
        let output = cmd.arg("serve").output().unwrap();
        assert!(!output.status.success(), "started with {vars:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stderr.contains(variable), "{stderr}");
        for (k, v) in *vars {
            if *k == "JWT_SECRET" || *k == "MFA_ENCRYPTION_KEY" {
                assert!(
                    !stderr.contains(v) && !stdout.contains(v),
                    "secret printed: {stderr}"
                );
            }
        }
    }
}

#[test]
fn migrate_creates_the_database_and_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    succeeds(securetodo(dir.path()).arg("migrate"));
    assert!(dir.path().join("data/cli.db").is_file());
    // Running it again is a no-op.
    succeeds(securetodo(dir.path()).arg("migrate"));
}

#[test]
fn serve_without_migrate_on_start_refuses_pending_migrations_and_names_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = fails(
        securetodo(dir.path())
            .arg("serve")
            .env("MIGRATE_ON_START", "false")
            .env("PORT", "0"),
    );
    assert!(stderr.contains("securetodo migrate"), "{stderr}");
    assert!(stderr.contains("MIGRATE_ON_START"), "{stderr}");
    // After the one-shot migration it starts (and is stopped by the test).
    succeeds(securetodo(dir.path()).arg("migrate"));
    let mut serve = securetodo(dir.path())
        .arg("serve")
        .env("MIGRATE_ON_START", "false")
        .env("PORT", "0")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(serve.stderr.take().unwrap()).lines();
    let started = lines
        .by_ref()
        .take(50)
        .map_while(Result::ok)
        .any(|line| line.contains("listening") || line.contains("starting"));
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(started, "serve did not start after `securetodo migrate`");
}

#[test]
fn openapi_prints_exactly_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let output = securetodo(dir.path()).arg("openapi").output().unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    assert_eq!(printed, securetodo::openapi::document_json().unwrap());
    let doc: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
}

#[test]
fn openapi_into_a_closed_pipe_exits_quietly_and_successfully() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = securetodo(dir.path())
        .arg("openapi")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away unread, as `head` does after its lines. The
    // document is larger than a pipe buffer (64 KiB), so the command hits the
    // closed pipe whether it started writing before this or not.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert!(securetodo::openapi::document_json().unwrap().len() > 65_536);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}: {stderr}",
        output.status
    );
    assert!(!stderr.contains("ERROR"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}

#[test]
fn unknown_subcommands_and_bad_env_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    fails(securetodo(dir.path()).arg("frobnicate"));
    let stderr = fails(
        securetodo(dir.path())
            .env("PORT", "not-a-port")
            .arg("serve"),
    );
    assert!(stderr.contains("PORT"), "{stderr}");
    // A malformed .env is reported, not ignored.
    std::fs::write(dir.path().join(".env"), "THIS IS NOT VALID\n'").unwrap();
    let stderr = fails(securetodo(dir.path()).arg("migrate"));
    assert!(stderr.contains(".env"), "{stderr}");
}

#[test]
fn dotenv_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "DATABASE_URL=sqlite://from-dotenv/x.db\n",
    )
    .unwrap();
    succeeds(
        securetodo(dir.path())
            .env_remove("DATABASE_URL")
            .arg("migrate"),
    );
    assert!(dir.path().join("from-dotenv/x.db").is_file());
}

#[actix_web::test]
async fn create_admin_reads_the_password_from_env_or_stdin_and_promotes() {
    let dir = tempfile::tempdir().unwrap();
    let password = "Sturdy-Admin-Passphrase-81";

    let (_, logs) = succeeds(
        securetodo(dir.path())
            .args(["create-admin", "--email", " Root@Example.COM "])
            .env("SECURETODO_ADMIN_PASSWORD", password),
    );
    assert!(
        logs.contains("root@example.com") && !logs.contains(password),
        "{logs}"
    );

    // From standard input.
    let mut child = securetodo(dir.path())
        .args(["create-admin", "--email", "second@example.com"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Another-Admin-Passphrase-92\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The same rules as registration.
    for (email, pw) in [
        ("not-an-email", password),
        ("third@example.com", "password123"),
        ("third@example.com", "short"),
    ] {
        let stderr = fails(
            securetodo(dir.path())
                .args(["create-admin", "--email", email])
                .env("SECURETODO_ADMIN_PASSWORD", pw),
        );
        assert!(!stderr.contains(pw) || pw == "short", "{email} / {pw}");
    }

    // Log in through the API as the new admin.
    let db = format!("sqlite://{}/data/cli.db", dir.path().display());
    let app = spawn_app_with(&[("DATABASE_URL", db.as_str())]).await;
    let pair = app.login("ROOT@example.com", password).await;
    assert_eq!(pair["user"]["role"], "admin");
}

/// Abuse case 4: `create-admin` promoted an account someone else had
/// registered first, kept that person's password and sessions, and
/// ignored the password it was given.
#[actix_web::test]
async fn create_admin_refuses_an_existing_account_unless_told_to_promote_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/data/cli.db", dir.path().display());
    let app = spawn_app_with(&[("DATABASE_URL", db.as_str())]).await;
    // An attacker registers the address the operator is about to use.
    let squatter_password = "Squatter-Passphrase-33";
    app.register("boss@example.com", squatter_password).await;
    let squatter = app.login("boss@example.com", squatter_password).await;
    let squatter_token = squatter["access_token"].as_str().unwrap().to_owned();

    let stderr = fails(
        securetodo(dir.path())
            .args(["create-admin", "--email", "BOSS@example.com"])
            .env("SECURETODO_ADMIN_PASSWORD", "Operator-Passphrase-71"),
    );
    assert!(stderr.contains("--promote-existing"), "{stderr}");
    // Nothing changed: still a user, still the squatter's password.
    let pair = app.login("boss@example.com", squatter_password).await;
    assert_eq!(pair["user"]["role"], "user");
    assert!(!app.audit_types().contains(&"admin.role_changed".to_owned()));

    // With --promote-existing the account becomes the operator's: the
    // given password, enabled, unlocked, and no session of the squatter.
    app.sql(
        "UPDATE users SET disabled = TRUE, locked_until = '2999-01-01 00:00:00', lockouts = 3 \
         WHERE email = 'boss@example.com';",
    );
    let (_, stderr) = succeeds(
        securetodo(dir.path())
            .args([
                "create-admin",
                "--email",
                "boss@example.com",
                "--promote-existing",
            ])
            .env("SECURETODO_ADMIN_PASSWORD", "Operator-Passphrase-71"),
    );
    assert!(!stderr.contains("Operator-Passphrase-71"), "{stderr}");
    assert_eq!(app.get_me(&squatter_token).await.status(), 401);
    let refresh = app
        .refresh(squatter["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refresh.status(), 401);
    let login = app.post_login("boss@example.com", squatter_password).await;
    assert_eq!(login.status(), 401);
    let pair = app
        .login("boss@example.com", "Operator-Passphrase-71")
        .await;
    assert_eq!(pair["user"]["role"], "admin");
    assert_eq!(pair["user"]["disabled"], false);
    let types = app.audit_types();
    for expected in [
        "admin.role_changed",
        "admin.user_enabled",
        "user.password_changed",
    ] {
        assert!(types.contains(&expected.to_owned()), "{types:?}");
    }
}

#[test]
fn create_admin_checks_the_email_before_asking_for_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = fails(
        securetodo(dir.path())
            .args(["create-admin", "--email", "not-an-email"])
            .stdin(Stdio::null()),
    );
    assert!(stderr.contains("email"), "{stderr}");
    assert!(!stderr.contains("Admin password:"), "{stderr}");
    // An empty answer is refused, not taken as a password.
    fails(
        securetodo(dir.path())
            .args(["create-admin", "--email", "empty@example.com"])
            .stdin(Stdio::null()),
    );
    let help = securetodo(dir.path())
        .args(["create-admin", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--promote-existing") && help.contains("registered"),
        "{help}"
    );
}

#[test]
fn serve_is_the_default_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = serving(dir.path()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut port = None;
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
            port = rest
                .split_whitespace()
                .next()
                .and_then(|p| p.parse::<u16>().ok());
            break;
        }
    }
    let port = port.unwrap_or_else(|| panic!("no listening line in {seen:?}"));
    assert!(
        seen.iter().any(|l| l.contains("JWT_SECRET")),
        "no warning about JWT_SECRET: {seen:?}"
    );
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(b"GET /health/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut waited = Duration::ZERO;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(waited < Duration::from_secs(20), "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
        waited += Duration::from_millis(100);
    }
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("server stopped")),
        "{rest:?}"
    );
    assert!(dir.path().join("data/cli.db").is_file());
}

#[test]
fn env_example_copied_to_dot_env_starts_a_development_server() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.env.example");
    std::fs::copy(example, dir.path().join(".env")).unwrap();
    // The process environment wins over .env: a free port, no SPA directory.
    let mut child = serving(dir.path()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        let listening = line.contains("listening on");
        seen.push(line);
        if listening {
            break;
        }
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let listening = seen.iter().find(|l| l.contains("listening on"));
    let listening = listening.unwrap_or_else(|| panic!("did not start: {seen:?}"));
    assert!(listening.contains("Development"), "{listening}");
}
