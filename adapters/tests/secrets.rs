//! No secret shows in `Debug` output or in an error, for every kind of secret: passwords
//! and tokens in URLs or given as values, NKey seeds, `.creds` files, TLS key files.

use corelane_adapters::{
    JetStreamAdapter, JetStreamConfig, RedisAdapter, RedisConfig, Secret, TlsFiles,
};

const PASSWORD: &str = "pa55-w0rd-xyz";
const TOKEN: &str = "t0ken-abc-123";

/// Every text a user may see about `config`: its Debug form, the adapter's, and the
/// error of building it when it fails.
fn texts<C: std::fmt::Debug + Clone, A: std::fmt::Debug, E: std::fmt::Display>(
    config: &C,
    build: impl Fn(C) -> Result<A, E>,
) -> Vec<String> {
    let mut out = vec![format!("{config:?}"), format!("{config:#?}")];
    match build(config.clone()) {
        Ok(adapter) => out.push(format!("{adapter:?}")),
        Err(e) => out.push(e.to_string()),
    }
    out
}

fn assert_hidden(texts: &[String], secrets: &[&str]) {
    for text in texts {
        for secret in secrets {
            assert!(!text.contains(secret), "{secret:?} shows in {text}");
        }
    }
}

#[test]
fn redis_passwords_never_show() {
    let seen = texts(
        &RedisConfig::new(format!("redis://alice:{PASSWORD}@127.0.0.1:1")),
        RedisAdapter::new,
    );
    assert_hidden(&seen, &[PASSWORD]);
    let mut c = RedisConfig::new(format!("rediss://:{PASSWORD}@127.0.0.1:1"));
    c.password = Some(Secret::Value(PASSWORD.into()));
    assert_hidden(&texts(&c, RedisAdapter::new), &[PASSWORD]);
    let mut c = RedisConfig::new(format!("redis://:{PASSWORD}@127.0.0.1:1"));
    c.tls = Some(TlsFiles::with_ca("/nonexistent/ca.pem"));
    assert_hidden(&texts(&c, RedisAdapter::new), &[PASSWORD]);
}

#[test]
fn nats_tokens_passwords_seeds_and_creds_never_show() {
    let user = nkeys::KeyPair::new_user();
    let seed = user.seed().unwrap();
    let dir = tempfile::tempdir().unwrap();

    let url_token = JetStreamConfig::new(format!("nats://{TOKEN}@127.0.0.1:1"));
    let url_password = JetStreamConfig::new(format!("nats://bob:{PASSWORD}@127.0.0.1:1"));
    let mut values = JetStreamConfig::new("nats://127.0.0.1:1");
    values.token = Some(Secret::Value(TOKEN.into()));
    values.password = Some(Secret::Value(PASSWORD.into()));
    values.nkey_seed = Some(Secret::Value(seed.clone()));
    let mut seed_only = JetStreamConfig::new("tls://127.0.0.1:1");
    seed_only.nkey_seed = Some(Secret::Value(seed.clone()));
    // A seed with one character changed is invalid; the error must not quote it.
    let mut bad_seed = seed_only.clone();
    let broken = format!("{}X", &seed[..seed.len() - 1]);
    bad_seed.nkey_seed = Some(Secret::Value(broken.clone()));
    let creds = dir.path().join("user.creds");
    std::fs::write(
        &creds,
        format!(
            "-----BEGIN NATS USER JWT-----\n{TOKEN}\n------END NATS USER JWT------\n\
             -----BEGIN USER NKEY SEED-----\n{broken}\n------END USER NKEY SEED------\n"
        ),
    )
    .unwrap();
    let mut bad_creds = JetStreamConfig::new("nats://127.0.0.1:1");
    bad_creds.creds_file = Some(creds);

    for config in [
        url_token,
        url_password,
        values,
        seed_only,
        bad_seed,
        bad_creds,
    ] {
        let seen = texts(&config, JetStreamAdapter::new);
        assert_hidden(&seen, &[TOKEN, PASSWORD, &seed, &broken]);
    }
}
