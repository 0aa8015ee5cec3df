//! Statuses of recipients, messages and delivery attempts.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Final (or current) status of a recipient or a message.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Accepted into the queue, no delivery attempt logged yet.
    #[default]
    Queued,
    /// Accepted by the next hop or the local mailbox.
    Delivered,
    /// Temporary failure; the MTA will try again.
    Deferred,
    /// Permanent failure; a non-delivery notification goes back to the sender.
    Bounced,
    /// Gave up after the maximal queue lifetime.
    Expired,
    /// Refused by the receiving server (no queue file, or rejected by a content check).
    Rejected,
    /// Put on hold (header/body check or `postsuper -h`).
    Held,
    /// Silently discarded (check action or the discard agent).
    Discarded,
    /// Deleted from the queue by an administrator (`postsuper -d`).
    Removed,
}

impl Status {
    /// Every status, in display order.
    pub const ALL: [Status; 9] = [
        Status::Delivered,
        Status::Deferred,
        Status::Bounced,
        Status::Expired,
        Status::Rejected,
        Status::Queued,
        Status::Held,
        Status::Discarded,
        Status::Removed,
    ];

    /// The lower-case name used in the CLI, JSON and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Delivered => "delivered",
            Status::Deferred => "deferred",
            Status::Bounced => "bounced",
            Status::Expired => "expired",
            Status::Rejected => "rejected",
            Status::Held => "held",
            Status::Discarded => "discarded",
            Status::Removed => "removed",
        }
    }

    /// Is this a final status (nothing more will happen to the recipient)?
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Queued | Status::Deferred | Status::Held)
    }

    /// How much a postmaster needs to look at it; the message status is its worst recipient's.
    fn severity(self) -> u8 {
        match self {
            Status::Delivered => 0,
            Status::Discarded => 1,
            Status::Removed => 2,
            Status::Queued => 3,
            Status::Held => 4,
            Status::Deferred => 5,
            Status::Expired => 6,
            Status::Bounced => 7,
            Status::Rejected => 8,
        }
    }

    /// The status of a message: the most severe of its recipients' statuses
    /// (rejected > bounced > expired > deferred > held > queued > removed > discarded > delivered),
    /// or `fallback` when it has no recipients yet.
    ///
    /// So a message with one delivered and one bounced recipient is `bounced`: it needs attention.
    pub fn summarize(statuses: impl IntoIterator<Item = Status>, fallback: Status) -> Status {
        statuses
            .into_iter()
            .max_by_key(|s| s.severity())
            .unwrap_or(fallback)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not one of [`Status::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseStatusError(pub String);

impl fmt::Display for ParseStatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown status {:?} (expected one of delivered, deferred, bounced, expired, rejected, queued, held, discarded, removed)",
            self.0
        )
    }
}

impl std::error::Error for ParseStatusError {}

impl FromStr for Status {
    type Err = ParseStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .or(match s.as_str() {
                "sent" => Some(Status::Delivered),
                "reject" => Some(Status::Rejected),
                _ => None,
            })
            .ok_or(ParseStatusError(s))
    }
}

/// What a delivery agent logged in `status=` for one attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptStatus {
    /// `status=sent`.
    #[default]
    Sent,
    /// `status=deferred`.
    Deferred,
    /// `status=bounced`.
    Bounced,
    /// `status=expired` (`returned to sender`).
    Expired,
    /// `status=undeliverable` (address verification probe).
    Undeliverable,
    /// `status=deliverable` (address verification probe).
    Deliverable,
}

impl AttemptStatus {
    /// Parse the word Postfix logs after `status=`.
    pub fn from_postfix(word: &str) -> Option<Self> {
        Some(match word {
            "sent" => AttemptStatus::Sent,
            "deferred" => AttemptStatus::Deferred,
            "bounced" => AttemptStatus::Bounced,
            "expired" => AttemptStatus::Expired,
            "undeliverable" => AttemptStatus::Undeliverable,
            "deliverable" => AttemptStatus::Deliverable,
            _ => return None,
        })
    }

    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Sent => "sent",
            AttemptStatus::Deferred => "deferred",
            AttemptStatus::Bounced => "bounced",
            AttemptStatus::Expired => "expired",
            AttemptStatus::Undeliverable => "undeliverable",
            AttemptStatus::Deliverable => "deliverable",
        }
    }

    /// The recipient status this attempt leaves behind.
    ///
    /// Address-verification probes (`deliverable`/`undeliverable`) deliver nothing; they map to
    /// `Delivered`/`Bounced` so that the probe's own record reads naturally.
    pub fn recipient_status(self) -> Status {
        match self {
            AttemptStatus::Sent | AttemptStatus::Deliverable => Status::Delivered,
            AttemptStatus::Deferred => Status::Deferred,
            AttemptStatus::Bounced | AttemptStatus::Undeliverable => Status::Bounced,
            AttemptStatus::Expired => Status::Expired,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
        }
        assert!("nope".parse::<Status>().is_err());
    }

    #[test]
    fn message_status_is_the_most_severe() {
        use Status::*;
        assert_eq!(
            Status::summarize([Delivered, Bounced, Deferred], Queued),
            Bounced
        );
        assert_eq!(Status::summarize([Delivered, Deferred], Queued), Deferred);
        assert_eq!(Status::summarize([], Held), Held);
    }
}
