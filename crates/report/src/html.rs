//! The report as a standalone HTML document (a file to open or an e-mail body): inline style,
//! no script, every value from the logs escaped.

use crate::charts::{esc, report_charts};
use crate::{AddressRow, Counted, DomainRow, PeriodRow, ReasonRow, Report};
use std::fmt::Write as _;

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:14px;color:#1d2330;margin:1.5em}\
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}\
table{border-collapse:collapse;margin:.4em 0}th,td{border-bottom:1px solid #dde1e8;padding:.25em .7em;text-align:left;vertical-align:top}\
th{background:#eef1f5}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.charts svg{max-width:680px;width:100%;height:auto;font-size:11px;display:block;margin:.5em 0 1em}\
.grid{stroke:#e5e8ee}.axis{stroke:#8a93a3}.axis-title{fill:#5b6475;font-style:italic}\
.s-delivered{fill:#2e8b57}.s-deferred{fill:#d08c1a}.s-bounced{fill:#b3261e}.s-rejected{fill:#6a3d9a}.s-received{fill:#1f5fbf}";

fn table(out: &mut String, id: &str, title: &str, head: &[&str], rows: Vec<Vec<String>>) {
    if rows.is_empty() {
        return;
    }
    let _ = write!(out, "<h2>{}</h2><table id=\"{id}\"><tr>", esc(title));
    for h in head {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr>");
    for r in rows {
        out.push_str("<tr>");
        for (i, c) in r.iter().enumerate() {
            let numeric =
                i > 0 && !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit() || b == b'.');
            let _ = write!(
                out,
                "<td{}>{}</td>",
                if numeric { " class=\"n\"" } else { "" },
                esc(c)
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

fn periods(rows: &[PeriodRow], skip_empty: bool) -> Vec<Vec<String>> {
    rows.iter()
        .filter(|r| !skip_empty || r.traffic != crate::Traffic::default())
        .map(|r| {
            let t = &r.traffic;
            vec![
                r.period.clone(),
                t.received.to_string(),
                t.delivered.to_string(),
                t.deferred.to_string(),
                t.bounced.to_string(),
                t.rejected.to_string(),
            ]
        })
        .collect()
}

const PERIOD_HEAD: [&str; 6] = [
    "",
    "received",
    "delivered",
    "deferred",
    "bounced",
    "rejected",
];

fn domains(rows: &[DomainRow]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|d| {
            vec![
                d.domain.clone(),
                d.messages.to_string(),
                d.bytes.to_string(),
                d.deferred.to_string(),
                format!("{:.1}", d.avg_delay_s),
                format!("{:.1}", d.max_delay_s),
            ]
        })
        .collect()
}

fn addresses(rows: &[AddressRow]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|a| {
            vec![
                a.address.clone(),
                a.messages.to_string(),
                a.bytes.to_string(),
            ]
        })
        .collect()
}

fn reasons(rows: &[ReasonRow]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| vec![r.host.clone(), r.reason.clone(), r.count.to_string()])
        .collect()
}

fn counted(rows: &[Counted]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|c| vec![c.value.clone(), c.count.to_string()])
        .collect()
}

/// The report as an HTML document; with `charts`, the SVG charts of the statistics page too
/// (leave them out for e-mail: many mail clients do not show SVG).
pub fn render_html(r: &Report, charts: bool) -> String {
    let t = &r.totals;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>mailtrace report</title><style>{STYLE}</style></head><body>\
         <h1>mailtrace report</h1><p id=\"period\">{} to {} (days and hours in {})</p>",
        esc(r.first.as_deref().unwrap_or("-")),
        esc(r.last.as_deref().unwrap_or("-")),
        esc(&r.time_zone)
    );
    let totals: Vec<Vec<String>> = [
        ("received", t.received.to_string()),
        ("delivered", t.delivered.to_string()),
        ("forwarded", t.forwarded.to_string()),
        (
            "deferred",
            format!("{} ({} deferrals)", t.deferred, t.deferrals),
        ),
        ("bounced", t.bounced.to_string()),
        ("expired", t.expired.to_string()),
        ("rejected", format!("{} ({}%)", t.rejected, t.rejected_pct)),
        ("reject warnings", t.reject_warnings.to_string()),
        ("held", t.held.to_string()),
        ("discarded", t.discarded.to_string()),
        ("still in the queue", t.still_queued.to_string()),
        ("bytes received", t.bytes_received.to_string()),
        ("bytes delivered", t.bytes_delivered.to_string()),
        ("senders", t.senders.to_string()),
        ("sending hosts/domains", t.sending_domains.to_string()),
        ("recipients", t.recipients.to_string()),
        ("recipient hosts/domains", t.recipient_domains.to_string()),
        (
            "received over TLS",
            r.tls_received_pct.map_or("-".into(), |p| format!("{p}%")),
        ),
        (
            "delivered over TLS",
            r.tls_delivered_pct.map_or("-".into(), |p| format!("{p}%")),
        ),
    ]
    .into_iter()
    .map(|(k, v)| vec![k.to_string(), v])
    .collect();
    table(
        &mut out,
        "totals",
        "Grand totals",
        &["", "messages"],
        totals,
    );
    if charts {
        out.push_str("<div class=\"charts\">");
        for c in report_charts(r) {
            let _ = write!(out, "<h2>{}</h2>{}", esc(&c.title), c.svg);
        }
        out.push_str("</div>");
    }
    table(
        &mut out,
        "per-day",
        "Per day",
        &PERIOD_HEAD,
        periods(&r.per_day, false),
    );
    if r.per_month.len() > 1 {
        table(
            &mut out,
            "per-month",
            "Per month",
            &PERIOD_HEAD,
            periods(&r.per_month, false),
        );
    }
    table(
        &mut out,
        "per-hour",
        &format!("Per hour ({} days)", r.days),
        &PERIOD_HEAD,
        periods(&r.per_hour, true),
    );
    table(
        &mut out,
        "per-weekday",
        "Per weekday",
        &PERIOD_HEAD,
        periods(&r.per_weekday, true),
    );
    let dom_head = [
        "domain",
        "delivered",
        "bytes",
        "deferrals",
        "avg delay s",
        "max delay s",
    ];
    table(
        &mut out,
        "destinations",
        "Destination domains",
        &dom_head,
        domains(&r.destination_domains),
    );
    table(
        &mut out,
        "sending",
        "Sending domains",
        &["domain", "messages", "bytes", "", "", ""],
        domains(&r.sending_domains),
    );
    let addr_head = ["address", "messages", "bytes"];
    table(
        &mut out,
        "senders",
        "Top senders",
        &addr_head,
        addresses(&r.top_senders),
    );
    table(
        &mut out,
        "recipients",
        "Top recipients",
        &addr_head,
        addresses(&r.top_recipients),
    );
    table(
        &mut out,
        "senders-size",
        "Senders by size",
        &addr_head,
        addresses(&r.top_senders_by_size),
    );
    table(
        &mut out,
        "recipients-size",
        "Recipients by size",
        &addr_head,
        addresses(&r.top_recipients_by_size),
    );
    let reason_head = ["host", "reason", "count"];
    table(
        &mut out,
        "deferrals",
        "Deferral reasons",
        &reason_head,
        reasons(&r.deferral_reasons),
    );
    table(
        &mut out,
        "bounces",
        "Bounce reasons",
        &reason_head,
        reasons(&r.bounce_reasons),
    );
    table(
        &mut out,
        "reject-classes",
        "Rejects by class",
        &["class", "refusals", "example"],
        r.reject_classes
            .iter()
            .map(|c| vec![c.label.to_string(), c.count.to_string(), c.example.clone()])
            .collect(),
    );
    table(
        &mut out,
        "rejects",
        "Reject reasons",
        &["client", "reason", "count"],
        reasons(&r.reject_reasons),
    );
    table(
        &mut out,
        "codes",
        "SMTP reply codes of failures",
        &["code", "count"],
        counted(&r.smtp_codes),
    );
    table(
        &mut out,
        "dsns",
        "Enhanced status codes of failures",
        &["code", "count"],
        counted(&r.enhanced_codes),
    );
    table(
        &mut out,
        "sasl",
        "SASL authentication failures",
        &["client", "count"],
        counted(&r.sasl_failures),
    );
    table(
        &mut out,
        "warnings",
        "Warnings",
        &["warning", "count"],
        counted(&r.warnings),
    );
    table(
        &mut out,
        "fatal",
        "Fatal errors",
        &["error", "count"],
        counted(&r.fatal),
    );
    table(
        &mut out,
        "panics",
        "Panics",
        &["panic", "count"],
        counted(&r.panics),
    );
    let d = &r.delays;
    if d.count > 0 {
        let _ = write!(
            out,
            "<h2>Delivery delays</h2><p id=\"delays\">{} deliveries: p50 {:.1} s, p90 {:.1} s, p95 {:.1} s, p99 {:.1} s, max {:.1} s</p>",
            d.count, d.p50, d.p90, d.p95, d.p99, d.max
        );
    }
    out.push_str("</body></html>\n");
    out
}
