//! Where the ClickHouse store is, and the connection to it: the URL, credentials, the server's
//! version and the settings it understands.

use super::schema;
use crate::StoreError;

/// A ClickHouse store's address: `clickhouse://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE`
/// (HTTP, port 8123 by default), or `https://...` for TLS (port 8443 by default); `http://`
/// is the same as `clickhouse://`. User and password may also come from the environment
/// (`MAILTRACE_CLICKHOUSE_USER`, `MAILTRACE_CLICKHOUSE_PASSWORD`); the URL wins.
#[derive(Clone, PartialEq, Eq)]
pub struct Location {
    /// `http://host:port` or `https://host:port`.
    pub endpoint: String,
    /// The database.
    pub database: String,
    /// User name.
    pub user: Option<String>,
    /// Password.
    pub password: Option<String>,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Location")
            .field("endpoint", &self.endpoint)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "********"))
            .finish()
    }
}

impl std::fmt::Display for Location {
    /// The URL without the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (scheme, rest) = self.endpoint.split_once("://").unwrap_or(("http", ""));
        let scheme = if scheme == "https" {
            "https"
        } else {
            "clickhouse"
        };
        match &self.user {
            Some(u) => write!(f, "{scheme}://{u}@{rest}/{}", self.database),
            None => write!(f, "{scheme}://{rest}/{}", self.database),
        }
    }
}

fn bad(url: &str, why: &str) -> StoreError {
    StoreError::Filter {
        field: "store",
        message: format!(
            "{url:?}: {why} (expected clickhouse://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE)"
        ),
    }
}

/// `%XX` escapes of a URL part.
fn unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Location {
    /// Parse a store URL, taking missing credentials from the environment.
    ///
    /// # Errors
    /// Not a ClickHouse URL, or without a database.
    pub fn parse(url: &str) -> Result<Location, StoreError> {
        Location::parse_with(url, |k| std::env::var(k).ok())
    }

    /// [`Location::parse`] with another environment.
    ///
    /// # Errors
    /// As [`Location::parse`].
    pub fn parse_with(
        url: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Location, StoreError> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad(url, "not a URL"))?;
        let (tls, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "clickhouse" | "http" => (false, 8123),
            "https" | "clickhouses" => (true, 8443),
            _ => return Err(bad(url, "unknown scheme")),
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if hostport.is_empty() {
            return Err(bad(url, "no host"));
        }
        let hostport = if hostport
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.contains(']'))
        {
            hostport.to_string()
        } else {
            format!("{hostport}:{default_port}")
        };
        let database = path
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .trim_end_matches('/');
        if database.is_empty() {
            return Err(bad(url, "no database"));
        }
        if !database
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(bad(url, "a database name is letters, digits and _"));
        }
        let (mut user, mut password) = (None, None);
        if let Some(u) = userinfo {
            let (name, pass) = match u.split_once(':') {
                Some((n, p)) => (n, Some(p)),
                None => (u, None),
            };
            user = Some(unescape(name).ok_or_else(|| bad(url, "bad %-escape in the user"))?);
            password = pass
                .map(|p| unescape(p).ok_or_else(|| bad(url, "bad %-escape in the password")))
                .transpose()?;
        }
        Ok(Location {
            endpoint: format!("{}://{hostport}", if tls { "https" } else { "http" }),
            database: database.to_string(),
            user: user.or_else(|| env("MAILTRACE_CLICKHOUSE_USER")),
            password: password.or_else(|| env("MAILTRACE_CLICKHOUSE_PASSWORD")),
        })
    }

    /// A client of the server, without a database (to create it).
    pub(super) fn server_client(&self) -> clickhouse::Client {
        let mut c = clickhouse::Client::default()
            .with_url(&self.endpoint)
            // 18.16 knows neither RowBinaryWithNamesAndTypes nor the schema lookup the
            // crate's validation uses: rows are checked by the store's own tests instead.
            .with_validation(false);
        if let Some(u) = &self.user {
            c = c.with_user(u);
        }
        if let Some(p) = &self.password {
            c = c.with_password(p);
        }
        c
    }
}

/// What the server is and understands.
pub(super) struct Server {
    /// `SELECT version()`.
    pub(super) version: String,
    /// It knows `allow_experimental_low_cardinality_type` (18.x needs it for DDL; an unknown
    /// setting fails every query, so it is sent only where it is known).
    pub(super) low_cardinality_setting: bool,
}

impl Server {
    pub(super) async fn probe(c: &clickhouse::Client) -> Result<Server, StoreError> {
        let version: String = c.query("SELECT version()").fetch_one().await.map_err(ch)?;
        let known: u64 = c
            .query("SELECT count() FROM system.settings WHERE name = 'allow_experimental_low_cardinality_type'")
            .fetch_one()
            .await
            .map_err(ch)?;
        Ok(Server {
            version,
            low_cardinality_setting: known > 0,
        })
    }

    /// The client for the database, with the settings this server needs.
    pub(super) fn client(&self, loc: &Location, cluster: Option<&str>) -> clickhouse::Client {
        let mut c = loc.server_client().with_database(&loc.database);
        if self.low_cardinality_setting {
            c = c.with_setting("allow_experimental_low_cardinality_type", "1");
        }
        if cluster.is_some() {
            // Subqueries on the shard's own tables (a message's versions and keys, a writer's
            // rows live on one shard), and inserts that return once on their shards.
            c = c
                .with_setting("distributed_product_mode", "local")
                .with_setting("insert_distributed_sync", "1");
        }
        c
    }
}

