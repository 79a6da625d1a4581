//! A NATS operator for tests of decentralised authentication: an operator, an account
//! with JetStream, and user `.creds` files, each a JWT signed with ed25519 NKeys as the
//! NATS JWT format prescribes (header `{"typ":"JWT","alg":"ed25519-nkey"}`, claims with
//! `iss`/`sub` public keys and a `nats` object, base64url without padding). Written
//! here, independently of the client under test, with the `base64` crate.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nkeys::KeyPair;
use serde_json::{Value, json};

/// An operator and one account with JetStream, for a `nats-server` in operator mode
/// with a memory resolver.
pub struct NatsOperator {
    operator: KeyPair,
    account: KeyPair,
    /// The system account JetStream needs for its internal subscriptions.
    system: KeyPair,
}

impl std::fmt::Debug for NatsOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsOperator")
            .field("operator", &self.operator.public_key())
            .field("account", &self.account.public_key())
            .field("system", &self.system.public_key())
            .finish()
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A signed JWT with `claims`, issued by `issuer`.
fn sign(issuer: &KeyPair, mut claims: Value) -> String {
    claims["iat"] = now().into();
    claims["iss"] = issuer.public_key().into();
    claims["jti"] = format!("corelane-test-{}", claims["sub"].as_str().unwrap_or("")).into();
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{body}");
    let signature = issuer.sign(signed.as_bytes()).expect("an NKey signs");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// A decorated `.creds` file: the user JWT, then the user's seed.
fn creds(jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
    )
}

impl Default for NatsOperator {
    fn default() -> Self {
        Self::new()
    }
}

impl NatsOperator {
    /// A fresh operator and account.
    pub fn new() -> NatsOperator {
        NatsOperator {
            operator: KeyPair::new_operator(),
            account: KeyPair::new_account(),
            system: KeyPair::new_account(),
        }
    }

    fn operator_jwt(&self) -> String {
        let op = self.operator.public_key();
        sign(
            &self.operator,
            json!({"sub": op, "name": "corelane-test-operator",
                   "nats": {"type": "operator", "version": 2}}),
        )
    }

    fn account_jwt(&self) -> String {
        sign(
            &self.operator,
            json!({"sub": self.account.public_key(), "name": "corelane-test-account",
                   "nats": {"type": "account", "version": 2,
                            "limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1,
                                       "exports": -1, "wildcards": true, "conn": -1, "leaf": -1,
                                       "mem_storage": -1, "disk_storage": -1, "streams": -1,
                                       "consumer": -1}}}),
        )
    }

    fn system_jwt(&self) -> String {
        sign(
            &self.operator,
            json!({"sub": self.system.public_key(), "name": "SYS",
                   "nats": {"type": "account", "version": 2}}),
        )
    }

    /// The server configuration lines: the operator, the system account, and both
    /// accounts preloaded into a memory resolver.
    pub fn server_config(&self) -> String {
        format!(
            "operator: \"{}\"\nsystem_account: {}\nresolver: MEMORY\n\
             resolver_preload: {{\n  {}: \"{}\"\n  {}: \"{}\"\n}}\n",
            self.operator_jwt(),
            self.system.public_key(),
            self.account.public_key(),
            self.account_jwt(),
            self.system.public_key(),
            self.system_jwt()
        )
    }

    /// The `.creds` text of a new user of the account.
    pub fn user_creds(&self, name: &str) -> String {
        user_of(&self.account, name)
    }

    /// The `.creds` text of a user of an account this operator never signed.
    pub fn stranger_creds(&self, name: &str) -> String {
        user_of(&KeyPair::new_account(), name)
    }
}

fn user_of(account: &KeyPair, name: &str) -> String {
    let user = KeyPair::new_user();
    let jwt = sign(
        account,
        json!({"sub": user.public_key(), "name": name,
               "nats": {"type": "user", "version": 2, "pub": {}, "sub": {},
                        "subs": -1, "data": -1, "payload": -1}}),
    );
    creds(&jwt, &user.seed().expect("a generated key has a seed"))
}
