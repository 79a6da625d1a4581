//! One NATS connection over a blocking TCP socket with deadlines: the handshake (with the
//! TLS upgrade after INFO when either side asks for it, or TLS before anything else for
//! a server in handshake-first mode), request and reply through an inbox subscription,
//! and pipelined publishes with replies.

use std::io::{ErrorKind as IoKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corelane_io::AdapterError;
use rustls::ClientConfig;

use super::auth::Credentials;
use super::proto::{self, Msg, ServerOp};
use super::transport::{Transport, tls_io_error};
use crate::connection::Connection;
use crate::record_body::push_decimal;

/// Where and how to connect.
pub(crate) struct Endpoint {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) credentials: Credentials,
    /// The TLS client settings when TLS was asked for (a `tls://` URL or TLS files): the
    /// connection is then refused unless the server speaks TLS. `None`: TLS only if the
    /// server requires it, trusting the bundled public roots.
    pub(crate) tls: Option<Arc<ClientConfig>>,
    /// For messages: `nats://host:port` or `tls://host:port`, never the credentials.
    pub(crate) shown: String,
    /// Start TLS before the server's INFO (a server configured with `handshake_first`).
    /// Without it, a connection with TLS configured that receives no INFO within
    /// [`INFO_WAIT`] starts over with TLS first.
    pub(crate) tls_first: bool,
}

/// How long a client with TLS configured waits for INFO before concluding that the
/// server expects the TLS handshake first (it then sends nothing until the ClientHello).
const INFO_WAIT: Duration = Duration::from_millis(500);

/// One NATS connection: its socket, the bytes read but not yet parsed, and the inbox
/// its requests are answered on.
pub(crate) struct Conn {
    stream: Transport,
    buf: Vec<u8>,
    start: usize,
    out: Vec<u8>,
    inbox: String,
    next_reply: u64,
    shown: String,
    /// Whether a client certificate is configured (a server that rejects the handshake
    /// without one wants one).
    client_cert: bool,
}

fn until(deadline: Instant) -> Result<Duration, AdapterError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left < Duration::from_millis(1) {
        Err(AdapterError::timeout("nats: the deadline passed"))
    } else {
        Ok(left)
    }
}

/// Classifies a `-ERR`: a payload too large for the server and permission problems do
/// not pass by retrying; the rest (stale connection, slow consumer) may.
fn server_error(shown: &str, e: &str) -> AdapterError {
    let lower = e.to_ascii_lowercase();
    let kind = if lower.contains("maximum payload") {
        corelane_io::ErrorKind::Fatal
    } else if lower.contains("authorization") || lower.contains("permissions") {
        corelane_io::ErrorKind::Config
    } else {
        corelane_io::ErrorKind::Transient
    };
    AdapterError::new(kind, format!("nats {shown}: server error: {e}"))
}

/// A random `u64` (std's randomly keyed hasher over the time), for inbox names.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

fn inbox_name() -> String {
    let mut out = b"_INBOX.cl".to_vec();
    crate::record_body::push_hex(&mut out, random_u64());
    String::from_utf8(out).expect("ASCII")
}

/// A TCP connection to the first address of `ep` that accepts one before `deadline`.
fn connect_tcp(ep: &Endpoint, deadline: Instant) -> Result<TcpStream, AdapterError> {
    let io = |what: &str, e: std::io::Error| {
        AdapterError::from_io(format!("nats {} {what}", ep.shown), e)
    };
    let addrs: Vec<_> = (ep.host.as_str(), ep.port)
        .to_socket_addrs()
        .map_err(|e| io("resolve", e))?
        .collect();
    let mut last_err = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, until(deadline)?) {
            Ok(stream) => {
                stream.set_nodelay(true).map_err(|e| io("setsockopt", e))?;
                return Ok(stream);
            }
            Err(e) => last_err = Some(e),
        }
    }
    let no_address = || std::io::Error::new(IoKind::NotFound, "no address");
    Err(io("connect", last_err.unwrap_or_else(no_address)))
}

impl Connection for Conn {
    /// Never: a failed request or pipeline may leave replies in flight, which the next
    /// call on this connection would take for its own.
    fn usable_after(&self, _failure: &AdapterError) -> bool {
        false
    }
}

