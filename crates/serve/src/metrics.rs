//! `GET /metrics`: Prometheus text format (version 0.0.4).
//!
//! Three kinds of series:
//! - what the live ingest read (lines, unparsed lines, lag, syslog receiver counters), counted
//!   since the process started;
//! - what it wrote: messages and recipients by status, rejects by class and SMTP code, delivery
//!   delays, counted from the batches the store committed ([`Tally`]); where the meaning is the
//!   same, under the names of the widely used Postfix exporter (`postfix_smtpd_messages_rejected_total`,
//!   `postfix_smtp_delivery_delay_seconds`), so its dashboards work;
//! - what the store holds now (`mailtrace_store_*` gauges), read at most every few seconds.

use mailtrace_ingest::{ListenStats, LiveCounts};
use mailtrace_model::{Message, Status};
use mailtrace_report::{classify, RejectClass};
use mailtrace_store::{StoreStats, WriteBatch};
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

/// Bucket bounds (seconds) of delay histograms: those of the Postfix exporter.
pub const DELAY_BUCKETS: [f64; 9] = [
    1e-3, 1e-2, 1e-1, 1.0, 10.0, 60.0, 3600.0, 86_400.0, 172_800.0,
];

/// Postfix's `delays=a/b/c/d` stages, as the Postfix exporter names them.
const STAGES: [&str; 4] = [
    "before_queue_manager",
    "queue_manager",
    "connection_setup",
    "transmission",
];

/// Counted message ids at most, to count a message written twice once.
const SEEN_MAX: usize = 1_000_000;

/// A histogram with [`DELAY_BUCKETS`].
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    /// Per bucket (not cumulative), then the overflow.
    counts: [u64; DELAY_BUCKETS.len() + 1],
    sum: f64,
}

impl Histogram {
    /// Count one observation.
    pub fn observe(&mut self, v: f64) {
        let i = DELAY_BUCKETS
            .iter()
            .position(|&b| v <= b)
            .unwrap_or(DELAY_BUCKETS.len());
        self.counts[i] += 1;
        self.sum += v;
    }

    /// Observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cum = 0;
        for (i, b) in DELAY_BUCKETS.iter().enumerate() {
            cum += self.counts[i];
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cum}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count()
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count());
    }
}

/// What the committed batches held: finished messages, each counted once.
#[derive(Debug, Default)]
pub struct Tally {
    seen: HashSet<i64>,
    /// Finished messages by status.
    pub messages: BTreeMap<&'static str, u64>,
    /// Their recipients by status.
    pub recipients: BTreeMap<&'static str, u64>,
    /// Rejected recipients by reason class.
    pub rejects: BTreeMap<&'static str, u64>,
    /// Postfix's `NOQUEUE: reject` recipients by SMTP code.
    pub postfix_rejects: BTreeMap<u16, u64>,
    /// Delay of each recipient's last attempt (`delay=`), by recipient status.
    pub delays: BTreeMap<&'static str, Histogram>,
    /// Postfix smtp attempts' `delays=` stages.
    pub smtp_stages: [Histogram; 4],
}

impl Tally {
    /// Count the finished messages of a batch.
    pub fn observe(&mut self, batch: &WriteBatch) {
        for m in batch.messages.iter().filter(|m| !m.open) {
            if self.seen.len() >= SEEN_MAX {
                self.seen.clear();
            }
            if self.seen.insert(m.id) {
                self.message(m);
            }
        }
    }

    fn message(&mut self, m: &Message) {
        *self.messages.entry(m.status.as_str()).or_default() += 1;
        if m.status == Status::Rejected && m.recipients.is_empty() {
            // Refused before any recipient (at MAIL FROM, or the whole message).
            let class = classify(None, None, m.reason.as_deref().unwrap_or(""));
            *self.rejects.entry(class.key()).or_default() += 1;
        }
        for r in &m.recipients {
            *self.recipients.entry(r.status.as_str()).or_default() += 1;
            if r.status == Status::Rejected && r.attempts.is_empty() {
                let text = r.response.as_deref().or(m.reason.as_deref()).unwrap_or("");
                let class = classify(r.smtp_code, r.dsn.as_deref(), text);
                *self.rejects.entry(class.key()).or_default() += 1;
                if m.mta == "postfix" && m.queue_id.is_none() {
                    if let Some(code) = r.smtp_code {
                        *self.postfix_rejects.entry(code).or_default() += 1;
                    }
                }
            }
            if let Some(d) = r.delay_s {
                self.delays.entry(r.status.as_str()).or_default().observe(d);
            }
            if m.mta == "postfix" {
                for a in r.attempts.iter().filter(|a| a.agent == "smtp") {
                    for (h, v) in self
                        .smtp_stages
                        .iter_mut()
                        .zip(a.delays.unwrap_or_default())
                    {
                        if a.delays.is_some() {
                            h.observe(v);
                        }
                    }
                }
            }
        }
    }
}

