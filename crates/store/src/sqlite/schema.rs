//! Versioned schema. Each entry of `MIGRATIONS` moves the store one version up.

use crate::StoreError;
use rusqlite::{Connection, OptionalExtension};

const MIGRATIONS: &[&str] = &[
    // 1: messages, recipients, loose lines, checkpoints, correlator state.
    // Messages keep SQLite's sequential rowid as the table key (appends are cheap) and their
    // hash id in a unique index. Only searchable columns live in `messages`, so the searches
    // that scan (subject, status, reason) read small rows; `statuses` is a bitmask of the
    // message's and its recipients' statuses. `message_docs` (keyed by the messages rowid) holds
    // the LZ4-compressed JSON document and the packed raw lines and timeline (`detail.rs`).
    // Recipients are appended (rowid) and indexed once, by their reversed lower-case address
    // (`gro.elpmaxe@bob`): one b-tree answers both `bob@example.org` (equality) and
    // `@example.org` (a prefix range).
    "CREATE TABLE messages (
        id INTEGER NOT NULL,
        server TEXT NOT NULL,
        mta TEXT NOT NULL,
        queue_id TEXT,
        message_id TEXT,
        sender TEXT,
        sender_domain TEXT,
        subject TEXT,
        client_host TEXT,
        client_ip TEXT,
        received_at INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        status TEXT NOT NULL,
        open INTEGER NOT NULL,
        reason TEXT,
        size INTEGER,
        parent_id INTEGER,
        bounce_of INTEGER,
        statuses INTEGER NOT NULL
     );
     CREATE TABLE message_docs (
        id INTEGER PRIMARY KEY,
        doc BLOB NOT NULL,
        detail BLOB NOT NULL
     );
     CREATE UNIQUE INDEX messages_id ON messages (id);
     CREATE INDEX messages_received ON messages (received_at);
     CREATE INDEX messages_sender ON messages (sender COLLATE NOCASE, received_at);
     CREATE INDEX messages_sender_domain ON messages (sender_domain, received_at);
     CREATE INDEX messages_queue_id ON messages (queue_id);
     CREATE INDEX messages_message_id ON messages (message_id);
     CREATE INDEX messages_client_ip ON messages (client_ip);
     CREATE INDEX messages_open ON messages (open) WHERE open = 1;
     CREATE INDEX messages_parent ON messages (parent_id) WHERE parent_id IS NOT NULL;
     CREATE INDEX messages_bounce_of ON messages (bounce_of) WHERE bounce_of IS NOT NULL;
     CREATE TABLE recipients (
        raddr TEXT NOT NULL,
        message INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        address TEXT NOT NULL,
        orig_to TEXT,
        status TEXT NOT NULL,
        dsn TEXT,
        smtp_code INTEGER,
        relay TEXT,
        response TEXT
     );
     CREATE INDEX recipients_raddr ON recipients (raddr, message);
     CREATE INDEX recipients_orig_to ON recipients (orig_to) WHERE orig_to IS NOT NULL;
     CREATE TABLE loose_lines (
        id INTEGER PRIMARY KEY,
        server TEXT NOT NULL,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        line TEXT NOT NULL
     );
     CREATE INDEX loose_lines_at ON loose_lines (at);
     CREATE TABLE checkpoints (
        ident INTEGER NOT NULL,
        ident_len INTEGER NOT NULL,
        path TEXT NOT NULL,
        offset INTEGER NOT NULL,
        lines INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (ident, ident_len)
     );
     CREATE TABLE correlator (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL);",
    // 2: the raw log. Every line read is stored once, zstd-compressed, in chunks of consecutive
    // line numbers (`raw.rs`); message details (`detail.rs`) and loose lines refer to numbers.
    // Stores of version 1 kept the text in each message and are not read (see
    // `FIRST_READABLE`), so this runs only on the way up from an empty file.
    "CREATE TABLE raw_chunks (
        first INTEGER PRIMARY KEY,
        count INTEGER NOT NULL,
        data BLOB NOT NULL
     );
     DROP TABLE loose_lines;
     CREATE TABLE loose_lines (
        id INTEGER PRIMARY KEY,
        server TEXT NOT NULL,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        line_no INTEGER NOT NULL
     );
     CREATE INDEX loose_lines_at ON loose_lines (at);",
    // Recipient searches run on the recipients alone, newest first: each recipient carries its
    // message's time and its (reversed) domain, indexed with them.
    "ALTER TABLE recipients ADD COLUMN rdomain TEXT NOT NULL DEFAULT '';
     ALTER TABLE recipients ADD COLUMN received_at INTEGER NOT NULL DEFAULT 0;
     UPDATE recipients SET
        rdomain = substr(raddr, 1, max(instr(raddr, '@') - 1, 0)),
        received_at = coalesce((SELECT m.received_at FROM messages m WHERE m.id = recipients.message), 0);
     DROP INDEX recipients_raddr;
     DROP INDEX recipients_orig_to;
     CREATE INDEX recipients_raddr ON recipients (raddr, received_at, message);
     CREATE INDEX recipients_rdomain ON recipients (rdomain, received_at, message);
     CREATE INDEX recipients_orig_to ON recipients (orig_to, received_at, message) WHERE orig_to IS NOT NULL;",
    // The raw log by time: each chunk's time span, and its lines' times.
    "ALTER TABLE raw_chunks ADD COLUMN min_at INTEGER;
     ALTER TABLE raw_chunks ADD COLUMN max_at INTEGER;
     ALTER TABLE raw_chunks ADD COLUMN times BLOB;
     CREATE INDEX raw_chunks_span ON raw_chunks (max_at, min_at, first) WHERE max_at IS NOT NULL;",
    // Statistics kept at ingest (rollup.rs). A store that already holds messages has no sums
    // for them: reports then read the messages.
    "CREATE TABLE rollup (
        hour INTEGER NOT NULL,
        server TEXT NOT NULL,
        sdom TEXT NOT NULL,
        dim INTEGER NOT NULL,
        key TEXT NOT NULL,
        n INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        sum REAL NOT NULL,
        max REAL NOT NULL,
        PRIMARY KEY (hour, server, sdom, dim, key)
     ) WITHOUT ROWID;
     INSERT OR REPLACE INTO mailtrace_meta (key, value)
        SELECT 'rollups', CASE WHEN EXISTS (SELECT 1 FROM messages) THEN 'partial' ELSE 'complete' END;",
    // Retention deletes recipients by their message's time (appended in about that order, so
    // the index grows at its end).
    "CREATE INDEX recipients_received ON recipients (received_at, message);",
];

