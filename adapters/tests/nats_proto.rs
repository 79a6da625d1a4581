//! The NATS protocol parser: a valid server byte stream parses to the same operations
//! however it is split into reads.

use corelane_adapters::nats_proto::{Msg, ServerOp, parse};
use proptest::prelude::*;

fn op_bytes(op: &ServerOp) -> Vec<u8> {
    match op {
        ServerOp::Info(j) => format!("INFO {j}\r\n").into_bytes(),
        ServerOp::Ping => b"PING\r\n".to_vec(),
        ServerOp::Pong => b"PONG\r\n".to_vec(),
        ServerOp::Ok => b"+OK\r\n".to_vec(),
        ServerOp::Err(e) => format!("-ERR '{e}'\r\n").into_bytes(),
        ServerOp::Msg(m) => {
            let reply = m
                .reply
                .as_ref()
                .map(|r| format!(" {r}"))
                .unwrap_or_default();
            let mut out = if m.headers.is_empty() {
                format!("MSG {} {}{reply} {}\r\n", m.subject, m.sid, m.payload.len()).into_bytes()
            } else {
                format!(
                    "HMSG {} {}{reply} {} {}\r\n",
                    m.subject,
                    m.sid,
                    m.headers.len(),
                    m.headers.len() + m.payload.len()
                )
                .into_bytes()
            };
            out.extend_from_slice(&m.headers);
            out.extend_from_slice(&m.payload);
            out.extend_from_slice(b"\r\n");
            out
        }
    }
}

fn arb_op() -> impl Strategy<Value = ServerOp> {
    let subject = "[a-z][a-z0-9.]{0,12}";
    prop_oneof![
        Just(ServerOp::Ping),
        Just(ServerOp::Pong),
        Just(ServerOp::Ok),
        "[a-z ]{1,20}"
            .prop_map(|e| ServerOp::Err(e.trim().to_string()))
            .prop_filter("non-empty", |o| *o != ServerOp::Err(String::new())),
        "[a-z0-9]{1,10}".prop_map(|s| ServerOp::Info(format!("{{\"server_id\":\"{s}\"}}"))),
        (
            subject,
            1u64..1000,
            proptest::option::of("_INBOX\\.[a-z0-9]{1,8}"),
            proptest::collection::vec(any::<u8>(), 0..300),
            proptest::option::of("[A-Za-z-]{1,10}")
        )
            .prop_map(|(subject, sid, reply, payload, header)| {
                let headers = header
                    .map(|h| format!("NATS/1.0\r\n{h}: v\r\n\r\n").into_bytes())
                    .unwrap_or_default();
                ServerOp::Msg(Msg {
                    subject,
                    sid,
                    reply,
                    headers,
                    payload,
                })
            }),
    ]
}

/// Feeds `chunks` to the parser as a reader would: append, parse what is whole, keep the rest.
fn parse_in_chunks(chunks: &[&[u8]]) -> Vec<ServerOp> {
    let mut buf = Vec::new();
    let mut ops = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some((op, used)) = parse(&buf).expect("valid stream") {
            ops.push(op);
            buf.drain(..used);
        }
    }
    assert!(buf.is_empty(), "{} bytes left unparsed", buf.len());
    ops
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn random_splits_parse_identically(
        ops in proptest::collection::vec(arb_op(), 1..30),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        let stream: Vec<u8> = ops.iter().flat_map(op_bytes).collect();
        let whole = parse_in_chunks(&[&stream]);
        prop_assert_eq!(&whole, &ops);
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.sort_unstable();
        points.dedup();
        let mut chunks = Vec::new();
        let mut last = 0;
        for p in points {
            chunks.push(&stream[last..p]);
            last = p;
        }
        chunks.push(&stream[last..]);
        prop_assert_eq!(parse_in_chunks(&chunks), ops);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut rest = bytes.as_slice();
        while let Ok(Some((_, used))) = parse(rest) {
            prop_assert!(used > 0 && used <= rest.len());
            rest = &rest[used..];
        }
    }
}