/// Everything a scrape shows.
pub struct Snapshot<'a> {
    /// The live ingest, when one runs.
    pub live: Option<LiveCounts>,
    /// Its lag (read before the store's counts: no lag means they hold every commit).
    pub lag: std::time::Duration,
    /// The syslog receiver, when one listens.
    pub listen: Option<&'a ListenStats>,
    /// Chunks of received lines waiting for the ingest loop.
    pub listen_queue: usize,
    /// The kernel's drops on the UDP socket.
    pub udp_kernel_drops: Option<u64>,
    /// What the live ingest wrote.
    pub tally: &'a Tally,
    /// What the store holds (`None`: it could not be read).
    pub store: Option<StoreStats>,
    /// Retention: runs, messages and raw lines purged, time of the last run (Unix seconds).
    pub retention: Option<(u64, u64, u64, i64)>,
}

/// One metric family.
struct Family<'o> {
    out: &'o mut String,
}

impl Family<'_> {
    fn head(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        self
    }

    fn sample(&mut self, name: &str, labels: &str, v: impl std::fmt::Display) -> &mut Self {
        if labels.is_empty() {
            let _ = writeln!(self.out, "{name} {v}");
        } else {
            let _ = writeln!(self.out, "{name}{{{labels}}} {v}");
        }
        self
    }
}