impl Conn {
    /// Connects, reads INFO, sends CONNECT and PING, waits for PONG, subscribes to the
    /// inbox; all within `timeout` (and `deadline`).
    pub(crate) fn open(
        ep: &Endpoint,
        timeout: Duration,
        deadline: Instant,
    ) -> Result<Conn, AdapterError> {
        let deadline = deadline.min(Instant::now() + timeout);
        let mut tls_first = ep.tls_first;
        let mut conn = Conn::new(ep, deadline)?;
        if !tls_first && ep.tls.is_some() && !conn.info_arrives(deadline)? {
            // The server waits for our ClientHello: it runs in handshake-first mode.
            conn = Conn::new(ep, deadline)?;
            tls_first = true;
        }
        if tls_first {
            conn.start_tls(ep, deadline)?;
        }
        let info = conn.check_info(ep, deadline)?;
        conn.secure(ep, &info, deadline)?;
        let nonce = info.get("nonce").and_then(|n| n.as_str());
        conn.handshake(ep, nonce, deadline)?;
        Ok(conn)
    }

    /// A plain connection to `ep`, nothing exchanged yet.
    fn new(ep: &Endpoint, deadline: Instant) -> Result<Conn, AdapterError> {
        Ok(Conn {
            stream: Transport::Plain(connect_tcp(ep, deadline)?),
            buf: Vec::with_capacity(64 << 10),
            start: 0,
            out: Vec::with_capacity(64 << 10),
            inbox: inbox_name(),
            next_reply: 1,
            shown: ep.shown.clone(),
            client_cert: false,
        })
    }

