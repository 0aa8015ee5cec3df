//! The reject-reason taxonomy: why a server refused mail, in classes a postmaster acts on.
//!
//! A reason is classified from its SMTP reply code, enhanced status code and text, first rule
//! that matches wins (the order matters: "Client host rejected: ... blocked using
//! zen.spamhaus.org" is a blocklist hit, not a client rule). The classes are documented in
//! the README.

use serde::Serialize;

/// Why mail was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectClass {
    /// The client is on a DNS blocklist (RBL/DNSBL).
    Blocklist,
    /// Greylisting: try again later.
    Greylisting,
    /// The recipient does not exist.
    UnknownRecipient,
    /// Relaying denied: neither the recipient nor the client is local.
    RelayDenied,
    /// The sender's domain does not resolve.
    SenderDomainNotFound,
    /// SPF check failed.
    Spf,
    /// DKIM check failed.
    Dkim,
    /// DMARC policy.
    Dmarc,
    /// The message is larger than allowed.
    TooLarge,
    /// The client's name, address or HELO was refused.
    ClientOrHelo,
    /// Authentication failed or is required.
    Authentication,
    /// TLS required or failed.
    Tls,
    /// Spam or content policy (header/body checks, content filters).
    SpamContent,
    /// A local access rule refused the client, sender or recipient (`Access denied`).
    AccessPolicy,
    /// Rate or concurrency limits.
    RateLimit,
    /// Anything else.
    Other,
}

impl RejectClass {
    /// Every class, in report order.
    pub const ALL: [RejectClass; 16] = [
        RejectClass::Blocklist,
        RejectClass::Greylisting,
        RejectClass::UnknownRecipient,
        RejectClass::RelayDenied,
        RejectClass::SenderDomainNotFound,
        RejectClass::Spf,
        RejectClass::Dkim,
        RejectClass::Dmarc,
        RejectClass::TooLarge,
        RejectClass::ClientOrHelo,
        RejectClass::Authentication,
        RejectClass::Tls,
        RejectClass::SpamContent,
        RejectClass::AccessPolicy,
        RejectClass::RateLimit,
        RejectClass::Other,
    ];

    /// Its stable name (`unknown_recipient`...), as in JSON.
    pub fn key(self) -> &'static str {
        match self {
            RejectClass::Blocklist => "blocklist",
            RejectClass::Greylisting => "greylisting",
            RejectClass::UnknownRecipient => "unknown_recipient",
            RejectClass::RelayDenied => "relay_denied",
            RejectClass::SenderDomainNotFound => "sender_domain_not_found",
            RejectClass::Spf => "spf",
            RejectClass::Dkim => "dkim",
            RejectClass::Dmarc => "dmarc",
            RejectClass::TooLarge => "too_large",
            RejectClass::ClientOrHelo => "client_or_helo",
            RejectClass::Authentication => "authentication",
            RejectClass::Tls => "tls",
            RejectClass::SpamContent => "spam_content",
            RejectClass::AccessPolicy => "access_policy",
            RejectClass::RateLimit => "rate_limit",
            RejectClass::Other => "other",
        }
    }

    /// The class named `key`.
    pub fn from_key(key: &str) -> Option<RejectClass> {
        RejectClass::ALL.into_iter().find(|c| c.key() == key)
    }

    /// A short label.
    pub fn label(self) -> &'static str {
        match self {
            RejectClass::Blocklist => "blocklist (RBL)",
            RejectClass::Greylisting => "greylisting",
            RejectClass::UnknownRecipient => "unknown recipient",
            RejectClass::RelayDenied => "relaying denied",
            RejectClass::SenderDomainNotFound => "sender domain not found",
            RejectClass::Spf => "SPF",
            RejectClass::Dkim => "DKIM",
            RejectClass::Dmarc => "DMARC",
            RejectClass::TooLarge => "message too large",
            RejectClass::ClientOrHelo => "client or HELO denied",
            RejectClass::Authentication => "authentication",
            RejectClass::Tls => "TLS required/failed",
            RejectClass::SpamContent => "spam/content policy",
            RejectClass::AccessPolicy => "access policy",
            RejectClass::RateLimit => "rate limit",
            RejectClass::Other => "other",
        }
    }
}

/// Groups of words that [`classify`] looks for; each word may belong to several groups.
mod word {
    pub const BLOCKLIST: u32 = 1 << 0;
    pub const GREYLIST: u32 = 1 << 1;
    pub const DMARC: u32 = 1 << 2;
    pub const DKIM: u32 = 1 << 3;
    pub const SPF: u32 = 1 << 4;
    pub const UNKNOWN_RCPT: u32 = 1 << 5;
    pub const RCPT_REJECTED: u32 = 1 << 6;
    pub const NO_DOMAIN: u32 = 1 << 7;
    pub const RELAY: u32 = 1 << 8;
    pub const SENDER_DOMAIN: u32 = 1 << 9;
    pub const TOO_LARGE: u32 = 1 << 10;
    pub const TLS: u32 = 1 << 11;
    pub const AUTH: u32 = 1 << 12;
    pub const RATE: u32 = 1 << 13;
    pub const ACCESS_DENIED: u32 = 1 << 14;
    pub const CLIENT_REJECTED: u32 = 1 << 15;
    pub const CLIENT_OR_HELO: u32 = 1 << 16;
    pub const CONTENT: u32 = 1 << 17;
}

