//! The file adapter's on-disk format (specified in `docs/adapters.md`).
//!
//! A segment is a 16-byte header followed by records:
//!
//! ```text
//! segment header: magic "CLSEG\0\0\x01" (8 bytes) | shard u32 LE | reserved u32 LE = 0
//! record:         len u32 LE | crc u32 LE | sequence u64 LE | insertion_ts u64 LE | payload[len]
//!                 crc = CRC32C(len LE ++ sequence LE ++ insertion_ts LE ++ payload)
//! ```

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Segment magic; the last byte is the format version.
pub(crate) const MAGIC: [u8; 8] = *b"CLSEG\0\0\x01";
/// Bytes before the first record of a segment.
pub(crate) const SEGMENT_HEADER_LEN: u64 = 16;
/// Bytes before a segment record's payload: len, crc, sequence and insertion_ts.
const SEGMENT_RECORD_HEADER_LEN: usize = 24;
/// Larger lengths are corruption, not records.
pub(crate) const MAX_PAYLOAD: usize = 1 << 30;

const READ_CHUNK: usize = 256 << 10;
/// Bytes read at a time while searching for the next valid record after damage.
const RESYNC_CHUNK: usize = 64 << 10;
/// A resynchronisation candidate whose sequence is this far past the last intact one is
/// taken for payload bytes that happen to look like a header.
const RESYNC_MAX_SEQ_JUMP: u64 = 1 << 40;

/// The header of a new segment of `shard`.
pub(crate) fn segment_header(shard: u32) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    h[..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&shard.to_le_bytes());
    h
}

/// Checks a segment header; the error says what is wrong.
pub(crate) fn check_segment_header(bytes: &[u8], shard: u32) -> Result<(), String> {
    if bytes.len() < SEGMENT_HEADER_LEN as usize {
        return Err(format!("header is {} bytes, expected 16", bytes.len()));
    }
    if bytes[..8] != MAGIC {
        return Err(format!("bad magic {:02x?}", &bytes[..8]));
    }
    let found = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if found != shard {
        return Err(format!(
            "segment belongs to shard {found}, found in shard {shard}"
        ));
    }
    Ok(())
}

fn record_crc(len: u32, sequence: u64, ts: u64, payload: &[u8]) -> u32 {
    let mut crc = crc32c::crc32c(&len.to_le_bytes());
    crc = crc32c::crc32c_append(crc, &sequence.to_le_bytes());
    crc = crc32c::crc32c_append(crc, &ts.to_le_bytes());
    crc32c::crc32c_append(crc, payload)
}

/// Appends one encoded record to `out`.
pub(crate) fn append_record(out: &mut Vec<u8>, sequence: u64, ts: u64, payload: &[u8]) {
    let len = payload.len() as u32;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&record_crc(len, sequence, ts, payload).to_le_bytes());
    out.extend_from_slice(&sequence.to_le_bytes());
    out.extend_from_slice(&ts.to_le_bytes());
    out.extend_from_slice(payload);
}

/// A decoded record, borrowed from the read buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordView<'a> {
    pub(crate) sequence: u64,
    pub(crate) insertion_ts: u64,
    pub(crate) payload: &'a [u8],
    /// Header plus payload.
    pub(crate) encoded_len: usize,
}

/// What the bytes at a record boundary hold.
#[derive(Debug)]
pub(crate) enum Parse<'a> {
    /// A whole, valid record.
    Record(RecordView<'a>),
    /// The record needs this many bytes in total; fewer are available.
    NeedMore(usize),
    /// Not a valid record.
    Corrupt(String),
}

/// Decodes the record at the start of `bytes`.
pub(crate) fn parse_record(bytes: &[u8]) -> Parse<'_> {
    if bytes.len() < SEGMENT_RECORD_HEADER_LEN {
        return Parse::NeedMore(SEGMENT_RECORD_HEADER_LEN);
    }
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
    let len = u32_at(0);
    if len as usize > MAX_PAYLOAD {
        return Parse::Corrupt(format!("record length {len} exceeds {MAX_PAYLOAD}"));
    }
    let total = SEGMENT_RECORD_HEADER_LEN + len as usize;
    if bytes.len() < total {
        return Parse::NeedMore(total);
    }
    let (sequence, ts) = (u64_at(8), u64_at(16));
    let payload = &bytes[SEGMENT_RECORD_HEADER_LEN..total];
    let stored = u32_at(4);
    let computed = record_crc(len, sequence, ts, payload);
    if stored != computed {
        return Parse::Corrupt(format!(
            "checksum mismatch (stored {stored:08x}, computed {computed:08x})"
        ));
    }
    Parse::Record(RecordView {
        sequence,
        insertion_ts: ts,
        payload,
        encoded_len: total,
    })
}

/// Why a scan stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanEnd {
    /// Reached `end` exactly at a record boundary.
    Clean,
    /// The callback asked to stop.
    Stopped,
    /// Bytes before `end` do not form a whole record (a torn write, or one in progress).
    Incomplete,
    /// A record failed validation.
    Corrupt(String),
}

/// Where a scan ended: the offset after the last record handed out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScanOutcome {
    pub(crate) next_offset: u64,
    pub(crate) end: ScanEnd,
}

