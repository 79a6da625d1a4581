//! The settings of a [`JetStreamAdapter`](super::JetStreamAdapter), and the endpoint
//! (host, port, credentials, TLS) they describe.

use std::fmt;
use std::time::Duration;

use corelane_io::AdapterError;

use super::auth::Credentials;
use super::conn::Endpoint;
use crate::secret::Secret;
use crate::tls::TlsFiles;

/// Settings of a [`JetStreamAdapter`](super::JetStreamAdapter).
#[derive(Clone, PartialEq, Eq)]
pub struct JetStreamConfig {
    /// `nats://[token@|user:password@]host[:port]` (port 4222 by default), or `tls://…`
    /// to require TLS.
    pub url: String,
    /// TLS files: the CA to trust and an optional client certificate. When set (or with a
    /// `tls://` URL) the connection is refused unless the server speaks TLS; when `None`,
    /// TLS is used only if the server requires it, trusting the bundled public roots.
    /// Default `None`.
    pub tls: Option<TlsFiles>,
    /// A token (CONNECT `auth_token`), instead of one in the URL. Default `None`.
    pub token: Option<Secret>,
    /// A password for the URL's user (or for [`user`](Self::user)). Default `None`.
    pub password: Option<Secret>,
    /// The user name, when the password is not in the URL. Default `None`.
    pub user: Option<String>,
    /// A user NKey seed (`SU…`) that signs the server's nonce. Default `None`.
    pub nkey_seed: Option<Secret>,
    /// A `.creds` file: a user JWT and the NKey seed that signs for it. Default `None`.
    pub creds_file: Option<std::path::PathBuf>,
    /// Streams `{prefix}_shard_{id}` on subjects `{prefix}.shard.{id}`. Letters, digits,
    /// `-` and `_`. Default `corelane`.
    pub prefix: String,
    /// How long the server remembers message ids to drop duplicates. Default 1 h.
    pub duplicate_window: Duration,
    /// Stream limits (`None`: unlimited).
    pub max_msgs: Option<u64>,
    /// Stream byte limit.
    pub max_bytes: Option<u64>,
    /// Stream age limit.
    pub max_age: Option<Duration>,
    /// Stream replicas. Default 1.
    pub replicas: u32,
    /// Start TLS before the server's INFO, for a server configured with
    /// `handshake_first`. Without it, a connection with TLS configured that hears no INFO
    /// within half a second starts over with TLS first. Implies TLS. Default `false`.
    pub tls_handshake_first: bool,
    /// Bound on connecting (TCP, INFO, CONNECT, PONG). Default 2 s.
    pub connect_timeout: Duration,
    /// Bound on one request (also capped by the call's deadline). Default 5 s.
    pub request_timeout: Duration,
    /// Publishes sent before their acknowledgements are collected. Default 1,024.
    pub max_pending_acks: usize,
}

impl JetStreamConfig {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        JetStreamConfig {
            url: url.into(),
            tls: None,
            token: None,
            password: None,
            user: None,
            nkey_seed: None,
            creds_file: None,
            tls_handshake_first: false,
            prefix: "corelane".into(),
            duplicate_window: Duration::from_secs(3600),
            max_msgs: None,
            max_bytes: None,
            max_age: None,
            replicas: 1,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            max_pending_acks: 1024,
        }
    }

    /// The stream of `shard`.
    pub fn stream_name(&self, shard: u32) -> String {
        format!("{}_shard_{shard}", self.prefix)
    }

    /// The subject of `shard`.
    pub fn subject(&self, shard: u32) -> String {
        format!("{}.shard.{shard}", self.prefix)
    }
}

impl fmt::Debug for JetStreamConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JetStreamConfig")
            .field("url", &crate::record_body::redact_url(&self.url))
            .field("tls", &self.tls)
            .field("token", &self.token)
            .field("password", &self.password)
            .field("user", &self.user)
            .field("nkey_seed", &self.nkey_seed)
            .field("creds_file", &self.creds_file)
            .field("tls_handshake_first", &self.tls_handshake_first)
            .field("prefix", &self.prefix)
            .field("duplicate_window", &self.duplicate_window)
            .field("max_msgs", &self.max_msgs)
            .field("max_bytes", &self.max_bytes)
            .field("max_age", &self.max_age)
            .field("replicas", &self.replicas)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_pending_acks", &self.max_pending_acks)
            .finish()
    }
}