/// The words of [`classify`] (matched ignoring ASCII case) and their groups.
const WORDS: &[(&str, u32)] = {
    use word::*;
    &[
        ("blocked using", BLOCKLIST),
        ("blocklist", BLOCKLIST),
        ("blacklist", BLOCKLIST),
        ("dnsbl", BLOCKLIST),
        (" rbl", BLOCKLIST),
        ("spamhaus", BLOCKLIST),
        ("spamcop", BLOCKLIST),
        ("barracudacentral", BLOCKLIST),
        ("listed by", BLOCKLIST),
        ("listed at", BLOCKLIST),
        ("listed in", BLOCKLIST),
        ("greylist", GREYLIST),
        ("graylist", GREYLIST),
        ("grey-list", GREYLIST),
        ("gray-list", GREYLIST),
        ("postgrey", GREYLIST),
        ("dmarc", DMARC),
        ("dkim", DKIM),
        ("spf", SPF),
        ("sender policy framework", SPF),
        ("user unknown", UNKNOWN_RCPT),
        ("unknown user", UNKNOWN_RCPT),
        ("recipient unknown", UNKNOWN_RCPT),
        ("no such user", UNKNOWN_RCPT),
        ("mailbox unavailable", UNKNOWN_RCPT),
        ("mailbox not found", UNKNOWN_RCPT),
        ("address rejected: undeliverable", UNKNOWN_RCPT),
        ("does not exist", UNKNOWN_RCPT),
        ("invalid recipient", UNKNOWN_RCPT),
        ("unknown recipient", UNKNOWN_RCPT),
        ("recipient address rejected", RCPT_REJECTED),
        ("domain not found", NO_DOMAIN | SENDER_DOMAIN),
        ("host or domain name not found", NO_DOMAIN),
        ("relay access denied", RELAY),
        ("relaying denied", RELAY),
        ("relay not permitted", RELAY),
        ("not permitted to relay", RELAY),
        ("unable to relay", RELAY),
        ("sender address rejected: domain not found", SENDER_DOMAIN),
        ("sender domain", SENDER_DOMAIN),
        ("unresolvable", SENDER_DOMAIN),
        ("size exceeds", TOO_LARGE),
        ("too large", TOO_LARGE),
        ("too big", TOO_LARGE),
        ("exceeds size limit", TOO_LARGE),
        ("message size", TOO_LARGE),
        ("starttls", TLS),
        ("tls", TLS),
        ("encryption required", TLS),
        ("must issue a starttls", TLS),
        ("authentication", AUTH),
        ("sasl", AUTH),
        ("not authenticated", AUTH),
        ("auth ", AUTH),
        ("rate limit", RATE),
        ("too many", RATE),
        ("exceeded", RATE),
        ("try again later", RATE),
        ("slow down", RATE),
        ("throttl", RATE),
        ("concurrency", RATE),
        ("access denied", ACCESS_DENIED),
        ("client host rejected", CLIENT_REJECTED | CLIENT_OR_HELO),
        ("helo command rejected", CLIENT_REJECTED | CLIENT_OR_HELO),
        ("reverse hostname", CLIENT_OR_HELO),
        ("cannot find your hostname", CLIENT_OR_HELO),
        ("fully-qualified", CLIENT_OR_HELO),
        ("host name", CLIENT_OR_HELO),
        ("hostname", CLIENT_OR_HELO),
        ("helo", CLIENT_OR_HELO),
        ("ehlo", CLIENT_OR_HELO),
        ("spam", CONTENT),
        ("content", CONTENT),
        ("virus", CONTENT),
        ("malware", CONTENT),
        ("header", CONTENT),
        ("body", CONTENT),
        ("policy", CONTENT),
        ("phish", CONTENT),
        ("attachment", CONTENT),
    ]
};

/// The groups of [`WORDS`] found in `text`, in one pass.
fn word_groups(text: &str) -> u32 {
    static WORD_SET: std::sync::LazyLock<aho_corasick::AhoCorasick> =
        std::sync::LazyLock::new(|| {
            aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(WORDS.iter().map(|(w, _)| w))
                .expect("a small fixed word list")
        });
    WORD_SET
        .find_overlapping_iter(text)
        .fold(0, |g, m| g | WORDS[m.pattern().as_usize()].1)
}

