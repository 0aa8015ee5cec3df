//! Reading single things back: messages by id or key, raw and loose lines, checkpoints,
//! correlator state, counts.

use super::conn::ch;
use super::rows::{self, kind};
use crate::{Checkpoint, LooseFilter, StoreError, StoreStats, TimedLine};
use mailtrace_correlate::{LooseKind, LooseLine};
use mailtrace_model::{LineNo, Message, Ts};
use mailtrace_query::Paging;

/// Line numbers per query (keeps the SQL text well under the server's size limit).
const NOS_PER_QUERY: usize = 10_000;

/// Messages read at a time by their keys (keeps the SQL text well under the size limit).
const KEYS_PER_QUERY: usize = 2_000;

/// The keys `(received_us, id)` of the messages (latest versions) matching `where_sql`,
/// newest first, a page of them or all. Only the key and the filtered columns are read: a
/// `FINAL` that also read the documents would read every document of the table.
pub(super) async fn keys(
    c: &clickhouse::Client,
    where_sql: &str,
    bind: impl FnOnce(clickhouse::query::Query) -> clickhouse::query::Query,
    paging: Option<Paging>,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let page = paging.map_or(String::new(), |p| {
        format!(" LIMIT {} OFFSET {}", p.limit, p.offset())
    });
    let q = c.query(&format!(
        "SELECT received_us, id FROM messages FINAL WHERE {where_sql} ORDER BY received_us DESC, id DESC{page}"
    ));
    bind(q).fetch_all().await.map_err(ch)
}

/// The documents of the messages with these keys, in the same order.
pub(super) async fn docs_at(
    c: &clickhouse::Client,
    at: &[(i64, i64)],
) -> Result<Vec<Message>, StoreError> {
    let mut out = Vec::with_capacity(at.len());
    for part in at.chunks(KEYS_PER_QUERY) {
        // Numbers in the SQL text: a tuple IN list on the sorting key reads only those rows.
        let list = part
            .iter()
            .map(|(t, id)| format!("({t},{id})"))
            .collect::<Vec<_>>()
            .join(",");
        let rows: Vec<(i64, i64, String)> = c
            .query(&format!(
                "SELECT received_us, id, doc FROM messages FINAL WHERE (received_us, id) IN ({list})"
            ))
            .fetch_all()
            .await
            .map_err(ch)?;
        let mut by_key: std::collections::HashMap<(i64, i64), String> =
            rows.into_iter().map(|(t, id, d)| ((t, id), d)).collect();
        for k in part {
            if let Some(d) = by_key.remove(k) {
                out.push(rows::message_of(&d)?);
            }
        }
    }
    Ok(out)
}

