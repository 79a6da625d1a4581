//! Fuzzes the NATS protocol parser: any bytes, split anywhere, must parse without a
//! panic, never consume more than it was given, and give the same operations whether
//! fed whole or in two pieces.
#![no_main]

use corelane_adapters::nats_proto::{ServerOp, parse};
use libfuzzer_sys::fuzz_target;

fn parse_all(chunks: &[&[u8]]) -> (Vec<ServerOp>, bool) {
    let mut buf = Vec::new();
    let mut ops = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match parse(&buf) {
                Ok(Some((op, used))) => {
                    assert!(used > 0 && used <= buf.len());
                    ops.push(op);
                    buf.drain(..used);
                }
                Ok(None) => break,
                Err(_) => return (ops, true),
            }
        }
    }
    (ops, false)
}

fuzz_target!(|data: &[u8]| {
    let (whole, whole_failed) = parse_all(&[data]);
    if data.len() > 1 {
        let cut = data[0] as usize % data.len();
        let (split, split_failed) = parse_all(&[&data[..cut], &data[cut..]]);
        if !whole_failed && !split_failed {
            assert_eq!(whole, split);
        }
    }
});
