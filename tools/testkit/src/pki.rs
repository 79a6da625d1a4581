//! Certificates for TLS tests, made fresh by each test with rcgen: a CA, a server
//! certificate for `localhost` and `127.0.0.1`, a client certificate, and the broken
//! ones a client must refuse (another CA, expired, issued for another name). Every file
//! is PEM in a temporary directory, keys with mode 0600.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A certificate file and its key file.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, PKCS#8, mode 0600).
    pub key: PathBuf,
}

/// The files of a test PKI.
#[derive(Debug)]
pub struct TestPki {
    /// The directory holding every file (removed on drop).
    pub dir: tempfile::TempDir,
    /// The CA that signed `server`, `client`, `expired` and `wrong_name`.
    pub ca: PathBuf,
    /// A CA that signed nothing here: trusting it must fail every handshake.
    pub other_ca: PathBuf,
    /// Server certificate for `localhost` and `127.0.0.1`.
    pub server: CertFiles,
    /// Client certificate (for mutual TLS).
    pub client: CertFiles,
    /// Server certificate for the right names that expired in 2001.
    pub expired: CertFiles,
    /// Server certificate valid only for `elsewhere.invalid`.
    pub wrong_name: CertFiles,
    /// Client certificate signed by `other_ca`, which servers do not trust.
    pub untrusted_client: CertFiles,
}

struct Ca {
    cert: Certificate,
    key: KeyPair,
}

fn make_ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).unwrap();
    Ca { cert, key }
}

fn write(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

impl TestPki {
    /// A fresh PKI in a temporary directory.
    pub fn new() -> TestPki {
        let dir = tempfile::tempdir().unwrap();
        let ca = make_ca("corelane test CA");
        let other = make_ca("corelane other CA");
        let issue = |name: &str, sans: &[&str], server: bool, expired: bool, by: &Ca| {
            let key = KeyPair::generate().unwrap();
            let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
            let mut params = CertificateParams::new(sans).unwrap();
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = vec![if server {
                ExtendedKeyUsagePurpose::ServerAuth
            } else {
                ExtendedKeyUsagePurpose::ClientAuth
            }];
            if expired {
                params.not_before = rcgen::date_time_ymd(2000, 1, 1);
                params.not_after = rcgen::date_time_ymd(2001, 1, 1);
            }
            let cert = params.signed_by(&key, &by.cert, &by.key).unwrap();
            let files = CertFiles {
                cert: dir.path().join(format!("{name}.pem")),
                key: dir.path().join(format!("{name}-key.pem")),
            };
            write(&files.cert, &cert.pem(), 0o644);
            write(&files.key, &key.serialize_pem(), 0o600);
            files
        };
        let names = ["localhost", "127.0.0.1"];
        let server = issue("server", &names, true, false, &ca);
        let client = issue("client", &["corelane-client"], false, false, &ca);
        let expired = issue("expired", &names, true, true, &ca);
        let wrong_name = issue("wrong-name", &["elsewhere.invalid"], true, false, &ca);
        let untrusted_client = issue(
            "untrusted-client",
            &["corelane-client"],
            false,
            false,
            &other,
        );
        let ca_path = dir.path().join("ca.pem");
        let other_ca = dir.path().join("other-ca.pem");
        write(&ca_path, &ca.cert.pem(), 0o644);
        write(&other_ca, &other.cert.pem(), 0o644);
        TestPki {
            dir,
            ca: ca_path,
            other_ca,
            server,
            client,
            expired,
            wrong_name,
            untrusted_client,
        }
    }
}

impl Default for TestPki {
    fn default() -> Self {
        TestPki::new()
    }
}
