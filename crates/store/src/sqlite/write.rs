//! Writing a batch: encoding it (on the pipeline's encoder thread), then its rows inside the
//! open transaction.

use super::{detail, raw, reversed_address, rollup, status_bit, SqliteStore};
use crate::{StoreError, WriteBatch};
use rusqlite::params;

/// A batch encoded for its rows: each message's `doc` and `detail`, in batch order, and the
/// raw log's chunks.
pub(super) struct Encoded {
    pub(super) docs: Vec<Result<Row, String>>,
    pub(super) chunks: Result<Vec<raw::Chunk>, String>,
    /// The statistics the batch adds (its messages' and lines' contributions).
    pub(super) sums: crate::rollup::Sums,
}

/// `(doc, detail)` of one message.
type Row = (Vec<u8>, Vec<u8>);

/// The SQLite [`crate::Encoder`]: compress the raw lines, serialize each message's document
/// (JSON, LZ4) and pack its line numbers and timeline (taking them out of the message, so the
/// batch shrinks as it goes).
pub(super) fn encode_batch(batch: &mut WriteBatch) {
    let mut scratch = Vec::with_capacity(64 * 1024);
    let chunks = raw::compress(&batch.raw);
    let mut sums = crate::rollup::Sums::default();
    sums.lines(&batch.raw);
    for m in &batch.messages {
        sums.message(m, 1);
    }
    batch.raw.text = Vec::new();
    let docs = batch
        .messages
        .iter_mut()
        .map(|m| {
            m.lines.clear();
            let line_nos = std::mem::take(&mut m.line_nos);
            let events = std::mem::take(&mut m.events);
            let detail = detail::encode(&line_nos, &events, &mut scratch);
            let json = serde_json::to_vec(&*m).map_err(|e| e.to_string())?;
            Ok((lz4_flex::compress_prepend_size(&json), detail))
        })
        .collect();
    batch.encoded = Some(Box::new(Encoded { docs, chunks, sums }));
}

fn lower(s: Option<&str>) -> Option<String> {
    s.map(str::to_ascii_lowercase)
}