/// A label value, escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The text of `/metrics`.
pub fn render(s: &Snapshot<'_>) -> String {
    let mut out = String::with_capacity(8192);
    let mut f = Family { out: &mut out };
    f.head("mailtrace_build_info", "gauge", "mailtrace's version.")
        .sample(
            "mailtrace_build_info",
            &format!("version=\"{}\"", env!("CARGO_PKG_VERSION")),
            1,
        );
    if let Some(l) = s.live {
        f.head(
            "mailtrace_lines_read_total",
            "counter",
            "Log lines read by the live ingest, by source.",
        )
        .sample(
            "mailtrace_lines_read_total",
            "source=\"file\"",
            l.file_lines,
        )
        .sample(
            "mailtrace_lines_read_total",
            "source=\"syslog\"",
            l.syslog_lines,
        );
        f.head(
            "mailtrace_bytes_read_total",
            "counter",
            "Bytes read from followed files.",
        )
        .sample("mailtrace_bytes_read_total", "", l.file_bytes);
        f.head(
            "mailtrace_lines_unparsed_total",
            "counter",
            "Lines of mail programs no rule understood (kept as unparsed lines).",
        )
        .sample("mailtrace_lines_unparsed_total", "", l.unparsed);
        f.head(
            "mailtrace_lines_other_total",
            "counter",
            "Lines of programs that are not mail servers.",
        )
        .sample("mailtrace_lines_other_total", "", l.other);
        f.head(
            "mailtrace_ingest_lag_seconds",
            "gauge",
            "How long the oldest line read but not yet committed has waited.",
        )
        .sample("mailtrace_ingest_lag_seconds", "", s.lag.as_secs_f64());
        f.head(
            "mailtrace_ingest_backlog_bytes",
            "gauge",
            "Bytes written to followed files and not read yet.",
        )
        .sample("mailtrace_ingest_backlog_bytes", "", l.backlog_bytes);
        f.head(
            "mailtrace_ingest_commits_total",
            "counter",
            "Commits of read lines to the store.",
        )
        .sample("mailtrace_ingest_commits_total", "", l.commits);
        f.head(
            "mailtrace_ingest_last_commit_timestamp_seconds",
            "gauge",
            "When the last commit happened (Unix time).",
        )
        .sample(
            "mailtrace_ingest_last_commit_timestamp_seconds",
            "",
            l.last_commit_ms as f64 / 1000.0,
        );
        f.head(
            "mailtrace_correlator_open_messages",
            "gauge",
            "Messages held by the correlator (queued, or waiting for more lines).",
        )
        .sample("mailtrace_correlator_open_messages", "", l.open_messages);
    }
    if let Some(l) = s.listen {
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        f.head(
            "mailtrace_syslog_received_lines_total",
            "counter",
            "Syslog messages received (UDP and TCP), dropped ones included.",
        )
        .sample("mailtrace_syslog_received_lines_total", "", get(&l.lines));
        f.head(
            "mailtrace_syslog_received_bytes_total",
            "counter",
            "Syslog bytes received.",
        )
        .sample("mailtrace_syslog_received_bytes_total", "", get(&l.bytes));
        f.head(
            "mailtrace_syslog_udp_datagrams_total",
            "counter",
            "Syslog datagrams received.",
        )
        .sample(
            "mailtrace_syslog_udp_datagrams_total",
            "",
            get(&l.udp_datagrams),
        );
        f.head(
            "mailtrace_syslog_udp_dropped_total",
            "counter",
            "Syslog UDP messages dropped because the ingest was behind (reason=\"queue_full\"), or by the kernel because the socket buffer was full (reason=\"socket_buffer\").",
        )
        .sample(
            "mailtrace_syslog_udp_dropped_total",
            "reason=\"queue_full\"",
            get(&l.udp_dropped),
        );
        if let Some(k) = s.udp_kernel_drops {
            f.sample(
                "mailtrace_syslog_udp_dropped_total",
                "reason=\"socket_buffer\"",
                k,
            );
        }
        f.head(
            "mailtrace_syslog_tcp_connections_total",
            "counter",
            "Syslog TCP connections accepted.",
        )
        .sample(
            "mailtrace_syslog_tcp_connections_total",
            "",
            get(&l.tcp_connections),
        );
        f.head(
            "mailtrace_syslog_tcp_connections",
            "gauge",
            "Syslog TCP connections open.",
        )
        .sample("mailtrace_syslog_tcp_connections", "", get(&l.tcp_open));
        f.head(
            "mailtrace_syslog_lines_cut_total",
            "counter",
            "Syslog messages cut because they were too long.",
        )
        .sample("mailtrace_syslog_lines_cut_total", "", get(&l.cut));
        f.head(
            "mailtrace_syslog_queue_chunks",
            "gauge",
            "Chunks of received lines waiting for the ingest.",
        )
        .sample("mailtrace_syslog_queue_chunks", "", s.listen_queue);
    }
    if s.live.is_some() {
        tally(&mut f, s.tally);
    }
    if let Some(st) = s.store {
        let gauges: [(&str, &str, u64); 5] = [
            (
                "mailtrace_store_messages",
                "Messages in the store.",
                st.messages,
            ),
            (
                "mailtrace_store_recipients",
                "Recipients in the store.",
                st.recipients,
            ),
            (
                "mailtrace_store_open_messages",
                "Messages in the store still queued.",
                st.open,
            ),
            (
                "mailtrace_store_loose_lines",
                "Lines in the store that belong to no message.",
                st.loose,
            ),
            (
                "mailtrace_store_unparsed_lines",
                "Unparsed lines in the store.",
                st.unparsed,
            ),
        ];
        for (name, help, v) in gauges {
            f.head(name, "gauge", help).sample(name, "", v);
        }
    }
    f.head(
        "mailtrace_store_up",
        "gauge",
        "Whether the store could be read.",
    )
    .sample("mailtrace_store_up", "", u8::from(s.store.is_some()));
    if let Some((runs, messages, raw, at)) = s.retention {
        f.head(
            "mailtrace_retention_runs_total",
            "counter",
            "Background purges run.",
        )
        .sample("mailtrace_retention_runs_total", "", runs);
        f.head(
            "mailtrace_retention_purged_messages_total",
            "counter",
            "Messages forgotten by retention.",
        )
        .sample("mailtrace_retention_purged_messages_total", "", messages);
        f.head(
            "mailtrace_retention_purged_raw_lines_total",
            "counter",
            "Raw lines forgotten by retention.",
        )
        .sample("mailtrace_retention_purged_raw_lines_total", "", raw);
        f.head(
            "mailtrace_retention_last_run_timestamp_seconds",
            "gauge",
            "When the last purge finished (Unix time).",
        )
        .sample("mailtrace_retention_last_run_timestamp_seconds", "", at);
    }
    out
}

