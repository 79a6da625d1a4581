//! TLS settings shared by the Redis and NATS adapters: which CA to trust and which
//! certificate to present, all from PEM files; and the one-line causes of handshake
//! failures ("not signed by the configured CA", "expired", "not valid for the name").
//!
//! Both adapters use rustls with the `ring` crypto provider. The server's name is always
//! checked against its certificate; there is no switch to turn that off.

use std::path::{Path, PathBuf};

use corelane_io::AdapterError;

use crate::secret::warn_if_readable_by_others;

/// The PEM files of a TLS client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificates to trust (PEM, one or more). `None`: the Mozilla roots bundled in
    /// the binary (`webpki-roots`), for servers with a publicly issued certificate.
    pub ca_file: Option<PathBuf>,
    /// A client certificate chain (PEM) presented to servers that ask for one (mutual
    /// TLS). Set together with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// The private key of `cert_file` (PEM: PKCS#8, PKCS#1 or SEC1). A key file that others
    /// may read (mode wider than 0600) gets a warning in the log.
    pub key_file: Option<PathBuf>,
}

/// The contents of [`TlsFiles`], read and checked.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) struct TlsPem {
    /// The CA file's bytes (`None`: bundled roots).
    pub(crate) ca: Option<Vec<u8>>,
    /// The client certificate chain and key files' bytes.
    pub(crate) identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsFiles {
    /// Trusts the CA certificates in `ca_file`, presents no client certificate.
    pub fn with_ca(ca_file: impl Into<PathBuf>) -> TlsFiles {
        TlsFiles {
            ca_file: Some(ca_file.into()),
            ..TlsFiles::default()
        }
    }

    /// Adds a client certificate and its key (mutual TLS).
    pub fn with_client_cert(
        mut self,
        cert_file: impl Into<PathBuf>,
        key_file: impl Into<PathBuf>,
    ) -> TlsFiles {
        self.cert_file = Some(cert_file.into());
        self.key_file = Some(key_file.into());
        self
    }

    /// Reads the files, checking that each holds what it should. `store` names the
    /// adapter in errors.
    pub(crate) fn read(&self, store: &str) -> Result<TlsPem, AdapterError> {
        let read = |path: &Path, what: &str| {
            std::fs::read(path).map_err(|e| {
                AdapterError::config(format!(
                    "{store} tls {what} {}: cannot read: {e}",
                    path.display()
                ))
            })
        };
        let ca = match &self.ca_file {
            Some(path) => {
                let pem = read(path, "ca_file")?;
                let certs = certificates(&pem, path, store, "ca_file")?;
                let mut roots = rustls::RootCertStore::empty();
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(AdapterError::config(format!(
                        "{store} tls ca_file {}: no usable CA certificate",
                        path.display()
                    )));
                }
                Some(pem)
            }
            None => None,
        };
        let identity = match (&self.cert_file, &self.key_file) {
            (None, None) => None,
            (Some(cert), Some(key)) => {
                warn_if_readable_by_others(key, &format!("{store} tls key_file"));
                let cert_pem = read(cert, "cert_file")?;
                certificates(&cert_pem, cert, store, "cert_file")?;
                let key_pem = read(key, "key_file")?;
                private_key(&key_pem, key, store)?;
                Some((cert_pem, key_pem))
            }
            _ => {
                return Err(AdapterError::config(format!(
                    "{store} tls: cert_file and key_file go together (mutual TLS needs both)"
                )));
            }
        };
        Ok(TlsPem { ca, identity })
    }

    /// A rustls client configuration: the configured (or bundled) roots, the client
    /// certificate if any, the `ring` provider and its safe default protocol versions.
    #[cfg(feature = "jetstream")]
    pub(crate) fn client_config(
        &self,
        store: &str,
    ) -> Result<std::sync::Arc<rustls::ClientConfig>, AdapterError> {
        let pem = self.read(store)?;
        let mut roots = rustls::RootCertStore::empty();
        match (&pem.ca, &self.ca_file) {
            (Some(ca), Some(path)) => {
                roots.add_parsable_certificates(certificates(ca, path, store, "ca_file")?);
            }
            _ => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| AdapterError::config(format!("{store} tls: {e}")))?
            .with_root_certificates(roots);
        let config = match (&pem.identity, &self.cert_file, &self.key_file) {
            (Some((cert, key)), Some(cert_path), Some(key_path)) => builder
                .with_client_auth_cert(
                    certificates(cert, cert_path, store, "cert_file")?,
                    private_key(key, key_path, store)?,
                )
                .map_err(|e| {
                    AdapterError::config(format!(
                        "{store} tls: cert_file {} and key_file {} do not make a client \
                         identity: {e}",
                        cert_path.display(),
                        key_path.display()
                    ))
                })?,
            _ => builder.with_no_client_auth(),
        };
        Ok(std::sync::Arc::new(config))
    }
}