/// Reads records of `file` from `start` (a record boundary) up to `end`, handing each
/// with its offset to `each`, which returns false to stop before taking it. `buf` is
/// scratch space, reused between scans.
pub(crate) fn scan(
    file: &File,
    start: u64,
    end: u64,
    buf: &mut Vec<u8>,
    mut each: impl FnMut(u64, RecordView<'_>) -> bool,
) -> io::Result<ScanOutcome> {
    buf.clear();
    let mut window_offset = start; // file offset of buf[0]
    let mut pos = 0usize; // next record within buf
    loop {
        let record_offset = window_offset + pos as u64;
        let need = match parse_record(&buf[pos..]) {
            Parse::Record(rec) => {
                if !each(record_offset, rec) {
                    return Ok(ScanOutcome {
                        next_offset: record_offset,
                        end: ScanEnd::Stopped,
                    });
                }
                pos += rec.encoded_len;
                continue;
            }
            Parse::Corrupt(why) => {
                return Ok(ScanOutcome {
                    next_offset: record_offset,
                    end: ScanEnd::Corrupt(why),
                });
            }
            Parse::NeedMore(need) => need,
        };
        // Refill: keep the partial record, read at least what it needs.
        let available_in_file = end.saturating_sub(record_offset) as usize;
        if available_in_file == buf.len() - pos {
            let end_kind = if available_in_file == 0 {
                ScanEnd::Clean
            } else {
                ScanEnd::Incomplete
            };
            return Ok(ScanOutcome {
                next_offset: record_offset,
                end: end_kind,
            });
        }
        buf.drain(..pos);
        window_offset = record_offset;
        pos = 0;
        let want = need.max(READ_CHUNK).min(available_in_file);
        let have = buf.len();
        buf.resize(want, 0);
        let read_from = window_offset + have as u64;
        let mut filled = have;
        while filled < want {
            let n = file.read_at(&mut buf[filled..want], read_from + (filled - have) as u64)?;
            if n == 0 {
                break; // the file is shorter than `end` says
            }
            filled += n;
        }
        buf.truncate(filled);
        if filled == have {
            return Ok(ScanOutcome {
                next_offset: record_offset,
                end: ScanEnd::Incomplete,
            });
        }
    }
}

/// Where reading resumes after damage at `from`: the first offset in `(from, end)` where
/// a whole record with a valid checksum starts whose sequence follows `after_seq`.
/// Returns the offset and that record's sequence.
///
/// Every byte offset is tried, so one flipped length or header byte costs only the
/// records it covers. The sequence bound keeps a payload that embeds an older record
/// from being taken for the continuation.
pub(crate) fn resync(
    file: &File,
    from: u64,
    end: u64,
    after_seq: Option<u64>,
) -> io::Result<Option<(u64, u64)>> {
    let min_seq = after_seq.map_or(0, |s| s.saturating_add(1));
    let mut window = Vec::new();
    let mut record = Vec::new();
    let mut window_start = from + 1;
    while window_start + SEGMENT_RECORD_HEADER_LEN as u64 <= end {
        let want = (end - window_start).min(RESYNC_CHUNK as u64) as usize;
        window.resize(want, 0);
        let got = read_up_to(file, &mut window, window_start)?;
        window.truncate(got);
        // Offsets whose 24-byte header lies inside the window; later ones are tried
        // at the start of the next window.
        let candidates = got.saturating_sub(SEGMENT_RECORD_HEADER_LEN - 1);
        if candidates == 0 {
            break;
        }
        for i in 0..candidates {
            let at = window_start + i as u64;
            if let Some(seq) = valid_record_at(file, &window[i..], at, end, min_seq, &mut record)? {
                return Ok(Some((at, seq)));
            }
        }
        window_start += candidates as u64;
    }
    Ok(None)
}

/// The sequence of the record at `at` (whose first bytes are `bytes`) when a whole valid
/// record with a plausible sequence starts there.
fn valid_record_at(
    file: &File,
    bytes: &[u8],
    at: u64,
    end: u64,
    min_seq: u64,
    record: &mut Vec<u8>,
) -> io::Result<Option<u64>> {
    let len = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
    let seq = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let total = SEGMENT_RECORD_HEADER_LEN + len;
    // Cheap plausibility checks before the checksum.
    if len > MAX_PAYLOAD
        || seq < min_seq
        || seq - min_seq > RESYNC_MAX_SEQ_JUMP
        || at + total as u64 > end
    {
        return Ok(None);
    }
    let whole = if total <= bytes.len() {
        &bytes[..total]
    } else {
        record.resize(total, 0);
        let got = read_up_to(file, record, at)?;
        &record[..got]
    };
    Ok(match parse_record(whole) {
        Parse::Record(rec) => Some(rec.sequence),
        _ => None,
    })
}

/// Fills `buf` from `offset`, stopping early at the end of the file.
fn read_up_to(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset + filled as u64)? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_detect_damage() {
        let mut out = Vec::new();
        append_record(&mut out, 7, 99, b"hello");
        let Parse::Record(r) = parse_record(&out) else {
            panic!("valid record rejected")
        };
        assert_eq!(
            (r.sequence, r.insertion_ts, r.payload, r.encoded_len),
            (7, 99, &b"hello"[..], 29)
        );
        assert!(matches!(parse_record(&out[..10]), Parse::NeedMore(24)));
        assert!(matches!(parse_record(&out[..28]), Parse::NeedMore(29)));
        for i in 0..out.len() {
            let mut bad = out.clone();
            bad[i] ^= 0x40;
            assert!(
                !matches!(parse_record(&bad), Parse::Record(_)),
                "flipped byte {i} went unnoticed"
            );
        }
        let header = segment_header(3);
        assert!(check_segment_header(&header, 3).is_ok());
        assert!(
            check_segment_header(&header, 4)
                .unwrap_err()
                .contains("shard 3")
        );
    }
}