fn tally(f: &mut Family<'_>, t: &Tally) {
    f.head(
        "mailtrace_messages_total",
        "counter",
        "Finished messages written by the live ingest, by status.",
    );
    for st in Status::ALL {
        let n = t.messages.get(st.as_str()).copied().unwrap_or(0);
        f.sample(
            "mailtrace_messages_total",
            &format!("status=\"{}\"", st.as_str()),
            n,
        );
    }
    f.head(
        "mailtrace_recipients_total",
        "counter",
        "Recipients of finished messages written by the live ingest, by status.",
    );
    for (st, n) in &t.recipients {
        f.sample("mailtrace_recipients_total", &format!("status=\"{st}\""), n);
    }
    f.head(
        "mailtrace_rejects_total",
        "counter",
        "Rejected recipients (and messages refused before any recipient), by reason class.",
    );
    for c in RejectClass::ALL {
        let n = t.rejects.get(c.key()).copied().unwrap_or(0);
        f.sample(
            "mailtrace_rejects_total",
            &format!("class=\"{}\"", label(c.key())),
            n,
        );
    }
    f.head(
        "postfix_smtpd_messages_rejected_total",
        "counter",
        "Total number of NOQUEUE rejects (Postfix's rejected recipients), by SMTP code.",
    );
    for (code, n) in &t.postfix_rejects {
        f.sample(
            "postfix_smtpd_messages_rejected_total",
            &format!("code=\"{code}\""),
            n,
        );
    }
    let name = "mailtrace_delivery_delay_seconds";
    f.head(
        name,
        "histogram",
        "Delay of each recipient's last delivery attempt, by recipient status.",
    );
    for (st, h) in &t.delays {
        h.write(f.out, name, &format!("status=\"{st}\""));
    }
    let name = "postfix_smtp_delivery_delay_seconds";
    f.head(
        name,
        "histogram",
        "SMTP message processing time in seconds.",
    );
    for (stage, h) in STAGES.iter().zip(&t.smtp_stages) {
        h.write(f.out, name, &format!("stage=\"{stage}\""));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailtrace_model::{Attempt, AttemptStatus, Recipient};

    fn rejected(id: i64, code: u16, text: &str) -> Message {
        Message {
            id,
            mta: "postfix".into(),
            status: Status::Rejected,
            recipients: vec![Recipient {
                status: Status::Rejected,
                smtp_code: Some(code),
                response: Some(text.into()),
                ..Recipient::default()
            }],
            ..Message::default()
        }
    }

    #[test]
    fn tally_counts_each_finished_message_once() {
        let delivered = Message {
            id: 3,
            mta: "postfix".into(),
            status: Status::Delivered,
            recipients: vec![Recipient {
                status: Status::Delivered,
                delay_s: Some(0.5),
                attempts: vec![Attempt {
                    status: AttemptStatus::default(),
                    agent: "smtp".into(),
                    delays: Some([0.1, 0.01, 0.2, 5.0]),
                    ..Attempt::default()
                }],
                ..Recipient::default()
            }],
            ..Message::default()
        };
        let open = Message {
            id: 4,
            open: true,
            ..Message::default()
        };
        let batch = WriteBatch {
            messages: vec![
                rejected(
                    1,
                    554,
                    "Client host rejected: blocked using zen.spamhaus.org",
                ),
                rejected(2, 550, "Recipient address rejected: User unknown"),
                delivered.clone(),
                open,
            ],
            ..WriteBatch::default()
        };
        let mut t = Tally::default();
        t.observe(&batch);
        t.observe(&WriteBatch {
            messages: vec![delivered],
            ..WriteBatch::default()
        });
        assert_eq!(t.messages["rejected"], 2);
        assert_eq!(t.messages["delivered"], 1);
        assert_eq!(t.messages.len(), 2);
        assert_eq!(t.rejects["blocklist"], 1);
        assert_eq!(t.postfix_rejects[&554], 1);
        assert_eq!(t.postfix_rejects[&550], 1);
        assert_eq!(t.delays["delivered"].count(), 1);
        assert_eq!(t.smtp_stages[3].count(), 1);

        let text = render(&Snapshot {
            live: Some(LiveCounts::default()),
            lag: std::time::Duration::ZERO,
            listen: None,
            listen_queue: 0,
            udp_kernel_drops: None,
            tally: &t,
            store: None,
            retention: None,
        });
        assert!(text.contains("postfix_smtpd_messages_rejected_total{code=\"554\"} 1\n"));
        assert!(text.contains("mailtrace_messages_total{status=\"delivered\"} 1\n"));
        // 5.0 s of transmission: not in the 1 s bucket, in the 10 s one.
        assert!(text.contains(
            "postfix_smtp_delivery_delay_seconds_bucket{stage=\"transmission\",le=\"1\"} 0\n"
        ));
        assert!(text.contains(
            "postfix_smtp_delivery_delay_seconds_bucket{stage=\"transmission\",le=\"10\"} 1\n"
        ));
        assert!(text.contains("mailtrace_store_up 0\n"));
    }
}
