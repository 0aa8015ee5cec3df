//! The report as text, laid out like pflogsumm's so that its readers find their way.

use crate::{AddressRow, Counted, DomainRow, PeriodRow, ReasonRow, Report};
use std::fmt::Write as _;

fn units(n: u64) -> String {
    match n {
        0..=999_999 => n.to_string(),
        1_000_000..=999_999_999 => format!("{}k", n / 1000),
        _ => format!("{}m", n / 1_000_000),
    }
}

fn heading(out: &mut String, title: &str) {
    let _ = writeln!(out, "\n{title}\n{}", "-".repeat(title.chars().count()));
}

fn traffic(out: &mut String, title: &str, rows: &[PeriodRow], skip_empty: bool) {
    heading(out, title);
    let _ = writeln!(
        out,
        "{:<12} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "", "Received", "Delivered", "Deferred", "Bounced", "Rejected"
    );
    for r in rows {
        let t = &r.traffic;
        if skip_empty && *t == crate::Traffic::default() {
            continue;
        }
        let _ = writeln!(
            out,
            "{:<12} {:>9} {:>9} {:>9} {:>9} {:>9}",
            r.period, t.received, t.delivered, t.deferred, t.bounced, t.rejected
        );
    }
}

fn domains(out: &mut String, title: &str, rows: &[DomainRow], dest: bool) {
    if rows.is_empty() {
        return;
    }
    heading(out, title);
    if dest {
        let _ = writeln!(
            out,
            "{:>7} {:>9} {:>6} {:>9} {:>9}  domain",
            "sent", "bytes", "defers", "avg dly", "max dly"
        );
        for d in rows {
            let _ = writeln!(
                out,
                "{:>7} {:>9} {:>6} {:>8.1}s {:>8.1}s  {}",
                d.messages,
                units(d.bytes),
                d.deferred,
                d.avg_delay_s,
                d.max_delay_s,
                d.domain
            );
        }
    } else {
        let _ = writeln!(out, "{:>7} {:>9}  domain", "msgs", "bytes");
        for d in rows {
            let _ = writeln!(out, "{:>7} {:>9}  {}", d.messages, units(d.bytes), d.domain);
        }
    }
}

fn addresses(out: &mut String, title: &str, rows: &[AddressRow], by_size: bool) {
    if rows.is_empty() {
        return;
    }
    heading(out, title);
    for a in rows {
        if by_size {
            let _ = writeln!(out, "{:>9}  {}", units(a.bytes), a.address);
        } else {
            let _ = writeln!(out, "{:>7}  {}", a.messages, a.address);
        }
    }
}

fn reasons(out: &mut String, title: &str, rows: &[ReasonRow]) {
    if rows.is_empty() {
        return;
    }
    heading(out, title);
    let mut host = None;
    for r in rows {
        if host != Some(&r.host) {
            let _ = writeln!(out, "  {}", r.host);
            host = Some(&r.host);
        }
        let _ = writeln!(out, "  {:>7}   {}", r.count, r.reason);
    }
}

fn counted(out: &mut String, title: &str, rows: &[Counted]) {
    if rows.is_empty() {
        return;
    }
    heading(out, title);
    for c in rows {
        let _ = writeln!(out, "{:>7}  {}", c.count, c.value);
    }
}

