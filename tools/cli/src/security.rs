//! The TLS and authentication options of the network stores (`--tls-ca`, `--tls-cert`,
//! `--tls-key`, `--nkey-seed`, `--creds`). Secrets are named by file, never given on the
//! command line, so they stay out of shell histories and process listings.

use std::path::PathBuf;

use corelane_adapters::{JetStreamConfig, RedisConfig, Secret, TlsFiles};

use crate::store::AdapterKind;

/// The security options shared by bench, pump and tail.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SecurityArgs {
    /// CA certificates (PEM) to trust on a rediss:// or TLS NATS connection.
    #[arg(long = "tls-ca", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS; needs --tls-key.
    #[arg(long = "tls-cert", value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long = "tls-key", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// NATS: a file holding a user NKey seed (SU…) to sign the server's nonce.
    #[arg(long = "nkey-seed", value_name = "FILE", conflicts_with = "creds")]
    pub nkey_seed: Option<PathBuf>,
    /// NATS: a .creds file (user JWT and NKey seed).
    #[arg(long, value_name = "FILE")]
    pub creds: Option<PathBuf>,
    /// NATS: start TLS before the server's INFO (a server with handshake_first).
    #[arg(long = "tls-handshake-first")]
    pub tls_handshake_first: bool,
}

impl SecurityArgs {
    fn tls(&self) -> Option<TlsFiles> {
        (self.tls_ca.is_some() || self.tls_cert.is_some()).then(|| TlsFiles {
            ca_file: self.tls_ca.clone(),
            cert_file: self.tls_cert.clone(),
            key_file: self.tls_key.clone(),
        })
    }

    /// Refuses options the store `kind` has no use for.
    pub fn check_applies_to(&self, kind: &AdapterKind) -> Result<(), String> {
        let tls = self.tls_ca.is_some() || self.tls_cert.is_some();
        let nats_auth =
            self.nkey_seed.is_some() || self.creds.is_some() || self.tls_handshake_first;
        match kind {
            AdapterKind::Nats(_) => Ok(()),
            AdapterKind::Redis(_) if !nats_auth => Ok(()),
            AdapterKind::Redis(_) => {
                Err("--nkey-seed, --creds and --tls-handshake-first are NATS options".into())
            }
            other if tls || nats_auth => Err(format!(
                "TLS and NKey options apply to redis and nats stores, not {}",
                other.name()
            )),
            _ => Ok(()),
        }
    }

    /// The Redis settings for `url` with these options.
    pub fn redis_config(&self, url: &str) -> RedisConfig {
        let mut c = RedisConfig::new(url);
        c.tls = self.tls();
        c
    }

    /// The JetStream settings for `url` with these options.
    pub fn jetstream_config(&self, url: &str) -> JetStreamConfig {
        let mut c = JetStreamConfig::new(url);
        c.tls = self.tls();
        c.nkey_seed = self.nkey_seed.clone().map(Secret::File);
        c.creds_file = self.creds.clone();
        c.tls_handshake_first = self.tls_handshake_first;
        c
    }

    /// How the link is secured, for reports (file names only).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(ca) = &self.tls_ca {
            parts.push(format!("TLS, CA {}", ca.display()));
        }
        if self.tls_cert.is_some() {
            parts.push("client certificate".to_string());
        }
        if self.nkey_seed.is_some() {
            parts.push("NKey".to_string());
        }
        if self.creds.is_some() {
            parts.push("creds".to_string());
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join(", "))
        }
    }
}
