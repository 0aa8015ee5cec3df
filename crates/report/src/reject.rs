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

/// Classify a refusal from its reply code, enhanced status code and text.
pub fn classify(code: Option<u16>, dsn: Option<&str>, text: &str) -> RejectClass {
    let t = text.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
    if has(&[
        "blocked using",
        "blocklist",
        "blacklist",
        "dnsbl",
        " rbl",
        "spamhaus",
        "spamcop",
        "barracudacentral",
        "listed by",
        "listed at",
        "listed in",
    ]) {
        return RejectClass::Blocklist;
    }
    if has(&["greylist", "graylist", "grey-list", "gray-list", "postgrey"]) {
        return RejectClass::Greylisting;
    }
    if has(&["dmarc"]) {
        return RejectClass::Dmarc;
    }
    if has(&["dkim"]) {
        return RejectClass::Dkim;
    }
    if has(&["spf", "sender policy framework"]) {
        return RejectClass::Spf;
    }
    if has(&[
        "user unknown",
        "unknown user",
        "recipient unknown",
        "no such user",
        "mailbox unavailable",
        "mailbox not found",
        "address rejected: undeliverable",
        "does not exist",
        "invalid recipient",
        "unknown recipient",
    ]) || dsn == Some("5.1.1")
        || (t.contains("recipient address rejected")
            && has(&["domain not found", "host or domain name not found"]))
    {
        return RejectClass::UnknownRecipient;
    }
    if has(&[
        "relay access denied",
        "relaying denied",
        "relay not permitted",
        "not permitted to relay",
        "unable to relay",
    ]) {
        return RejectClass::RelayDenied;
    }
    if has(&[
        "sender address rejected: domain not found",
        "domain not found",
        "sender domain",
        "unresolvable",
    ]) || matches!(dsn, Some("4.1.8" | "5.1.8"))
    {
        return RejectClass::SenderDomainNotFound;
    }
    if has(&[
        "size exceeds",
        "too large",
        "too big",
        "exceeds size limit",
        "message size",
    ]) || matches!(dsn, Some("5.3.4" | "5.2.3" | "4.3.4"))
        || code == Some(552)
    {
        return RejectClass::TooLarge;
    }
    if has(&[
        "starttls",
        "tls",
        "encryption required",
        "must issue a starttls",
    ]) || matches!(dsn, Some("5.7.10" | "5.7.11"))
    {
        return RejectClass::Tls;
    }
    if has(&["authentication", "sasl", "not authenticated", "auth "])
        || matches!(dsn, Some("5.7.8" | "5.7.0" | "5.7.9"))
    {
        return RejectClass::Authentication;
    }
    if has(&[
        "rate limit",
        "too many",
        "exceeded",
        "try again later",
        "slow down",
        "throttl",
        "concurrency",
    ]) || matches!(dsn, Some("4.7.28" | "4.4.5"))
        || code == Some(421)
    {
        return RejectClass::RateLimit;
    }
    if has(&["access denied"]) && !has(&["client host rejected", "helo command rejected"]) {
        return RejectClass::AccessPolicy;
    }
    if has(&[
        "client host rejected",
        "helo command rejected",
        "reverse hostname",
        "cannot find your hostname",
        "fully-qualified",
        "host name",
        "hostname",
        "helo",
        "ehlo",
    ]) {
        return RejectClass::ClientOrHelo;
    }
    if has(&[
        "spam",
        "content",
        "virus",
        "malware",
        "header",
        "body",
        "policy",
        "phish",
        "attachment",
    ]) {
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