/// Classify a refusal from its reply code, enhanced status code and text.
pub fn classify(code: Option<u16>, dsn: Option<&str>, text: &str) -> RejectClass {
    use word::*;
    let found = word_groups(text);
    let has = |group: u32| found & group != 0;
    if has(BLOCKLIST) {
        return RejectClass::Blocklist;
    }
    if has(GREYLIST) {
        return RejectClass::Greylisting;
    }
    if has(DMARC) {
        return RejectClass::Dmarc;
    }
    if has(DKIM) {
        return RejectClass::Dkim;
    }
    if has(SPF) {
        return RejectClass::Spf;
    }
    if has(UNKNOWN_RCPT) || dsn == Some("5.1.1") || (has(RCPT_REJECTED) && has(NO_DOMAIN)) {
        return RejectClass::UnknownRecipient;
    }
    if has(RELAY) {
        return RejectClass::RelayDenied;
    }
    if has(SENDER_DOMAIN) || matches!(dsn, Some("4.1.8" | "5.1.8")) {
        return RejectClass::SenderDomainNotFound;
    }
    if has(TOO_LARGE) || matches!(dsn, Some("5.3.4" | "5.2.3" | "4.3.4")) || code == Some(552) {
        return RejectClass::TooLarge;
    }
    if has(TLS) || matches!(dsn, Some("5.7.10" | "5.7.11")) {
        return RejectClass::Tls;
    }
    if has(AUTH) || matches!(dsn, Some("5.7.8" | "5.7.0" | "5.7.9")) {
        return RejectClass::Authentication;
    }
    if has(RATE) || matches!(dsn, Some("4.7.28" | "4.4.5")) || code == Some(421) {
        return RejectClass::RateLimit;
    }
    if has(ACCESS_DENIED) && !has(CLIENT_REJECTED) {
        return RejectClass::AccessPolicy;
    }
    if has(CLIENT_OR_HELO) {
        return RejectClass::ClientOrHelo;
    }
    if has(CONTENT) {
        return RejectClass::SpamContent;
    }
    RejectClass::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_reasons() {
        // Texts as Postfix and common policies write them (from the harness and the corpora).
        let cases: [(Option<u16>, Option<&str>, &str, RejectClass); 19] = [
            (Some(554), Some("5.7.1"), "<blocked27@ok.test>: Recipient address rejected: Access denied", RejectClass::AccessPolicy),
            (Some(554), Some("5.7.1"), "<spammer@bad.example>: Sender address rejected: Access denied", RejectClass::AccessPolicy),
            (Some(550), Some("5.1.2"), "<rcpt29@nowhere.test>: Recipient address rejected: Host or domain name not found", RejectClass::UnknownRecipient),
            (Some(554), Some("5.7.1"), "Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org", RejectClass::Blocklist),
            (Some(450), Some("4.7.1"), "<a@b.c>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/", RejectClass::Greylisting),
            (Some(550), Some("5.1.1"), "<nobody@ok.test>: Recipient address rejected: User unknown in virtual mailbox table", RejectClass::UnknownRecipient),
            (Some(554), Some("5.7.1"), "<x@relay.test>: Relay access denied", RejectClass::RelayDenied),
            (Some(450), Some("4.1.8"), "<a@nowhere.invalid>: Sender address rejected: Domain not found", RejectClass::SenderDomainNotFound),
            (Some(550), Some("5.7.23"), "Message rejected due to: SPF fail - not authorized", RejectClass::Spf),
            (Some(550), Some("5.7.20"), "No passing DKIM signature found", RejectClass::Dkim),
            (Some(550), Some("5.7.1"), "Unauthenticated email from example.com is not accepted due to domain's DMARC policy", RejectClass::Dmarc),
            (Some(552), Some("5.3.4"), "Message size exceeds fixed limit", RejectClass::TooLarge),
            (Some(504), Some("5.5.2"), "<localhost>: Helo command rejected: need fully-qualified hostname", RejectClass::ClientOrHelo),
            (Some(450), Some("4.7.1"), "Client host rejected: cannot find your hostname, [198.51.100.7]", RejectClass::ClientOrHelo),
            (Some(535), Some("5.7.8"), "Error: authentication failed: UGFzc3dvcmQ6", RejectClass::Authentication),
            (Some(530), Some("5.7.0"), "Must issue a STARTTLS command first", RejectClass::Tls),
            (Some(550), Some("5.7.1"), "Message content rejected: spam detected", RejectClass::SpamContent),
            (Some(421), Some("4.7.0"), "Error: too many connections from 192.0.2.1", RejectClass::RateLimit),
            (Some(550), None, "Go away", RejectClass::Other),
        ];
        for (code, dsn, text, want) in cases {
            assert_eq!(classify(code, dsn, text), want, "{text}");
        }
        for c in RejectClass::ALL {
            assert_eq!(RejectClass::from_key(c.key()), Some(c));
            assert_eq!(
                serde_json::to_value(c).unwrap(),
                c.key(),
                "JSON names are the keys"
            );
        }
    }
}
