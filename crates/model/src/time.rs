//! UTC instants.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A UTC instant in microseconds since the Unix epoch.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Ts(pub i64);

impl Ts {
    /// From whole seconds since the epoch.
    pub fn from_secs(secs: i64) -> Ts {
        Ts(secs.saturating_mul(1_000_000))
    }

    /// Whole seconds since the epoch (rounded down).
    pub fn secs(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// As a `jiff` timestamp (clamped to jiff's range).
    pub fn to_jiff(self) -> jiff::Timestamp {
        jiff::Timestamp::from_microsecond(self.0).unwrap_or(if self.0 < 0 {
            jiff::Timestamp::MIN
        } else {
            jiff::Timestamp::MAX
        })
    }

    /// From a `jiff` timestamp.
    pub fn from_jiff(t: jiff::Timestamp) -> Ts {
        Ts(t.as_microsecond())
    }

    /// RFC 3339 in UTC, `Z` suffix, sub-seconds only when present.
    pub fn to_rfc3339(self) -> String {
        self.to_jiff().to_string()
    }
}

impl fmt::Display for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}