    /// Whether the server starts talking (INFO) within [`INFO_WAIT`]; consumes nothing.
    fn info_arrives(&self, deadline: Instant) -> Result<bool, AdapterError> {
        let Transport::Plain(sock) = &self.stream else {
            return Ok(true);
        };
        let wait = until(deadline)?.min(INFO_WAIT);
        let io = |e| AdapterError::from_io(format!("nats {} setsockopt", self.shown), e);
        sock.set_read_timeout(Some(wait)).map_err(io)?;
        match sock.peek(&mut [0u8; 4]) {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.kind(), IoKind::WouldBlock | IoKind::TimedOut) => Ok(false),
            Err(e) => Err(AdapterError::from_io(
                format!("nats {} read", self.shown),
                e,
            )),
        }
    }

    /// The TLS handshake before anything else (handshake-first mode).
    fn start_tls(&mut self, ep: &Endpoint, deadline: Instant) -> Result<(), AdapterError> {
        let config = match &ep.tls {
            Some(config) => config.clone(),
            None => crate::tls::TlsFiles::default().client_config("nats")?,
        };
        self.client_cert = config.client_auth_cert_resolver.has_certs();
        self.stream
            .upgrade(config, &ep.host, until(deadline)?, &ep.shown)
    }

    /// Upgrades to TLS when the endpoint or the server asks for it; refuses a server
    /// without TLS when TLS was configured, before any credential is sent.
    fn secure(
        &mut self,
        ep: &Endpoint,
        info: &serde_json::Value,
        deadline: Instant,
    ) -> Result<(), AdapterError> {
        if self.stream.is_tls() {
            return Ok(()); // handshake-first: encrypted before INFO
        }
        let flag = |name: &str| info.get(name).and_then(|v| v.as_bool()) == Some(true);
        let server_tls = flag("tls_required") || flag("tls_available");
        let config = match &ep.tls {
            Some(_) if !server_tls => {
                return Err(AdapterError::config(format!(
                    "nats {}: TLS is configured but the server does not offer TLS \
                     (INFO tls_required is false); refusing to connect in clear",
                    ep.shown
                )));
            }
            Some(config) => config.clone(),
            None if flag("tls_required") => {
                crate::tls::TlsFiles::default().client_config("nats")?
            }
            None => return Ok(()),
        };
        self.client_cert = config.client_auth_cert_resolver.has_certs();
        self.stream
            .upgrade(config, &ep.host, until(deadline)?, &ep.shown)
    }

    /// Reads the server's INFO and checks it supports headers.
    fn check_info(
        &mut self,
        ep: &Endpoint,
        deadline: Instant,
    ) -> Result<serde_json::Value, AdapterError> {
        let op = self.read_op(deadline).map_err(|e| {
            if e.kind() == corelane_io::ErrorKind::Timeout && !self.stream.is_tls() {
                AdapterError::timeout(format!(
                    "nats {}: the server sent no INFO before the connect deadline (a \
                     server in TLS handshake-first mode waits for TLS: configure TLS)",
                    ep.shown
                ))
            } else {
                e
            }
        })?;
        let info = match op {
            ServerOp::Info(json) => json,
            other => {
                return Err(AdapterError::fatal(format!(
                    "nats {}: expected INFO, got {other:?}",
                    ep.shown
                )));
            }
        };
        let info: serde_json::Value = serde_json::from_str(&info).map_err(|e| {
            AdapterError::fatal(format!("nats {}: INFO is not JSON: {e}", ep.shown))
        })?;
        if info.get("headers").and_then(|h| h.as_bool()) != Some(true) {
            return Err(AdapterError::config(format!(
                "nats {}: the server does not support headers (needed for Nats-Msg-Id)",
                ep.shown
            )));
        }
        Ok(info)
    }

    /// Sends CONNECT with the credentials, PING and the inbox subscription, and waits for
    /// the PONG that says the server accepted them.
    fn handshake(
        &mut self,
        ep: &Endpoint,
        nonce: Option<&str>,
        deadline: Instant,
    ) -> Result<(), AdapterError> {
        let mut options = serde_json::json!({
            "verbose": false, "pedantic": false, "tls_required": self.stream.is_tls(),
            "headers": true, "no_responders": true, "lang": "rust-corelane",
            "version": env!("CARGO_PKG_VERSION"), "protocol": 1, "name": "corelane",
        });
        ep.credentials.apply(&mut options, nonce, &ep.shown)?;
        proto::connect(&mut self.out, &options.to_string());
        self.out.extend_from_slice(b"PING\r\n");
        let inbox = format!("{}.*", self.inbox);
        proto::sub(&mut self.out, &inbox, 1);
        self.flush_out(deadline)?;
        loop {
            match self.read_op(deadline)? {
                ServerOp::Pong => return Ok(()),
                ServerOp::Err(e) => {
                    let kind = if e.to_ascii_lowercase().contains("authorization") {
                        corelane_io::ErrorKind::Config
                    } else {
                        corelane_io::ErrorKind::Fatal
                    };
                    return Err(AdapterError::new(
                        kind,
                        format!("nats {}: the server refused the connection: {e}", ep.shown),
                    ));
                }
                _ => continue,
            }
        }
    }

    /// Writes the pending output before `deadline`. A server that stops reading fills the
    /// socket buffer; every write then waits at most until the deadline, so a stalled
    /// server costs the caller its deadline, never the I/O thread forever. After an
    /// error the connection is mid-message and must be dropped (the callers do).
    fn flush_out(&mut self, deadline: Instant) -> Result<(), AdapterError> {
        let result = self.write_pending(deadline);
        self.out.clear();
        result
    }

    fn write_pending(&mut self, deadline: Instant) -> Result<(), AdapterError> {
        let mut written = 0;
        while written < self.out.len() {
            self.set_write_timeout(deadline)?;
            match self.stream.write(&self.out[written..]) {
                Ok(0) => {
                    return Err(AdapterError::transient(format!(
                        "nats {}: connection closed while writing",
                        self.shown
                    )));
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == IoKind::Interrupted => {}
                Err(e) => return Err(self.write_failure(e, written)),
            }
        }
        // Under TLS, `write` may leave encrypted records buffered in rustls.
        loop {
            self.set_write_timeout(deadline)?;
            match self.stream.flush() {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == IoKind::Interrupted => {}
                Err(e) => return Err(self.write_failure(e, written)),
            }
        }
    }

    fn set_write_timeout(&self, deadline: Instant) -> Result<(), AdapterError> {
        self.stream
            .set_write_timeout(until(deadline)?)
            .map_err(|e| AdapterError::from_io(format!("nats {} setsockopt", self.shown), e))
    }

    fn write_failure(&self, e: std::io::Error, written: usize) -> AdapterError {
        if matches!(e.kind(), IoKind::WouldBlock | IoKind::TimedOut) {
            AdapterError::timeout(format!(
                "nats {}: the server took no more bytes before the deadline \
                 ({written} of {} written)",
                self.shown,
                self.out.len()
            ))
        } else if self.stream.is_tls() {
            tls_io_error(&self.shown, "write", e, self.client_cert)
        } else {
            AdapterError::from_io(format!("nats {} write", self.shown), e)
        }
    }

    /// The next server operation, answering PINGs on the way.
    fn read_op(&mut self, deadline: Instant) -> Result<ServerOp, AdapterError> {
        loop {
            match proto::parse(&self.buf[self.start..]) {
                Ok(Some((op, used))) => {
                    self.start += used;
                    if self.start == self.buf.len() {
                        self.buf.clear();
                        self.start = 0;
                    }
                    if op == ServerOp::Ping {
                        self.out.extend_from_slice(b"PONG\r\n");
                        self.flush_out(deadline)?;
                        continue;
                    }
                    return Ok(op);
                }
                Ok(None) => {}
                Err(e) => return Err(AdapterError::fatal(format!("nats {}: {e}", self.shown))),
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            self.stream
                .set_read_timeout(until(deadline)?)
                .map_err(|e| AdapterError::from_io(format!("nats {} setsockopt", self.shown), e))?;
            let len = self.buf.len();
            self.buf.resize(len + (64 << 10), 0);
            let n = match self.stream.read(&mut self.buf[len..]) {
                Ok(0) => {
                    self.buf.truncate(len);
                    return Err(AdapterError::transient(format!(
                        "nats {}: connection closed by the server",
                        self.shown
                    )));
                }
                Ok(n) => n,
                Err(e) => {
                    self.buf.truncate(len);
                    let kind = e.kind();
                    if kind == IoKind::WouldBlock || kind == IoKind::TimedOut {
                        return Err(AdapterError::timeout(format!(
                            "nats {}: no reply before the deadline",
                            self.shown
                        )));
                    }
                    if self.stream.is_tls() {
                        return Err(tls_io_error(&self.shown, "read", e, self.client_cert));
                    }
                    return Err(AdapterError::from_io(
                        format!("nats {} read", self.shown),
                        e,
                    ));
                }
            };
            self.buf.truncate(len + n);
        }
    }

    /// The reply subject for request number `n`.
    fn reply_subject(&self, out: &mut Vec<u8>, n: u64) {
        out.clear();
        out.extend_from_slice(self.inbox.as_bytes());
        out.push(b'.');
        push_decimal(out, n);
    }

    /// Reads until the reply to request `n` arrives (earlier stray replies are dropped).
    fn read_reply(&mut self, wanted: &[u8], deadline: Instant) -> Result<Msg, AdapterError> {
        loop {
            match self.read_op(deadline)? {
                ServerOp::Msg(m) if m.subject.as_bytes() == wanted => return Ok(m),
                ServerOp::Err(e) => return Err(server_error(&self.shown, &e)),
                _ => continue,
            }
        }
    }

    /// Publishes `payload` to `subject` with a reply inbox and waits for the reply.
    pub(crate) fn request(
        &mut self,
        subject: &str,
        payload: &[u8],
        deadline: Instant,
    ) -> Result<Msg, AdapterError> {
        let n = self.next_reply;
        self.next_reply += 1;
        let mut reply = Vec::new();
        self.reply_subject(&mut reply, n);
        proto::publish(&mut self.out, subject, Some(&reply), payload);
        self.flush_out(deadline)?;
        self.read_reply(&reply, deadline)
    }

    /// Sends `count` requests built by `fill(i, reply, out)` (which appends one PUB/HPUB
    /// using `reply` as its reply subject), keeping at most `window` unanswered, and
    /// returns the replies in request order.
    pub(crate) fn pipeline(
        &mut self,
        count: usize,
        window: usize,
        deadline: Instant,
        mut fill: impl FnMut(usize, &[u8], &mut Vec<u8>),
    ) -> Result<Vec<Msg>, AdapterError> {
        let base = self.next_reply;
        self.next_reply += count as u64;
        let mut replies: Vec<Option<Msg>> = (0..count).map(|_| None).collect();
        let mut sent = 0;
        let mut received = 0;
        let mut reply = Vec::with_capacity(64);
        let prefix_len = self.inbox.len() + 1;
        let window = window.max(1);
        while received < count {
            // Top the window up only once half of it is answered: one write for many
            // publishes, not one per acknowledgement. Writes go out every 32 KiB so the
            // server starts on the first publishes while the rest are encoded.
            if sent < count && sent - received <= window / 2 {
                while sent < count && sent - received < window {
                    self.reply_subject(&mut reply, base + sent as u64);
                    let mut out = std::mem::take(&mut self.out);
                    fill(sent, &reply, &mut out);
                    self.out = out;
                    sent += 1;
                    if self.out.len() > (32 << 10) {
                        self.flush_out(deadline)?;
                    }
                }
                self.flush_out(deadline)?;
            }
            match self.read_op(deadline)? {
                ServerOp::Msg(m) => {
                    let n = m
                        .subject
                        .as_bytes()
                        .get(prefix_len..)
                        .filter(|_| m.subject.starts_with(&self.inbox))
                        .and_then(|d| std::str::from_utf8(d).ok())
                        .and_then(|d| d.parse::<u64>().ok());
                    if let Some(n) = n
                        && n >= base
                        && ((n - base) as usize) < count
                    {
                        let slot = &mut replies[(n - base) as usize];
                        if slot.is_none() {
                            received += 1;
                        }
                        *slot = Some(m);
                    }
                }
                ServerOp::Err(e) => return Err(server_error(&self.shown, &e)),
                _ => {}
            }
        }
        Ok(replies
            .into_iter()
            .map(|m| m.expect("all received"))
            .collect())
    }
}