/// Stores older than this were written by development versions without a migration path.
const FIRST_READABLE: i64 = 2;

/// The newest schema version this build knows.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Bring the schema up to [`VERSION`]. A database with foreign tables and no version is refused.
pub fn migrate(conn: &Connection, path: &str) -> Result<(), StoreError> {
    // Up to date (the usual case): nothing to write, no lock.
    if current_version(conn).ok().flatten() == Some(VERSION) {
        return Ok(());
    }
    // Otherwise under the write lock, so that two processes opening a new store at once (an
    // ingest and a `stats`) do not both create it: the second waits and finds it made.
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match migrate_locked(conn, path) {
        Ok(()) => {
            conn.execute_batch("COMMIT")?;
            Ok(())
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// The schema version, if the file has one.
fn current_version(conn: &Connection) -> Result<Option<i64>, rusqlite::Error> {
    let v: Option<String> = conn
        .query_row(
            "SELECT value FROM mailtrace_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(v.and_then(|v| v.parse().ok()))
}

fn migrate_locked(conn: &Connection, path: &str) -> Result<(), StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        path: path.to_string(),
        reason,
    };
    let has_meta: bool = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'mailtrace_meta'",
            [],
            |_| Ok(()),
        )
        .optional()
        .map_err(|e| corrupt(e.to_string()))?
        .is_some();
    let version: i64 = if has_meta {
        conn.query_row(
            "SELECT value FROM mailtrace_meta WHERE key = 'schema_version'",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()?
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| corrupt("schema version missing".into()))?
    } else {
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        if tables > 0 {
            return Err(corrupt("an SQLite database of another program".into()));
        }
        conn.execute_batch(
            "CREATE TABLE mailtrace_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        )?;
        0
    };
    if version > VERSION {
        return Err(StoreError::TooNew {
            path: path.to_string(),
            found: version,
            supported: VERSION,
        });
    }
    if version > 0 && version < FIRST_READABLE {
        return Err(StoreError::TooOld {
            path: path.to_string(),
            found: version,
        });
    }
    for (i, m) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        conn.execute_batch(m)?;
        conn.execute(
            "INSERT OR REPLACE INTO mailtrace_meta (key, value) VALUES ('schema_version', ?1)",
            [(i + 1).to_string()],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_3_fills_recipient_time_and_domain() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE mailtrace_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO mailtrace_meta VALUES ('schema_version', '2');",
        )
        .unwrap();
        for m in &MIGRATIONS[..2] {
            conn.execute_batch(m).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO messages (id, server, mta, received_at, last_seen, status, open, statuses)
                 VALUES (7, 'mx', 'postfix', 1234, 1234, 'delivered', 0, 1);
             INSERT INTO recipients (raddr, message, idx, address, status)
                 VALUES ('gro.elpmaxe@bob', 7, 0, 'bob@example.org', 'delivered'),
                        ('toor', 7, 1, 'root', 'delivered');",
        )
        .unwrap();
        migrate(&conn, "test").unwrap();
        let rows: Vec<(String, i64)> = conn
            .prepare("SELECT rdomain, received_at FROM recipients ORDER BY idx")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            rows,
            vec![("gro.elpmaxe".into(), 1234), (String::new(), 1234)]
        );
    }
}
