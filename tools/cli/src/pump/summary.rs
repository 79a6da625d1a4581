//! What `corelane pump` reports at the end: lines by outcome, events written and failed
//! by reason, retries; as a line on stderr or one JSON object on stdout.

use corelane::Stats;
use serde_json::{Value, json};

use super::LineCounts;

/// The end of a run: what the lines were and what the bus did with them.
pub(super) struct Summary<'a> {
    pub(super) counts: &'a LineCounts,
    /// The bus's statistics after shutdown.
    pub(super) stats: &'a Stats,
    /// Ctrl-C stopped the input.
    pub(super) interrupted: bool,
}

impl Summary<'_> {
    /// Why the run failed, if it did: a broken promise of the bus first, then what
    /// stopped the input (`stopped`), then events the store did not take.
    pub(super) fn failure(&self, stopped: Option<String>) -> Option<String> {
        let (ingested, stats) = (self.counts.ingested, self.stats);
        if stats.in_flight() != 0 || stats.written + stats.failed.total() != ingested {
            return Some(format!(
                "accounting mismatch: ingested {ingested}, written {}, failed {}",
                stats.written,
                stats.failed.total()
            ));
        }
        stopped.or_else(|| {
            (stats.failed.total() > 0)
                .then(|| format!("{} events could not be stored", stats.failed.total()))
        })
    }

    /// One line: `corelane pump: read 5 lines, ingested 3, bad 1, blank 1 (bad: invalid
    /// JSON 1, too large 0); written 3, failed 0, retries 0`.
    pub(super) fn text(&self) -> String {
        let c = self.counts;
        let s = self.stats;
        let reasons: Vec<String> = failed_by_reason(s)
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(reason, n)| format!("{reason} {n}"))
            .collect();
        let failed = if reasons.is_empty() {
            s.failed.total().to_string()
        } else {
            format!("{} ({})", s.failed.total(), reasons.join(", "))
        };
        format!(
            "corelane pump: read {} lines, ingested {}, bad {}, blank {} (bad: invalid JSON {}, too large {}); written {}, failed {failed}, retries {}{}",
            c.read,
            c.ingested,
            c.bad_json + c.too_large,
            c.blank,
            c.bad_json,
            c.too_large,
            s.written,
            s.retries,
            if self.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        )
    }

    /// The summary as one JSON object; `error` is why the run failed, if it did.
    pub(super) fn json(&self, error: Option<&str>) -> Value {
        let c = self.counts;
        let s = self.stats;
        let mut failed: serde_json::Map<String, Value> = failed_by_reason(s)
            .into_iter()
            .map(|(reason, n)| (reason.replace(' ', "_"), n.into()))
            .collect();
        failed.insert("total".into(), s.failed.total().into());
        json!({
            "lines": {
                "read": c.read,
                "ingested": c.ingested,
                "bad": c.bad_json + c.too_large,
                "invalid_json": c.bad_json,
                "too_large": c.too_large,
                "blank": c.blank,
            },
            "written": s.written,
            "failed": failed,
            "retries": s.retries,
            "batches_written": s.batches_written,
            "batches_failed": s.batches_failed,
            "interrupted": self.interrupted,
            "ok": error.is_none(),
            "error": error,
        })
    }
}

/// Failed events by reason, in the order of `corelane::Failed`.
fn failed_by_reason(stats: &Stats) -> [(&'static str, u64); 6] {
    let f = &stats.failed;
    [
        ("transient", f.transient),
        ("timeout", f.timeout),
        ("backpressure", f.backpressure),
        ("fatal", f.fatal),
        ("config", f.config),
        ("shutdown", f.shutdown),
    ]
}
