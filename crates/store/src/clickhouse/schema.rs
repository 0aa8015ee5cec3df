//! The ClickHouse schema, versioned: `mailtrace migrate` applies what a database lacks.
//!
//! Designed for ClickHouse rather than copied from the embedded store:
//! - every table is partitioned by day (`toYYYYMMDD` of a `DateTime('UTC')` column), so a time
//!   range reads only its days and retention drops whole partitions (18.16 has no TTL);
//! - what changes (a message while it is queued, an input's checkpoint) is inserted again
//!   with a higher version into a `ReplacingMergeTree`, and reads take the latest version
//!   (`FINAL`); nothing is updated in place. A message keeps the partition of the day it was
//!   received, so its versions merge;
//! - `messages` is ordered by time (newest-first pages of a time range read in key order);
//!   `message_keys` holds one row per searchable value (sender, sender domain, recipient,
//!   recipient domain, original recipient, queue id, Message-ID, client) ordered by
//!   (kind, key, time), so those searches read a key range and not every message;
//! - raw lines have their own table, keyed by line number. Line numbers carry their writer
//!   in the top 16 bits, so several writers number lines without asking each other;
//! - statistics are the sums of each commit (`stats`, per hour, server, sender domain,
//!   dimension and key, as the embedded store's rollups), tagged with the writer, commit and
//!   insert within the commit;
//!   a report sums them in the server. Sums of a commit that failed half-way are listed in
//!   `abandoned` and left out, so that a commit repeated after a failure counts once;
//! - a message's version is the line number its batch ended at (shifted, plus a counter),
//!   so the version written for the same input is the same whatever the commit boundaries,
//!   and a writer resuming after a crash reads the queued messages as of its last commit;
//! - times are `Int64` microseconds (the model's `Ts`; 18.16 has no `DateTime64`) beside a
//!   `DateTime('UTC')` for partitions.
//!
//! Statements work on 18.16 and on current releases. `LowCardinality` needs
//! `allow_experimental_low_cardinality_type` on 18.16 (the connection sets it where the server
//! knows the setting).

/// Each entry moves a database one version up; the statements of one entry run in order.
pub(super) const MIGRATIONS: &[&[&str]] = &[&[
    "CREATE TABLE IF NOT EXISTS messages (
        id Int64,
        version UInt64,
        received DateTime('UTC'),
        received_us Int64,
        last_seen_us Int64,
        writer LowCardinality(String),
        server LowCardinality(String),
        mta LowCardinality(String),
        queue_id String,
        message_id String,
        sender Nullable(String),
        sender_domain String,
        subject String,
        client_host String,
        client_ip String,
        status LowCardinality(String),
        statuses UInt16,
        open UInt8,
        reason String,
        size Nullable(UInt64),
        parent_id Nullable(Int64),
        bounce_of Nullable(Int64),
        rcpt Array(String),
        rcpt_domain Array(String),
        orig_to Array(String),
        relay Array(String),
        response Array(String),
        doc String
     ) ENGINE = ReplacingMergeTree(version)
     PARTITION BY toYYYYMMDD(received)
     ORDER BY (received_us, id)",
    "CREATE TABLE IF NOT EXISTS message_keys (
        kind LowCardinality(String),
        key String,
        received DateTime('UTC'),
        received_us Int64,
        id Int64
     ) ENGINE = ReplacingMergeTree
     PARTITION BY toYYYYMMDD(received)
     ORDER BY (kind, key, received_us, id)",
    "CREATE TABLE IF NOT EXISTS raw_lines (
        no UInt64,
        at DateTime('UTC'),
        at_us Int64,
        timed UInt8,
        server LowCardinality(String),
        line String
     ) ENGINE = ReplacingMergeTree
     PARTITION BY toYYYYMMDD(at)
     ORDER BY no",
    "CREATE TABLE IF NOT EXISTS loose_lines (
        at DateTime('UTC'),
        at_us Int64,
        no UInt64,
        server LowCardinality(String),
        kind LowCardinality(String)
     ) ENGINE = ReplacingMergeTree
     PARTITION BY toYYYYMMDD(at)
     ORDER BY (at_us, no)",
    "CREATE TABLE IF NOT EXISTS writers (
        name String,
        id UInt16,
        registered DateTime('UTC')
     ) ENGINE = ReplacingMergeTree
     ORDER BY name",
    "CREATE TABLE IF NOT EXISTS checkpoints (
        writer String,
        ident Int64,
        ident_len UInt32,
        version UInt64,
        path String,
        offset UInt64,
        lines UInt64
     ) ENGINE = ReplacingMergeTree(version)
     ORDER BY (writer, ident, ident_len)",
    "CREATE TABLE IF NOT EXISTS writer_state (
        writer String,
        version UInt64,
        next_line_no UInt64,
        last_version UInt64,
        state String
     ) ENGINE = ReplacingMergeTree(version)
     ORDER BY writer",
    "CREATE TABLE IF NOT EXISTS stats (
        at DateTime('UTC'),
        hour Int64,
        dim UInt8,
        server LowCardinality(String),
        sdom String,
        key String,
        writer LowCardinality(String),
        seq UInt64,
        part UInt32,
        n Int64,
        bytes Int64,
        sum Float64,
        max Float64
     ) ENGINE = ReplacingMergeTree
     PARTITION BY toYYYYMMDD(at)
     ORDER BY (hour, dim, server, sdom, key, writer, seq, part)",
    "CREATE TABLE IF NOT EXISTS abandoned (
        writer String,
        seq UInt64
     ) ENGINE = ReplacingMergeTree
     ORDER BY (writer, seq)",
]];