/// The cluster a database's tables are spread over (`migrate --cluster`): the first argument
/// of its `messages` table's `Distributed` engine; `None` for a database on one server.
pub(super) async fn cluster_of(
    root: &clickhouse::Client,
    database: &str,
) -> Result<Option<String>, StoreError> {
    let engine: Option<String> = root
        .query("SELECT engine_full FROM system.tables WHERE database = ? AND name = 'messages'")
        .bind(database)
        .fetch_optional()
        .await
        .map_err(ch)?;
    Ok(engine.and_then(|e| {
        let args = e.strip_prefix("Distributed(")?;
        let name = args
            .split(',')
            .next()?
            .trim()
            .trim_matches(['\'', '`', '"']);
        Some(name.to_string())
    }))
}

/// A ClickHouse error as a store error.
pub(super) fn ch(e: clickhouse::error::Error) -> StoreError {
    StoreError::Backend(format!("clickhouse: {e}"))
}

/// Create the database and bring its schema to the newest version, on one server or spread
/// over `cluster` ([`schema::for_cluster`]); returns (from, to).
pub(super) async fn migrate(
    loc: &Location,
    cluster: Option<&str>,
) -> Result<(u32, u32), StoreError> {
    let root = loc.server_client();
    let server = Server::probe(&root).await?;
    let db = &loc.database;
    if let Some(c) = cluster {
        if c.is_empty() || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(StoreError::Filter {
                field: "cluster",
                message: format!("{c:?}: a cluster name is letters, digits and _"),
            });
        }
    }
    let found = cluster_of(&root, db).await?;
    let has_messages: u64 = root
        .query("SELECT count() FROM system.tables WHERE database = ? AND name = 'messages'")
        .bind(db.as_str())
        .fetch_one()
        .await
        .map_err(ch)?;
    if has_messages > 0 && found.as_deref() != cluster {
        return Err(StoreError::Misuse(if cluster.is_some() {
            "the database exists on one server; `migrate --cluster` makes a new one"
        } else {
            "the database is spread over a cluster: migrate it with `--cluster NAME`"
        }));
    }
    let on = cluster.map_or(String::new(), |c| format!(" ON CLUSTER {c}"));
    root.query(&format!("CREATE DATABASE IF NOT EXISTS `{db}`{on}"))
        .execute()
        .await
        .map_err(ch)?;
    let c = server.client(loc, cluster);
    let run = |statement: &'static str| {
        let c = c.clone();
        let server = &server;
        async move {
            let statements = match cluster {
                // The other nodes run `ON CLUSTER` statements without this session's settings:
                // where LowCardinality still needs one (18.x), plain strings.
                Some(name) if server.low_cardinality_setting => schema::for_cluster(
                    &statement.replace("LowCardinality(String)", "String"),
                    name,
                    db,
                ),
                Some(name) => schema::for_cluster(statement, name, db),
                None => vec![statement.to_string()],
            };
            for s in statements {
                c.query(&s).execute().await.map_err(ch)?;
            }
            Ok::<(), StoreError>(())
        }
    };
    run(schema::VERSIONS_TABLE).await?;
    let from = applied(&c).await?;
    if from > schema::VERSION {
        return Err(StoreError::TooNew {
            path: loc.to_string(),
            found: i64::from(from),
            supported: i64::from(schema::VERSION),
        });
    }
    for (i, statements) in schema::MIGRATIONS.iter().enumerate().skip(from as usize) {
        for s in *statements {
            run(s).await?;
        }
        c.query("INSERT INTO mailtrace_schema (version, applied) VALUES (?, now())")
            .bind(i as u32 + 1)
            .execute()
            .await
            .map_err(ch)?;
    }
    Ok((from, schema::VERSION))
}

/// The schema version of the database (0: none).
pub(super) async fn applied(c: &clickhouse::Client) -> Result<u32, StoreError> {
    c.query("SELECT toUInt32(max(version)) FROM mailtrace_schema")
        .fetch_one()
        .await
        .map_err(ch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let env = |k: &str| match k {
            "MAILTRACE_CLICKHOUSE_USER" => Some("envuser".to_string()),
            "MAILTRACE_CLICKHOUSE_PASSWORD" => Some("envpass".to_string()),
            _ => None,
        };
        let none = |_: &str| None;
        let l = Location::parse_with("clickhouse://127.0.0.1:8123/mail", none).unwrap();
        assert_eq!(l.endpoint, "http://127.0.0.1:8123");
        assert_eq!(l.database, "mail");
        assert_eq!((l.user, l.password), (None, None));
        let l = Location::parse_with("https://ann:p%40ss%3Aw@ch.example.net/mail_2", none).unwrap();
        assert_eq!(l.endpoint, "https://ch.example.net:8443");
        assert_eq!(l.user.as_deref(), Some("ann"));
        assert_eq!(l.password.as_deref(), Some("p@ss:w"));
        assert_eq!(l.to_string(), "https://ann@ch.example.net:8443/mail_2");
        assert!(!format!("{l:?}").contains("p@ss"));
        let l = Location::parse_with("clickhouse://db.local/mail", env).unwrap();
        assert_eq!(l.endpoint, "http://db.local:8123");
        assert_eq!(l.user.as_deref(), Some("envuser"));
        assert_eq!(l.password.as_deref(), Some("envpass"));
        for bad in [
            "mail.db",
            "postgres://h/db",
            "clickhouse://h",
            "clickhouse://h/",
            "clickhouse:///db",
            "clickhouse://h/db;drop",
            "clickhouse://a:%zz@h/db",
        ] {
            assert!(Location::parse_with(bad, none).is_err(), "{bad}");
        }
    }
}