impl SqliteStore {
    /// The rows of one batch, inside the open transaction.
    pub(super) fn write_rows(&self, batch: WriteBatch, encoded: Encoded) -> Result<(), StoreError> {
        let mut sums = encoded.sums;
        {
            let mut chunk = self.conn.prepare_cached(
                "INSERT INTO raw_chunks (first, count, data, min_at, max_at, times) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for c in encoded.chunks.map_err(StoreError::Encode)? {
                let times = c.span.map(|_| c.times);
                chunk.execute(params![
                    c.first as i64,
                    c.count as i64,
                    c.data,
                    c.span.map(|s| s.0),
                    c.span.map(|s| s.1),
                    times
                ])?;
            }
            // New messages are plain inserts; a message written before (still queued then) is
            // updated in place and its recipients replaced.
            const COLS: &str = "server, mta, queue_id, message_id, sender, sender_domain, subject, client_host, client_ip, \
                                received_at, last_seen, status, open, reason, size, parent_id, bounce_of, statuses, id";
            let mut ins = self.conn.prepare_cached(&format!(
                "INSERT INTO messages ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19) \
                 ON CONFLICT (id) DO NOTHING"
            ))?;
            let mut upd = self.conn.prepare_cached(
                "UPDATE messages SET server = ?1, mta = ?2, queue_id = ?3, message_id = ?4, sender = ?5, sender_domain = ?6, \
                 subject = ?7, client_host = ?8, client_ip = ?9, received_at = ?10, last_seen = ?11, status = ?12, open = ?13, \
                 reason = ?14, size = ?15, parent_id = ?16, bounce_of = ?17, statuses = ?18 WHERE id = ?19 RETURNING rowid",
            )?;
            let mut ins_doc = self
                .conn
                .prepare_cached("INSERT INTO message_docs (id, doc, detail) VALUES (?1, ?2, ?3)")?;
            let mut upd_doc = self
                .conn
                .prepare_cached("UPDATE message_docs SET doc = ?2, detail = ?3 WHERE id = ?1")?;
            let mut old_doc = self
                .conn
                .prepare_cached("SELECT doc FROM message_docs WHERE id = ?1")?;
            let mut old_time = self
                .conn
                .prepare_cached("SELECT received_at FROM messages WHERE id = ?1")?;
            let mut del = self.conn.prepare_cached(
                "DELETE FROM recipients WHERE raddr = ?1 AND received_at = ?2 AND message = ?3",
            )?;
            let mut rcpt = self.conn.prepare_cached(
                "INSERT INTO recipients (raddr, rdomain, received_at, message, idx, address, orig_to, status, dsn, smtp_code, relay, response) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            for (m, enc) in batch.messages.iter().zip(encoded.docs) {
                let (doc, detail) = enc.map_err(StoreError::Encode)?;
                let statuses = m
                    .recipients
                    .iter()
                    .fold(status_bit(m.status), |acc, r| acc | status_bit(r.status));
                let values = params![
                    m.server,
                    m.mta,
                    m.queue_id,
                    m.message_id,
                    m.sender,
                    m.sender_domain(),
                    m.subject,
                    m.client_host,
                    m.client_ip,
                    m.received_at.0,
                    m.last_seen.0,
                    m.status.as_str(),
                    m.open,
                    m.reason,
                    m.size.map(|s| s as i64),
                    m.parent_id,
                    m.bounce_of,
                    statuses,
                    m.id,
                ];
                if ins.execute(values)? == 1 {
                    ins_doc.execute(params![self.conn.last_insert_rowid(), doc, detail])?;
                } else {
                    // Written before (still queued then): replace its recipients, found through
                    // the previous document.
                    let was: i64 = old_time.query_row([m.id], |r| r.get(0))?;
                    let rowid: i64 = upd.query_row(values, |r| r.get(0))?;
                    let previous: Vec<u8> = old_doc.query_row([rowid], |r| r.get(0))?;
                    let previous = Self::decode(&previous)?;
                    for r in &previous.recipients {
                        del.execute(params![reversed_address(&r.address), was, m.id])?;
                    }
                    // Its statistics are replaced too.
                    sums.message(&previous, -1);
                    upd_doc.execute(params![rowid, doc, detail])?;
                }
                for (i, r) in m.recipients.iter().enumerate() {
                    let raddr = reversed_address(&r.address);
                    let rdomain = raddr.split_once('@').map_or("", |(d, _)| d);
                    rcpt.execute(params![
                        raddr,
                        rdomain,
                        m.received_at.0,
                        m.id,
                        i as i64,
                        r.address,
                        lower(r.orig_to.as_deref()),
                        r.status.as_str(),
                        r.dsn,
                        r.smtp_code,
                        r.relay,
                        r.response,
                    ])?;
                }
            }
            let mut loose = self.conn.prepare_cached(
                "INSERT INTO loose_lines (server, at, kind, line_no) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for l in &batch.loose {
                loose.execute(params![l.server, l.at.0, l.kind.as_str(), l.no as i64])?;
            }
            rollup::write(&sums, &self.conn)?;
            if let Some(cp) = &batch.checkpoint {
                self.conn.prepare_cached(
                    "INSERT OR REPLACE INTO checkpoints (ident, ident_len, path, offset, lines, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, strftime('%s','now'))",
                )?
                .execute(params![cp.ident, cp.ident_len, cp.path, cp.offset as i64, cp.lines as i64])?;
            }
            if let Some(state) = &batch.state {
                self.conn
                    .prepare_cached("INSERT OR REPLACE INTO correlator (id, state) VALUES (1, ?1)")?
                    .execute([state])?;
            }
        }
        Ok(())
    }
}