/// The newest schema version.
pub(super) const VERSION: u32 = MIGRATIONS.len() as u32;

/// The table of applied versions (created first, outside the migrations).
pub(super) const VERSIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS mailtrace_schema (
        version UInt32,
        applied DateTime('UTC')
     ) ENGINE = ReplacingMergeTree
     ORDER BY version";

/// The tables of the newest schema (for checks and for `DROP` in tests).
pub const TABLES: &[&str] = &[
    "messages",
    "message_keys",
    "raw_lines",
    "loose_lines",
    "writers",
    "checkpoints",
    "writer_state",
    "stats",
    "abandoned",
    "mailtrace_schema",
];

/// How rows of each table are spread over the shards of a cluster: all versions of a message
/// and its keys on one shard (`FINAL` and the key lookups work per shard), a writer's state,
/// checkpoints, statistics and abandoned commits on one shard (the statistics' `NOT IN`
/// works per shard).
fn sharding_key(table: &str) -> &'static str {
    match table {
        "messages" | "message_keys" => "cityHash64(id)",
        "raw_lines" | "loose_lines" => "cityHash64(no)",
        "writers" => "cityHash64(name)",
        "mailtrace_schema" => "cityHash64(version)",
        _ => "cityHash64(writer)",
    }
}

/// A `CREATE TABLE` statement of this schema for a cluster (`migrate --cluster NAME`): the
/// table as `<name>_local` on every node (`ON CLUSTER`), replicated (the `{shard}` and
/// `{replica}` macros of the nodes' configuration name it in ZooKeeper), and a `Distributed`
/// table of the original name in front of it, which mailtrace reads and writes.
pub(super) fn for_cluster(statement: &str, cluster: &str, database: &str) -> Vec<String> {
    const CREATE: &str = "CREATE TABLE IF NOT EXISTS ";
    let Some(rest) = statement.strip_prefix(CREATE) else {
        return vec![statement.to_string()];
    };
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let zk = format!("'/clickhouse/tables/{{shard}}/{database}/{name}', '{{replica}}'");
    let mut local = format!(
        "{CREATE}{database}.{name}_local ON CLUSTER {cluster}{}",
        &rest[name.len()..]
    );
    const ENGINE: &str = "ENGINE = ReplacingMergeTree";
    if let Some(at) = local.find(ENGINE) {
        let after = at + ENGINE.len();
        let replicated = if local[after..].starts_with('(') {
            format!("ENGINE = ReplicatedReplacingMergeTree({zk}, ")
        } else {
            format!("ENGINE = ReplicatedReplacingMergeTree({zk})")
        };
        let skip = if local[after..].starts_with('(') {
            1
        } else {
            0
        };
        local.replace_range(at..after + skip, &replicated);
    }
    let distributed = format!(
        "{CREATE}{database}.{name} ON CLUSTER {cluster} AS {database}.{name}_local \
         ENGINE = Distributed({cluster}, {database}, {name}_local, {})",
        sharding_key(&name)
    );
    vec![local, distributed]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_statements_are_replicated_local_tables_behind_distributed_ones() {
        let s = for_cluster(MIGRATIONS[0][0], "c1", "mail");
        assert_eq!(s.len(), 2);
        assert!(s[0].starts_with("CREATE TABLE IF NOT EXISTS mail.messages_local ON CLUSTER c1 ("));
        assert!(s[0].contains(
            "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/mail/messages', '{replica}', version)"
        ));
        assert!(s[0].contains("PARTITION BY toYYYYMMDD(received)"));
        assert_eq!(
            s[1],
            "CREATE TABLE IF NOT EXISTS mail.messages ON CLUSTER c1 AS mail.messages_local \
             ENGINE = Distributed(c1, mail, messages_local, cityHash64(id))"
        );
        // Without a version column.
        let s = for_cluster(MIGRATIONS[0][1], "c1", "mail");
        assert!(s[0].contains(
            "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/mail/message_keys', '{replica}')\n"
        ));
        // Every table has both.
        let all: Vec<String> = MIGRATIONS
            .iter()
            .flat_map(|m| m.iter())
            .chain([&VERSIONS_TABLE])
            .flat_map(|s| for_cluster(s, "c1", "mail"))
            .collect();
        assert_eq!(all.len(), 2 * TABLES.len());
        assert!(all.iter().all(|s| s.contains("ON CLUSTER c1")));
    }
}
