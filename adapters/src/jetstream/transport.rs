//! The byte stream under a NATS connection: plain TCP, or TLS over TCP after the upgrade
//! the protocol prescribes (the server's INFO in clear, then the client's TLS handshake).
//! Either way the socket's timeouts bound every read and write, so a deadline holds
//! under TLS too: rustls only reads and writes the socket it is given.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use corelane_io::AdapterError;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::tls::explain_tls_failure;

/// A NATS connection's stream.
pub(crate) enum Transport {
    /// Clear text.
    Plain(TcpStream),
    /// TLS; boxed, as the TLS state is large.
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    /// After a failed upgrade: every read and write fails (the caller drops it).
    Closed,
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the TLS upgrade failed")
}

impl Transport {
    /// The TCP socket underneath, for its timeouts.
    fn socket(&self) -> io::Result<&TcpStream> {
        match self {
            Transport::Plain(s) => Ok(s),
            Transport::Tls(s) => Ok(&s.sock),
            Transport::Closed => Err(closed()),
        }
    }

    /// Bounds the next reads by `timeout`.
    pub(crate) fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.socket()?.set_read_timeout(Some(timeout))
    }

    /// Bounds the next writes by `timeout`.
    pub(crate) fn set_write_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.socket()?.set_write_timeout(Some(timeout))
    }

    /// Upgrades a plain stream to TLS: runs the whole handshake now, within `timeout`, so
    /// a certificate problem is reported here with its cause rather than at the first
    /// request. `shown` names the server in errors.
    pub(crate) fn upgrade(
        &mut self,
        config: Arc<ClientConfig>,
        host: &str,
        timeout: Duration,
        shown: &str,
    ) -> Result<(), AdapterError> {
        let mut sock = match std::mem::replace(self, Transport::Closed) {
            Transport::Plain(sock) => sock,
            other => {
                *self = other;
                return Ok(());
            }
        };
        let name = ServerName::try_from(host.to_string()).map_err(|_| {
            AdapterError::config(format!(
                "nats {shown}: {host:?} is not a valid TLS server name"
            ))
        })?;
        let client_cert = config.client_auth_cert_resolver.has_certs();
        let mut tls = ClientConnection::new(config, name)
            .map_err(|e| AdapterError::config(format!("nats {shown}: TLS setup: {e}")))?;
        let setsockopt = |e| AdapterError::from_io(format!("nats {shown} setsockopt"), e);
        sock.set_read_timeout(Some(timeout)).map_err(setsockopt)?;
        sock.set_write_timeout(Some(timeout)).map_err(setsockopt)?;
        while tls.is_handshaking() {
            let moved = tls
                .complete_io(&mut sock)
                .map_err(|e| tls_io_error(shown, "handshake", e, client_cert))?;
            if moved == (0, 0) {
                return Err(AdapterError::transient(format!(
                    "nats {shown}: the server closed the connection during the TLS handshake"
                )));
            }
        }
        *self = Transport::Tls(Box::new(StreamOwned::new(tls, sock)));
        Ok(())
    }

    /// Whether the stream is encrypted.
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }
}

/// An I/O error of a TLS stream in words: a certificate or alert problem is a
/// configuration error with its cause; the rest (timeouts, resets) keeps its kind.
/// `client_cert` says whether a client certificate was presented.
pub(crate) fn tls_io_error(
    shown: &str,
    during: &str,
    e: io::Error,
    client_cert: bool,
) -> AdapterError {
    let detail = e.to_string();
    match explain_tls_failure(&detail, client_cert) {
        Some(cause) => {
            AdapterError::config(format!("nats {shown}: TLS {during}: {cause} ({detail})"))
        }
        None if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) =>
        {
            AdapterError::timeout(format!(
                "nats {shown}: TLS {during}: no answer before the deadline"
            ))
        }
        None => AdapterError::from_io(format!("nats {shown} TLS {during}"), e),
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(s) => s.read(buf),
            Transport::Closed => Err(closed()),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(s) => s.write(buf),
            Transport::Closed => Err(closed()),
        }
    }

    /// For TLS, sends the records still buffered in rustls.
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(s) => s.flush(),
            Transport::Closed => Err(closed()),
        }
    }
}