fn certificates(
    pem: &[u8],
    path: &Path,
    store: &str,
    what: &str,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, AdapterError> {
    use rustls::pki_types::pem::PemObject;
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            AdapterError::config(format!(
                "{store} tls {what} {}: not PEM certificates: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(AdapterError::config(format!(
            "{store} tls {what} {}: holds no certificate",
            path.display()
        )));
    }
    Ok(certs)
}

fn private_key(
    pem: &[u8],
    path: &Path,
    store: &str,
) -> Result<rustls::pki_types::PrivateKeyDer<'static>, AdapterError> {
    use rustls::pki_types::pem::PemObject;
    // The parser's message could quote the key's bytes; only the path is shown.
    rustls::pki_types::PrivateKeyDer::from_pem_slice(pem).map_err(|_| {
        AdapterError::config(format!(
            "{store} tls key_file {}: holds no PEM private key",
            path.display()
        ))
    })
}

/// The cause of a failed TLS handshake in words, from a rustls error's text (the Redis
/// client hands it over only as text). `None` when the text is no TLS failure.
/// `client_cert` says whether a client certificate was presented: servers answer a
/// missing one with different alerts (`CertificateRequired`, `BadCertificate`).
pub(crate) fn explain_tls_failure(detail: &str, client_cert: bool) -> Option<&'static str> {
    const NO_CLIENT_CERT: [&str; 3] = ["CertificateRequired", "BadCertificate", "HandshakeFailure"];
    if !client_cert && NO_CLIENT_CERT.iter().any(|alert| detail.contains(alert)) {
        return Some("the server requires a client certificate (set tls cert_file and key_file)");
    }
    const CAUSES: &[(&str, &str)] = &[
        (
            "UnknownIssuer",
            "the server's certificate is not signed by a trusted CA (check tls ca_file)",
        ),
        ("Expired", "the server's certificate has expired"),
        (
            "certificate expired",
            "the server's certificate has expired",
        ),
        ("NotValidYet", "the server's certificate is not valid yet"),
        ("not valid yet", "the server's certificate is not valid yet"),
        (
            "NotValidForName",
            "the server's certificate is not valid for the host name in the URL",
        ),
        (
            "not valid for name",
            "the server's certificate is not valid for the host name in the URL",
        ),
        ("BadEncoding", "the server's certificate is malformed"),
        (
            "CertificateRequired",
            "the server requires a client certificate (set tls cert_file and key_file)",
        ),
        (
            "BadCertificate",
            "the server rejected the client certificate",
        ),
        (
            "UnknownCA",
            "the server does not trust the client certificate's CA",
        ),
        (
            "HandshakeFailure",
            "the server refused the TLS handshake (a client certificate may be required)",
        ),
        (
            "InvalidContentType",
            "the server did not answer in TLS (is TLS enabled on that port?)",
        ),
        (
            "corrupt message",
            "the server did not answer in TLS (is TLS enabled on that port?)",
        ),
    ];
    CAUSES
        .iter()
        .find(|(needle, _)| detail.contains(needle))
        .map(|(_, cause)| *cause)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_half_configured_files_are_named() {
        let err = TlsFiles::with_ca("/nonexistent/ca.pem")
            .read("nats")
            .err()
            .unwrap();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        let half = TlsFiles {
            cert_file: Some("c.pem".into()),
            ..TlsFiles::default()
        };
        let err = half.read("redis").err().unwrap();
        assert!(err.to_string().contains("go together"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let bogus = dir.path().join("ca.pem");
        std::fs::write(&bogus, "not a certificate").unwrap();
        let err = TlsFiles::with_ca(&bogus).read("redis").err().unwrap();
        assert!(err.to_string().contains("no certificate"), "{err}");
    }

    #[test]
    fn handshake_failures_get_a_cause() {
        let unknown = "invalid peer certificate: UnknownIssuer";
        assert!(
            explain_tls_failure(unknown, false)
                .unwrap()
                .contains("ca_file")
        );
        let alert = "received fatal alert: BadCertificate";
        assert!(
            explain_tls_failure(alert, false)
                .unwrap()
                .contains("requires a client")
        );
        assert!(
            explain_tls_failure(alert, true)
                .unwrap()
                .contains("rejected the client")
        );
        assert_eq!(explain_tls_failure("connection refused", false), None);
    }
}