/// The report as text. Control characters from the logs are replaced.
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    let t = &r.totals;
    let _ = writeln!(
        out,
        "mailtrace report: {} to {} ({})",
        r.first.as_deref().unwrap_or("-"),
        r.last.as_deref().unwrap_or("-"),
        r.time_zone
    );
    heading(&mut out, "Grand Totals");
    let _ = writeln!(out, "messages\n");
    for (n, label) in [
        (t.received, "received".to_string()),
        (t.delivered, "delivered".into()),
        (t.forwarded, "forwarded".into()),
        (t.deferred, format!("deferred  ({} deferrals)", t.deferrals)),
        (t.bounced, "bounced".into()),
        (t.expired, "expired".into()),
        (t.rejected, format!("rejected ({}%)", t.rejected_pct)),
        (t.reject_warnings, "reject warnings".into()),
        (t.held, "held".into()),
        (t.discarded, "discarded".into()),
        (t.still_queued, "still in the queue".into()),
    ] {
        let _ = writeln!(out, " {:>8}   {label}", units(n));
    }
    let _ = writeln!(out);
    for (n, label) in [
        (t.bytes_received, "bytes received"),
        (t.bytes_delivered, "bytes delivered"),
        (t.senders, "senders"),
        (t.sending_domains, "sending hosts/domains"),
        (t.sending_hosts, "sending client hosts"),
        (t.recipients, "recipients"),
        (t.recipient_domains, "recipient hosts/domains"),
    ] {
        let _ = writeln!(out, " {:>8}   {label}", units(n));
    }
    if let Some(p) = r.tls_received_pct {
        let _ = writeln!(
            out,
            " {p:>7}%   of messages received over SMTP came over TLS"
        );
    }
    traffic(&mut out, "Per-Day Traffic Summary", &r.per_day, false);
    if r.per_month.len() > 1 {
        traffic(&mut out, "Per-Month Traffic Summary", &r.per_month, false);
    }
    if r.days > 1 {
        // Like pflogsumm: the daily average of each hour.
        heading(
            &mut out,
            &format!("Per-Hour Traffic Daily Average ({} days)", r.days),
        );
        let _ = writeln!(
            out,
            "{:<12} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "", "Received", "Delivered", "Deferred", "Bounced", "Rejected"
        );
        let avg = |n: u64| format!("{:.1}", n as f64 / r.days as f64);
        for h in &r.per_hour {
            let t = &h.traffic;
            let _ = writeln!(
                out,
                "{:<12} {:>9} {:>9} {:>9} {:>9} {:>9}",
                h.period,
                avg(t.received),
                avg(t.delivered),
                avg(t.deferred),
                avg(t.bounced),
                avg(t.rejected)
            );
        }
    } else {
        traffic(&mut out, "Per-Hour Traffic", &r.per_hour, false);
    }
    traffic(&mut out, "Per-Weekday Traffic", &r.per_weekday, false);
    traffic(
        &mut out,
        "Per-Day-of-Month Traffic",
        &r.per_day_of_month,
        true,
    );
    domains(
        &mut out,
        "Host/Domain Summary: Message Delivery",
        &r.destination_domains,
        true,
    );
    domains(
        &mut out,
        "Host/Domain Summary: Messages Received",
        &r.sending_domains,
        false,
    );
    addresses(&mut out, "Senders by message count", &r.top_senders, false);
    addresses(
        &mut out,
        "Recipients by message count",
        &r.top_recipients,
        false,
    );
    addresses(
        &mut out,
        "Senders by message size",
        &r.top_senders_by_size,
        true,
    );
    addresses(
        &mut out,
        "Recipients by message size",
        &r.top_recipients_by_size,
        true,
    );
    reasons(&mut out, "Message deferral detail", &r.deferral_reasons);
    reasons(
        &mut out,
        "Message bounce detail (by relay)",
        &r.bounce_reasons,
    );
    if !r.reject_classes.is_empty() {
        heading(&mut out, "Rejects by class");
        for c in &r.reject_classes {
            let _ = writeln!(out, "{:>7}  {:<24} e.g. {}", c.count, c.label, c.example);
        }
    }
    reasons(
        &mut out,
        "Message reject detail (by client)",
        &r.reject_reasons,
    );
    counted(&mut out, "SMTP reply codes of failures", &r.smtp_codes);
    counted(
        &mut out,
        "Enhanced status codes of failures",
        &r.enhanced_codes,
    );
    counted(
        &mut out,
        "SASL authentication failures (by client)",
        &r.sasl_failures,
    );
    counted(&mut out, "Warnings", &r.warnings);
    counted(&mut out, "Fatal Errors", &r.fatal);
    counted(&mut out, "Panics", &r.panics);
    let d = &r.delays;
    if d.count > 0 {
        heading(&mut out, "Delivery delays (receipt to delivery)");
        let _ = writeln!(
            out,
            "{} deliveries: p50 {:.1}s  p90 {:.1}s  p95 {:.1}s  p99 {:.1}s  max {:.1}s",
            d.count, d.p50, d.p90, d.p95, d.p99, d.max
        );
        for (bound, n) in &d.histogram {
            let label = bound.map_or_else(|| "longer".to_string(), |b| format!("<= {b}s"));
            let _ = writeln!(out, "  {label:>10} {n:>8}");
        }
    }
    out.chars()
        .map(|c| if c.is_control() && c != '\n' { '?' } else { c })
        .collect()
}
