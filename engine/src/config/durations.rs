//! `Duration`s in JSON as whole numbers of the unit their key ends in: `millis` for `_ms`
//! keys, `micros` for `_us` keys (`#[serde(with = "crate::config::millis")]`).

/// A serde module for a `Duration` counted in one unit.
macro_rules! duration_in {
    ($module:ident, $whole:ident, $from:ident, $doc:literal) => {
        #[doc = $doc]
        pub(crate) mod $module {
            use std::time::Duration;

            use serde::{Deserialize, Deserializer, Serializer};

            pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_u64(d.$whole().min(u128::from(u64::MAX)) as u64)
            }

            pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
                d: D,
            ) -> Result<Duration, D::Error> {
                u64::deserialize(d).map(Duration::$from)
            }
        }
    };
}

duration_in!(
    millis,
    as_millis,
    from_millis,
    "Whole milliseconds (`_ms` keys)."
);
duration_in!(
    micros,
    as_micros,
    from_micros,
    "Whole microseconds (`_us` keys)."
);
