//! Which store a command works on: a store file or a ClickHouse database (`--db`/`--store`),
//! as which writer; and `migrate`.

use super::*;

pub(super) fn default_db() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("mailtrace")
        .join("mailtrace.db")
}

pub(super) fn store_path(db: Option<PathBuf>, create: bool) -> Result<PathBuf> {
    let path = db.unwrap_or_else(default_db);
    if !create && !path.exists() {
        bail!(
            "no store at {} (run `mailtrace ingest FILE` first, or pass --db)",
            path.display()
        );
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(path)
}

/// `--writer`, when given.
pub(super) static WRITER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// This process's writer name in a shared store.
pub(super) fn writer() -> String {
    WRITER
        .get()
        .cloned()
        .unwrap_or_else(mailtrace_ingest::local_host_name)
}

/// The ClickHouse store `db` names, if it names one.
pub(super) fn clickhouse_of(db: Option<&PathBuf>) -> Result<Option<Location>> {
    let Some(s) = db.and_then(|p| p.to_str()) else {
        return Ok(None);
    };
    let url = ["clickhouse://", "clickhouses://", "http://", "https://"]
        .iter()
        .any(|p| s.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p)));
    Ok(if url { Some(Location::parse(s)?) } else { None })
}

pub(super) fn open_store(db: Option<PathBuf>, create: bool) -> Result<Box<dyn Store>> {
    opener(db, create)?().map_err(Into::into)
}

/// Opens stores of `db` (a file, created when `create`, or a ClickHouse database).
pub(super) fn opener(db: Option<PathBuf>, create: bool) -> Result<Box<Opener>> {
    if let Some(loc) = clickhouse_of(db.as_ref())? {
        let writer = writer();
        return Ok(Box::new(move || {
            ClickHouseStore::open(&loc, &writer).map(|s| Box::new(s) as Box<dyn Store>)
        }));
    }
    let path = store_path(db, create)?;
    Ok(Box::new(move || {
        SqliteStore::open(&path).map(|s| Box::new(s) as Box<dyn Store>)
    }))
}

/// `migrate`: create or upgrade a ClickHouse store's schema.
pub(super) fn migrate(db: Option<PathBuf>, cluster: Option<&str>) -> Result<ExitCode> {
    let Some(loc) = clickhouse_of(db.as_ref())? else {
        bail!("migrate is for ClickHouse stores (--store clickhouse://HOST:8123/DATABASE); a store file is upgraded when it is opened");
    };
    let (from, to) = ClickHouseStore::migrate(&loc, cluster)?;
    if from == to {
        println!("{loc}: schema version {to}, up to date");
    } else {
        println!("{loc}: schema version {from} -> {to}");
    }
    Ok(ExitCode::SUCCESS)
}
