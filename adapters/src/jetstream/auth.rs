//! How a NATS client proves who it is, in the CONNECT options: a token, a user and
//! password, a user NKey that signs the server's nonce, or a `.creds` file (a user JWT
//! and the NKey seed that signs for it).
//!
//! Secrets are read when the adapter is created and live only here; nothing in this
//! file formats one into a message.

use std::path::Path;

use corelane_io::AdapterError;
use nkeys::{KeyPair, KeyPairType};

use crate::secret::{Secret, read_secret_file};

/// The credentials of a NATS connection.
pub(crate) enum Credentials {
    /// No authentication.
    Anonymous,
    /// `auth_token`.
    Token(String),
    /// `user` and `pass`.
    UserPassword(String, String),
    /// `nkey` (the public key) and `sig` (the signed nonce).
    NKey(KeyPair),
    /// `jwt` and `sig` (the nonce signed by the JWT's user key).
    Jwt(String, KeyPair),
}

impl Credentials {
    /// A user NKey from its seed.
    pub(crate) fn nkey(seed: &Secret) -> Result<Credentials, AdapterError> {
        let seed = seed.reveal("nats nkey seed")?;
        Ok(Credentials::NKey(user_key(&seed, "nats nkey seed")?))
    }

    /// The user JWT and seed of a `.creds` file.
    pub(crate) fn creds_file(path: &Path) -> Result<Credentials, AdapterError> {
        let what = format!("nats creds file {}", path.display());
        let text = read_secret_file(path, &what)?;
        let (jwt, seed) =
            parse_creds(&text).map_err(|why| AdapterError::config(format!("{what}: {why}")))?;
        Ok(Credentials::Jwt(jwt.to_string(), user_key(seed, &what)?))
    }

    /// Adds the credentials to the CONNECT `options`, signing the server's `nonce`.
    pub(crate) fn apply(
        &self,
        options: &mut serde_json::Value,
        nonce: Option<&str>,
        shown: &str,
    ) -> Result<(), AdapterError> {
        let sign = |key: &KeyPair| -> Result<String, AdapterError> {
            let nonce = nonce.ok_or_else(|| {
                AdapterError::config(format!(
                    "nats {shown}: NKey credentials are configured but the server sent no \
                     nonce (it has no NKey or JWT users)"
                ))
            })?;
            let signature = key
                .sign(nonce.as_bytes())
                .map_err(|_| AdapterError::config(format!("nats {shown}: the NKey cannot sign")))?;
            Ok(base64url(&signature))
        };
        match self {
            Credentials::Anonymous => {}
            Credentials::Token(token) => options["auth_token"] = token.as_str().into(),
            Credentials::UserPassword(user, password) => {
                options["user"] = user.as_str().into();
                options["pass"] = password.as_str().into();
            }
            Credentials::NKey(key) => {
                options["nkey"] = key.public_key().into();
                options["sig"] = sign(key)?.into();
            }
            Credentials::Jwt(jwt, key) => {
                options["jwt"] = jwt.as_str().into();
                options["sig"] = sign(key)?.into();
            }
        }
        Ok(())
    }
}

/// A user key pair from an encoded seed (`SU…`); the error never quotes the seed.
fn user_key(seed: &str, what: &str) -> Result<KeyPair, AdapterError> {
    match KeyPair::from_seed(seed.trim()) {
        Ok(key) if key.key_pair_type() == KeyPairType::User => Ok(key),
        Ok(_) => Err(AdapterError::config(format!(
            "{what}: the seed is not a user NKey seed (it should start with SU)"
        ))),
        Err(_) => Err(AdapterError::config(format!(
            "{what}: not a valid NKey seed"
        ))),
    }
}

/// The JWT and the seed of a decorated `.creds` file: the first block framed by
/// `-----BEGIN …-----` / `------END …------` lines is the JWT, the second the seed.
fn parse_creds(text: &str) -> Result<(&str, &str), &'static str> {
    let mut blocks = Vec::with_capacity(2);
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line.starts_with("---") && line.contains("BEGIN") {
            let body = lines
                .by_ref()
                .take_while(|l| !(l.starts_with("---") && l.contains("END")))
                .find(|l| !l.is_empty());
            blocks.push(body.ok_or("a BEGIN block is empty")?);
            if blocks.len() == 2 {
                return Ok((blocks[0], blocks[1]));
            }
        }
    }
    Err("expected a user JWT block and an NKey seed block")
}

/// Base64 with the URL alphabet and no padding, as NATS expects signatures.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_has_no_padding_and_the_url_alphabet() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn creds_files_yield_jwt_and_seed_and_nkeys_sign_the_nonce() {
        let user = KeyPair::new_user();
        let seed = user.seed().unwrap();
        let text = format!(
            "-----BEGIN NATS USER JWT-----\neyJhbGciOi.payload.sig\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
        );
        let (jwt, found) = parse_creds(&text).unwrap();
        assert_eq!((jwt, found), ("eyJhbGciOi.payload.sig", seed.as_str()));
        assert!(parse_creds("just text").is_err());

        let creds = Credentials::NKey(user_key(&seed, "seed").unwrap());
        let mut options = serde_json::json!({});
        creds
            .apply(&mut options, Some("n0nce"), "nats://h:1")
            .unwrap();
        assert_eq!(options["nkey"], user.public_key());
        let sig = options["sig"].as_str().unwrap();
        assert!(!sig.contains('=') && !sig.contains('+') && !sig.contains('/'));
        let err = creds.apply(&mut options, None, "nats://h:1").unwrap_err();
        assert!(err.to_string().contains("no nonce"), "{err}");
    }

    #[test]
    fn bad_seeds_are_refused_without_quoting_them() {
        let err = user_key("SUNOTASEED", "nats nkey seed").err().unwrap();
        assert!(!err.to_string().contains("SUNOTASEED"), "{err}");
        let account = KeyPair::new_account().seed().unwrap();
        let err = user_key(&account, "nats nkey seed").err().unwrap();
        assert!(err.to_string().contains("not a user NKey seed"), "{err}");
        assert!(!err.to_string().contains(&account), "{err}");
    }
}
