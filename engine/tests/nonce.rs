//! The producer nonce file.

mod common;

use std::time::Duration;

use corelane::adapters::MemoryAdapter;
use corelane::testing::load_or_create_nonce;
use corelane::{BuildError, NonceError};

#[test]
fn nonce_file_round_trip_and_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nonce");
    let nonce = load_or_create_nonce(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 9);
    assert_eq!(bytes[0], 1, "version byte");
    assert_eq!(u64::from_le_bytes(bytes[1..].try_into().unwrap()), nonce);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(load_or_create_nonce(&path).unwrap(), nonce);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind");

    // A bus with the path uses it in every dedup id, across restarts.
    let store = MemoryAdapter::new();
    for _ in 0..2 {
        let bus = common::builder(1)
            .producer_nonce_path(&path)
            .build(store.clone())
            .unwrap();
        assert_eq!(bus.nonce(), nonce);
        bus.ingest_raw(b"x").unwrap();
        bus.flush(Duration::from_secs(10)).unwrap();
    }
    for e in store.events(0) {
        let id = e.dedup_id.unwrap();
        assert!(id.starts_with(&format!("{nonce:x}:0:")), "{id}");
    }
}

#[test]
fn corrupt_nonce_files_are_errors_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 3] = [
        ("short", &[1, 2, 3], "it is 3 bytes long, expected 9"),
        ("long", &[1; 12], "it is 12 bytes long, expected 9"),
        (
            "version",
            &[7, 0, 0, 0, 0, 0, 0, 0, 1],
            "version byte is 7, expected 1",
        ),
    ];
    for (name, contents, reason) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        match load_or_create_nonce(&path) {
            Err(NonceError::Corrupt { reason: r, .. }) => assert_eq!(r, reason),
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            contents,
            "{name} was replaced"
        );
        let err = common::builder(1)
            .producer_nonce_path(&path)
            .build(MemoryAdapter::new())
            .unwrap_err();
        assert!(matches!(err, BuildError::Nonce(_)));
        assert!(err.to_string().contains("is corrupt"), "{err}");
    }
    let missing_dir = dir.path().join("no/such/dir/nonce");
    assert!(matches!(
        load_or_create_nonce(&missing_dir),
        Err(NonceError::Io { .. })
    ));
}

#[test]
fn random_nonces_differ() {
    let a: std::collections::HashSet<u64> = (0..1000)
        .map(|_| corelane::testing::random_nonce())
        .collect();
    assert_eq!(a.len(), 1000);
}