/// Key kinds as an SQL list (they are the constants of `rows::kind`, never input).
pub(super) fn kind_list(kinds: &[&str]) -> String {
    kinds
        .iter()
        .map(|k| format!("'{k}'"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A message as lists show it: without its line numbers and timeline (only the message
/// page reads those).
pub(super) fn summary(mut m: Message) -> Message {
    m.lines.clear();
    m.line_nos.clear();
    m.events.clear();
    m
}

/// Ids and times of the messages with a searchable value (`kind`, `key`).
pub(super) async fn by_key(
    c: &clickhouse::Client,
    kinds: &[&str],
    key: &str,
) -> Result<Vec<(i64, i64)>, StoreError> {
    c.query(&format!(
        "SELECT DISTINCT id, received_us FROM message_keys WHERE kind IN ({}) AND key = ?",
        kind_list(kinds)
    ))
    .bind(key)
    .fetch_all()
    .await
    .map_err(ch)
}

/// Messages by (id, time), newest first.
async fn messages_at(
    c: &clickhouse::Client,
    at: &[(i64, i64)],
) -> Result<Vec<Message>, StoreError> {
    let mut keys: Vec<(i64, i64)> = at.iter().map(|&(id, t)| (t, id)).collect();
    keys.sort_unstable_by(|a, b| b.cmp(a));
    keys.dedup();
    docs_at(c, &keys).await
}

/// One message, with its line numbers and timeline (without the lines' text).
pub(super) async fn message(
    c: &clickhouse::Client,
    id: i64,
) -> Result<Option<Message>, StoreError> {
    let at = by_key(c, &[kind::ID], &id.to_string()).await?;
    Ok(messages_at(c, &at).await?.into_iter().find(|m| m.id == id))
}

/// Messages whose queue id or Message-ID is `key`.
pub(super) async fn lookup(c: &clickhouse::Client, key: &str) -> Result<Vec<Message>, StoreError> {
    let mut at = by_key(c, &[kind::QUEUE_ID, kind::MESSAGE_ID], key).await?;
    if !key.starts_with('<') {
        at.extend(by_key(c, &[kind::MESSAGE_ID], &format!("<{key}>")).await?);
    }
    Ok(messages_at(c, &at)
        .await?
        .into_iter()
        .map(summary)
        .collect())
}

/// Content-filter children and notifications of `id`.
pub(super) async fn related(c: &clickhouse::Client, id: i64) -> Result<Vec<Message>, StoreError> {
    let at = by_key(c, &[kind::PARENT, kind::BOUNCE_OF], &id.to_string()).await?;
    let mut v: Vec<Message> = messages_at(c, &at)
        .await?
        .into_iter()
        .filter(|m| m.parent_id == Some(id) || m.bounce_of == Some(id))
        .map(summary)
        .collect();
    v.reverse(); // oldest first, as they happened
    Ok(v)
}

/// The writer's messages still queued.
pub(super) async fn open_messages(
    c: &clickhouse::Client,
    writer: &str,
    last_version: u64,
) -> Result<Vec<Message>, StoreError> {
    // As of the writer's last commit: versions of a commit that failed half-way are newer
    // (and written again by the resumed ingest).
    let rows: Vec<(u8, String)> = c
        .query(
            "SELECT open, doc FROM messages \
             WHERE writer = ? AND version <= ? AND id IN \
               (SELECT id FROM messages WHERE writer = ? AND open = 1 AND version <= ?) \
             ORDER BY id, version DESC LIMIT 1 BY id",
        )
        .bind(writer)
        .bind(last_version)
        .bind(writer)
        .bind(last_version)
        .fetch_all()
        .await
        .map_err(ch)?;
    let mut open = rows
        .into_iter()
        .filter(|(open, _)| *open == 1)
        .map(|(_, doc)| rows::message_of(&doc))
        .collect::<Result<Vec<_>, _>>()?;
    open.sort_by_key(|m| std::cmp::Reverse((m.received_at, m.id)));
    Ok(open)
}

/// The text of raw lines, in the order asked.
pub(super) async fn raw_lines(
    c: &clickhouse::Client,
    nos: &[LineNo],
) -> Result<Vec<Option<String>>, StoreError> {
    let mut found = std::collections::HashMap::with_capacity(nos.len());
    for part in nos.chunks(NOS_PER_QUERY) {
        let list = part
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let rows: Vec<(u64, String)> = c
            .query(&format!(
                "SELECT no, line FROM raw_lines FINAL WHERE no IN ({list})"
            ))
            .fetch_all()
            .await
            .map_err(ch)?;
        found.extend(rows);
    }
    Ok(nos.iter().map(|n| found.get(n).cloned()).collect())
}

/// Raw lines logged in `[since, until)`, in the order they were read.
pub(super) async fn raw_between(
    c: &clickhouse::Client,
    since: Ts,
    until: Ts,
    paging: Option<Paging>,
) -> Result<Vec<TimedLine>, StoreError> {
    let page = paging.map_or(String::new(), |p| {
        format!(" LIMIT {} OFFSET {}", p.limit, p.offset())
    });
    let rows: Vec<(u64, i64, String)> = c
        .query(&format!(
            "SELECT no, at_us, line FROM raw_lines FINAL \
             WHERE timed = 1 AND at >= toDateTime(?) AND at <= toDateTime(?) AND at_us >= ? AND at_us < ? \
             ORDER BY no{page}"
        ))
        .bind(rows::datetime(since))
        .bind(rows::datetime(until))
        .bind(since.0)
        .bind(until.0)
        .fetch_all()
        .await
        .map_err(ch)?;
    Ok(rows
        .into_iter()
        .map(|(no, at, text)| TimedLine {
            no,
            at: Ts(at),
            text,
        })
        .collect())
}

/// Loose lines, oldest first, with their text.
pub(super) async fn loose_lines(
    c: &clickhouse::Client,
    f: &LooseFilter,
    paging: Paging,
) -> Result<Vec<LooseLine>, StoreError> {
    let mut conds = vec!["1".to_string()];
    let mut binds: Vec<String> = Vec::new();
    if let Some(k) = &f.kind {
        conds.push("kind = ?".into());
        binds.push(k.clone());
    }
    if let Some(s) = &f.server {
        conds.push("server = ?".into());
        binds.push(s.clone());
    }
    if let Some(t) = f.since {
        conds.push(format!(
            "at_us >= {} AND at >= toDateTime({})",
            t.0,
            rows::datetime(t)
        ));
    }
    if let Some(t) = f.until {
        conds.push(format!(
            "at_us < {} AND at <= toDateTime({})",
            t.0,
            rows::datetime(t)
        ));
    }
    let text_filter = f.contains.as_deref();
    // A substring needs the text, which is in raw_lines.
    if text_filter.is_some() {
        conds.push(
            "no IN (SELECT no FROM raw_lines WHERE positionCaseInsensitiveUTF8(line, ?) > 0)"
                .into(),
        );
        binds.push(text_filter.unwrap_or_default().to_string());
    }
    let mut q = c.query(&format!(
        "SELECT server, at_us, kind, no FROM loose_lines FINAL WHERE {} ORDER BY at_us, no LIMIT {} OFFSET {}",
        conds.join(" AND "),
        paging.limit,
        paging.offset()
    ));
    for b in binds {
        q = q.bind(b);
    }
    let rows: Vec<(String, i64, String, u64)> = q.fetch_all().await.map_err(ch)?;
    let nos: Vec<u64> = rows.iter().map(|r| r.3).collect();
    let texts = raw_lines(c, &nos).await?;
    Ok(rows
        .into_iter()
        .zip(texts)
        .map(|((server, at, k, no), text)| LooseLine {
            server,
            at: Ts(at),
            kind: match k.as_str() {
                "other" => LooseKind::Other,
                "session" => LooseKind::Session,
                "notice" => LooseKind::Notice,
                _ => LooseKind::Unparsed,
            },
            no,
            line: text.unwrap_or_default(),
        })
        .collect())
}

/// The writer's checkpoints.
pub(super) async fn checkpoints(
    c: &clickhouse::Client,
    writer: &str,
) -> Result<Vec<Checkpoint>, StoreError> {
    let rows: Vec<(i64, u32, String, u64, u64)> = c
        .query("SELECT ident, ident_len, path, offset, lines FROM checkpoints FINAL WHERE writer = ? ORDER BY ident, ident_len")
        .bind(writer)
        .fetch_all()
        .await
        .map_err(ch)?;
    Ok(rows
        .into_iter()
        .map(|(ident, ident_len, path, offset, lines)| Checkpoint {
            ident,
            ident_len,
            path,
            offset,
            lines,
        })
        .collect())
}

/// The writer's next line number and correlator state, as last committed.
pub(super) async fn state(
    c: &clickhouse::Client,
    writer: &str,
) -> Result<Option<rows::WriterState>, StoreError> {
    c.query("SELECT next_line_no, last_version, state FROM writer_state FINAL WHERE writer = ?")
        .bind(writer)
        .fetch_optional()
        .await
        .map_err(ch)
}

/// What the database holds.
pub(super) async fn stats(c: &clickhouse::Client) -> Result<StoreStats, StoreError> {
    let (messages, recipients, open): (u64, u64, u64) = c
        .query("SELECT count(), sum(length(rcpt)), countIf(open = 1) FROM messages FINAL")
        .fetch_one()
        .await
        .map_err(ch)?;
    let (loose, unparsed): (u64, u64) = c
        .query("SELECT count(), countIf(kind = 'unparsed') FROM loose_lines FINAL")
        .fetch_one()
        .await
        .map_err(ch)?;
    Ok(StoreStats {
        messages,
        recipients,
        open,
        loose,
        unparsed,
    })
}
