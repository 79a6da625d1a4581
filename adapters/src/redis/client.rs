//! The `redis::Client` a configuration describes: its URL, the password from a
//! [`Secret`](crate::Secret) when one is set, and for `rediss://` the TLS certificates
//! (rustls on the blocking connections; the server name is always checked).

use corelane_io::AdapterError;
use redis::{Client, ClientTlsConfig, IntoConnectionInfo, TlsCertificates};

use super::RedisConfig;
use super::errors::scrub;
use crate::record_body::redact_url;

/// Builds the client of `config`, reading its secret and TLS files.
pub(super) fn build_client(config: &RedisConfig) -> Result<Client, AdapterError> {
    let url = &config.url;
    let bad_url = |e: redis::RedisError| {
        AdapterError::config(format!(
            "redis url {}: {}",
            redact_url(url),
            scrub(&e.to_string(), url)
        ))
    };
    let tls_url = url.starts_with("rediss://");
    if config.tls.is_some() && !tls_url {
        return Err(AdapterError::config(format!(
            "redis url {}: TLS files are configured, so the URL must start with rediss:// \
             (refusing to connect in clear)",
            redact_url(url)
        )));
    }
    let mut info = url.as_str().into_connection_info().map_err(bad_url)?;
    if let Some(secret) = &config.password {
        if url_has_password(url) {
            return Err(AdapterError::config(format!(
                "redis url {}: a password is configured twice (URL and password source)",
                redact_url(url)
            )));
        }
        let password = secret.reveal("redis password")?;
        let settings = info.redis_settings().clone().set_password(password);
        info = info.set_redis_settings(settings);
    }
    if !tls_url {
        return Client::open(info).map_err(bad_url);
    }
    let certificates = match &config.tls {
        None => TlsCertificates {
            client_tls: None,
            root_cert: None,
        },
        Some(files) => {
            let pem = files.read("redis")?;
            TlsCertificates {
                client_tls: pem
                    .identity
                    .map(|(client_cert, client_key)| ClientTlsConfig {
                        client_cert,
                        client_key,
                    }),
                root_cert: pem.ca,
            }
        }
    };
    Client::build_with_tls(info, certificates).map_err(bad_url)
}

/// Whether the URL's authority carries a password (`user:password@` or `:password@`;
/// `name@` is a user name to the redis crate).
fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    authority
        .rsplit_once('@')
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .is_some_and(|(_, password)| !password.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Secret, TlsFiles};

    #[test]
    fn tls_files_need_a_rediss_url_and_passwords_come_from_one_place() {
        let mut c = RedisConfig::new("redis://127.0.0.1:6379");
        c.tls = Some(TlsFiles::default());
        let err = build_client(&c).err().unwrap();
        assert!(err.to_string().contains("rediss://"), "{err}");

        let mut c = RedisConfig::new("redis://:inurl@127.0.0.1:6379");
        c.password = Some(Secret::Value("s3cret-value".into()));
        let err = build_client(&c).err().unwrap();
        assert!(err.to_string().contains("configured twice"), "{err}");
        assert!(!err.to_string().contains("inurl"), "{err}");

        let mut c = RedisConfig::new("rediss://127.0.0.1:6379");
        c.password = Some(Secret::Value("s3cret-value".into()));
        build_client(&c).unwrap();
    }
}