/// What a NATS URL says: host, port, whether it asks for TLS, and its credentials.
struct ParsedUrl {
    host: String,
    port: u16,
    tls: bool,
    token: Option<String>,
    user: Option<String>,
    password: Option<String>,
}

fn parse_url(url: &str) -> Result<ParsedUrl, AdapterError> {
    let bad = |why: &str| {
        AdapterError::config(format!(
            "nats url {}: {why}",
            crate::record_body::redact_url(url)
        ))
    };
    let (tls, rest) = match (url.strip_prefix("nats://"), url.strip_prefix("tls://")) {
        (Some(rest), _) => (false, rest),
        (_, Some(rest)) => (true, rest),
        _ => return Err(bad("must start with nats:// or tls://")),
    };
    let (userinfo, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let hostport = hostport.trim_end_matches('/');
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| bad("the port is not a number"))?,
        ),
        None => (hostport, 4222),
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let (mut token, mut user, mut password) = (None, None, None);
    if let Some(u) = userinfo {
        match u.split_once(':') {
            Some((name, pass)) => {
                user = Some(name.to_string());
                password = Some(pass.to_string());
            }
            None => token = Some(u.to_string()),
        }
    }
    Ok(ParsedUrl {
        host: host.to_string(),
        port,
        tls,
        token,
        user,
        password,
    })
}

/// The endpoint of `config`: its URL with the credentials and TLS settings, secrets read.
pub(super) fn endpoint(config: &JetStreamConfig) -> Result<Endpoint, AdapterError> {
    let url = parse_url(&config.url)?;
    let scheme = if url.tls { "tls" } else { "nats" };
    let shown = format!("{scheme}://{}:{}", url.host, url.port);
    let sources = [
        url.token.is_some() || config.token.is_some(),
        url.password.is_some() || config.password.is_some(),
        config.nkey_seed.is_some(),
        config.creds_file.is_some(),
    ];
    if sources.iter().filter(|&&s| s).count() > 1
        || (url.token.is_some() && config.token.is_some())
        || (url.password.is_some() && config.password.is_some())
    {
        return Err(AdapterError::config(format!(
            "nats {shown}: configure one way to authenticate (token, user and password, \
             nkey seed or creds file), each in one place"
        )));
    }
    let credentials = if let Some(token) = url.token {
        Credentials::Token(token)
    } else if let Some(token) = &config.token {
        Credentials::Token(token.reveal("nats token")?)
    } else if let Some(password) = url.password {
        Credentials::UserPassword(url.user.unwrap_or_default(), password)
    } else if let Some(password) = &config.password {
        let user = url.user.or_else(|| config.user.clone()).ok_or_else(|| {
            AdapterError::config(format!("nats {shown}: a password needs a user name"))
        })?;
        Credentials::UserPassword(user, password.reveal("nats password")?)
    } else if let Some(seed) = &config.nkey_seed {
        Credentials::nkey(seed)?
    } else if let Some(path) = &config.creds_file {
        Credentials::creds_file(path)?
    } else {
        Credentials::Anonymous
    };
    let tls = match (&config.tls, url.tls || config.tls_handshake_first) {
        (Some(files), _) => Some(files.client_config("nats")?),
        (None, true) => Some(TlsFiles::default().client_config("nats")?),
        (None, false) => None,
    };
    Ok(Endpoint {
        host: url.host,
        port: url.port,
        credentials,
        tls,
        shown,
        tls_first: config.tls_handshake_first,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_credentials_stay_hidden() {
        let e = parse_url("nats://127.0.0.1:4333").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.token.is_none()),
            ("127.0.0.1", 4333, true)
        );
        let e = parse_url("nats://s3cret@h").unwrap();
        assert_eq!(
            (e.port, e.token.as_deref(), e.tls),
            (4222, Some("s3cret"), false)
        );
        let e = parse_url("tls://h:4443").unwrap();
        assert_eq!((e.host.as_str(), e.port, e.tls), ("h", 4443, true));
        let e = parse_url("nats://al:pw@h:1/").unwrap();
        assert_eq!(
            (e.user.as_deref(), e.password.as_deref()),
            (Some("al"), Some("pw"))
        );
        for bad in ["redis://h", "nats://", "nats://h:port"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        let c = JetStreamConfig::new("nats://tok3n@h:1");
        assert!(!format!("{c:?}").contains("tok3n"));
        assert!(
            super::super::JetStreamAdapter::new(JetStreamConfig {
                prefix: "a.b".into(),
                ..c
            })
            .is_err()
        );
    }
}
