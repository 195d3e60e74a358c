//! Container health probe for SecureTodo: a std-only HTTP/1.1 client, so the
//! distroless runtime image needs neither a shell nor curl.
//!
//! Usage: `healthcheck [PATH]` (default `/health/ready`). It connects to
//! 127.0.0.1 on `$PORT` (default 8080) and exits 0 only on a 2xx status line;
//! any other status, a timeout, or a connection error exits 1. It is built in
//! the Dockerfile with plain `rustc`, outside the Cargo workspace.

use std::env;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

const DEFAULT_PATH: &str = "/health/ready";
const DEFAULT_PORT: u16 = 8080;
const TIMEOUT: Duration = Duration::from_secs(3);

fn probe(port: u16, path: &str) -> Result<u16, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: securetodo-healthcheck\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("write: {e}"))?;

    // Only the status line matters; read until the first CRLF (or 1 KiB).
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 1024 {
        let n = stream.read(&mut buf).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let status_line = line.lines().next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/") => code
            .parse::<u16>()
            .map_err(|_| format!("bad status line: {status_line:?}")),
        _ => Err(format!("bad status line: {status_line:?}")),
    }
}

fn main() -> ExitCode {
    let path = env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_PATH.to_owned());
    if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        eprintln!("healthcheck: invalid path {path:?}");
        return ExitCode::FAILURE;
    }
    let port = match env::var("PORT") {
        Ok(p) if !p.trim().is_empty() => match p.trim().parse::<u16>() {
            Ok(p) => p,
            Err(_) => {
                eprintln!("healthcheck: invalid PORT {p:?}");
                return ExitCode::FAILURE;
            }
        },
        _ => DEFAULT_PORT,
    };
    match probe(port, &path) {
        Ok(code) if (200..300).contains(&code) => ExitCode::SUCCESS,
        Ok(code) => {
            eprintln!("healthcheck: {path} answered {code}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("healthcheck: {e}");
            ExitCode::FAILURE
        }
    }
}
