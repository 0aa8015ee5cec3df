//! The one test suite every [`Store`] backend must pass.
//!
//! Call [`run_all`] with a factory of empty stores from the backend's tests.

// A test suite: a panic is a failed check.
#![allow(clippy::unwrap_used)]

use crate::{Checkpoint, LooseFilter, RawLines, Store, WriteBatch};
use mailtrace_correlate::{LooseKind, LooseLine};
use mailtrace_model::{Attempt, AttemptStatus, Event, Message, Recipient, Status, Ts};
use mailtrace_query::{AddressPattern, Filter, Paging};

mod lines;
mod report;
mod retention;
mod search;
mod writes;

pub use lines::{hostile_text_is_data, loose_lines, raw_lines_by_time};
pub use report::report_matches_the_messages;
pub use retention::purge_forgets_old_data;
pub use search::{facets, original_recipients, search_filters};
pub use writes::{checkpoints_and_state, pending_batches, round_trip_and_upsert};

/// A realistic message: `queue_id` on `server`, received at `secs`, one delivered recipient.
pub fn sample(id: i64, server: &str, queue_id: &str, secs: i64) -> Message {
    Message {
        id,
        server: server.into(),
        mta: "postfix".into(),
        queue_id: Some(queue_id.into()),
        message_id: Some(format!("<{queue_id}@example.com>")),
        sender: Some("Alice@Example.com".into()),
        subject: Some(format!("Invoice {queue_id} 100%_done")),
        size: Some(1234),
        client_host: Some("client.example.com".into()),
        client_ip: Some("192.0.2.10".into()),
        received_at: Ts::from_secs(secs),
        last_seen: Ts::from_secs(secs + 1),
        status: Status::Delivered,
        recipients: vec![Recipient {
            address: "bob@example.org".into(),
            status: Status::Delivered,
            dsn: Some("2.0.0".into()),
            smtp_code: Some(250),
            response: Some("250 2.0.0 Ok: queued as XYZ".into()),
            relay: Some("mx.example.org[198.51.100.1]:25".into()),
            delay_s: Some(1.5),
            last_attempt_at: Some(Ts::from_secs(secs + 1)),
            attempts: vec![Attempt {
                at: Ts::from_secs(secs + 1),
                status: AttemptStatus::Sent,
                agent: "smtp".into(),
                ..Attempt::default()
            }],
            ..Recipient::default()
        }],
        events: vec![
            Event::new(
                Ts::from_secs(secs),
                "received",
                "client=client.example.com[192.0.2.10]",
            ),
            Event::new(Ts::from_secs(secs + 1), "note", "a text of its own"),
        ],
        lines: vec![format!("Jan  1 00:00:00 {server} postfix/smtpd[1]: {queue_id}: client=client.example.com[192.0.2.10]")],
        ..Message::default()
    }
}

fn fixtures() -> Vec<Message> {
    let mut v = Vec::new();
    v.push(sample(1, "mx1", "AAA1", 1_000));
    let mut m = sample(2, "mx1", "AAA2", 2_000);
    m.sender = Some(String::new());
    m.subject = Some("Undelivered Mail Returned to Sender".into());
    m.bounce_of = Some(1);
    v.push(m);
    let mut m = sample(3, "mx2", "AAA1", 3_000);
    m.status = Status::Bounced;
    m.recipients[0].status = Status::Bounced;
    m.recipients[0].address = "nobody@Other.test".into();
    m.recipients[0].response = Some("550 5.1.1 User unknown".into());
    m.recipients[0].smtp_code = Some(550);
    m.recipients.push(Recipient {
        address: "carol@example.org".into(),
        orig_to: Some("team@example.org".into()),
        status: Status::Delivered,
        relay: Some("mx.example.org[198.51.100.1]:25".into()),
        ..Recipient::default()
    });
    v.push(m);
    let mut m = sample(4, "mx1", "", 4_000);
    m.queue_id = None;
    m.status = Status::Rejected;
    m.reason = Some("554 5.7.1 Relay access denied".into());
    m.recipients[0].status = Status::Rejected;
    m.recipients[0].address = "x@relay.test".into();
    m.recipients[0].relay = None;
    m.client_ip = Some("203.0.113.5".into());
    v.push(m);
    let mut m = sample(5, "mx1", "AAA5", 5_000);
    m.open = true;
    m.status = Status::Deferred;
    m.recipients[0].status = Status::Deferred;
    m.parent_id = Some(1);
    v.push(m);
    v
}

fn ids(store: &dyn Store, f: Filter) -> Vec<i64> {
    store
        .search(
            &f,
            Paging {
                limit: 100,
                page: 1,
            },
        )
        .unwrap_or_else(|e| panic!("{f:?}: {e}"))
        .messages
        .iter()
        .map(|m| m.id)
        .collect()
}

/// Run every check on stores made by `make` (each check gets a fresh store).
pub fn run_all(make: &mut dyn FnMut() -> Box<dyn Store>) {
    search_filters(make().as_mut());
    round_trip_and_upsert(make().as_mut());
    checkpoints_and_state(make().as_mut());
    pending_batches(make().as_mut());
    loose_lines(make().as_mut());
    hostile_text_is_data(make().as_mut());
    facets(make().as_mut());
    raw_lines_by_time(make().as_mut());
    original_recipients(make().as_mut());
    report_matches_the_messages(make().as_mut());
    purge_forgets_old_data(make().as_mut());
}

/// Write `messages` the way an ingest does: their `lines` go to the raw log (numbered after
/// what the store holds) and they carry the numbers; an event whose text is the tail of one of
/// the lines refers to it. Returns the messages as [`Store::get`] must give them back.
pub fn write_ingested(store: &mut dyn Store, messages: Vec<Message>) -> Vec<Message> {
    let mut raw = RawLines::starting_at(store.next_line_no().unwrap());
    let mut read = Vec::new();
    let mut written = Vec::new();
    for mut m in messages {
        m.line_nos = m
            .lines
            .iter()
            .map(|l| {
                let no = raw.next_no();
                raw.push(l);
                no
            })
            .collect();
        for e in &mut m.events {
            let tail_of = m
                .line_nos
                .iter()
                .zip(&m.lines)
                .find(|(_, l)| !e.text.is_empty() && l.ends_with(e.text.as_str()));
            if let Some((no, l)) = tail_of {
                e.source = Some((*no, (l.len() - e.text.len()) as u32));
            }
        }
        read.push(m.clone());
        m.lines.clear();
        for e in m.events.iter_mut().filter(|e| e.source.is_some()) {
            e.text.clear();
        }
        written.push(m);
    }
    store
        .write(WriteBatch {
            messages: written,
            raw,
            ..WriteBatch::default()
        })
        .expect("write");
    read
}

fn load(store: &mut dyn Store) -> Vec<Message> {
    write_ingested(store, fixtures())
}

/// The ids of `messages` that `f` matches, newest first (what a search must give).
fn matching(messages: &[Message], f: &Filter) -> Vec<i64> {
    let mut want: Vec<&Message> = messages.iter().filter(|m| f.matches(m)).collect();
    want.sort_by_key(|m| std::cmp::Reverse((m.received_at, m.id)));
    want.iter().map(|m| m.id).collect()
}
