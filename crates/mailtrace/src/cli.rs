//! Command-line interface (clap).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Trace what happened to every e-mail your mail servers handled.
#[derive(Parser, Debug)]
#[command(name = "mailtrace", version, about, propagate_version = true)]
pub struct Cli {
    /// Store: a file (default: mailtrace.db in the user's data directory), or a ClickHouse
    /// database, `clickhouse://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE` (`https://` for TLS;
    /// run `mailtrace migrate` first).
    #[arg(
        long,
        visible_alias = "store",
        global = true,
        env = "MAILTRACE_DB",
        value_name = "PATH|URL"
    )]
    pub db: Option<PathBuf>,
    /// Name of this writer in a shared ClickHouse store (its checkpoints, correlator state and
    /// line numbers are its own): one per ingesting process [default: this machine's name].
    #[arg(long, global = true, env = "MAILTRACE_WRITER", value_name = "NAME")]
    pub writer: Option<String>,
    /// Time zone for displayed times and for dates given without zone (default: the system's).
    #[arg(long, global = true, env = "MAILTRACE_TZ", value_name = "ZONE")]
    pub tz: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Read mail logs (plain or .gz, `-` for stdin) into the store.
    Ingest(IngestArgs),
    /// Search messages, newest first.
    Search(SearchArgs),
    /// Show one message: recipients, attempts, timeline (and raw lines with --raw).
    Show(ShowArgs),
    /// Export every matching message as CSV or JSON (times in UTC).
    Export(ExportArgs),
    /// List lines that belong to no message (unparsed lines, sessions without mail, notices).
    Lines(LinesArgs),
    /// What the store holds.
    Stats,
    /// Mail-flow statistics (like pflogsumm) for the messages matching the criteria.
    Report(ReportArgs),
    /// Forget old data: finished messages (with their statistics) and raw log lines older than
    /// the limits. Messages still queued stay.
    Purge(PurgeArgs),
    /// Serve the web dashboard and the JSON API; with --follow or --syslog-udp/--syslog-tcp,
    /// ingest live while serving (and forget old data: --retention).
    Serve(ServeArgs),
    /// Check a configuration (file, environment and flags, as `serve` would read them) and
    /// print the result.
    CheckConfig(ServeArgs),
    /// Print an Argon2id hash of a password (read from standard input) for a --users file.
    HashPassword,
    /// Create or upgrade the schema of a ClickHouse store (--store clickhouse://...).
    Migrate(MigrateArgs),
    /// Ingest a bundled real Postfix log into a temporary store, show what mailtrace finds,
    /// and serve the dashboard on it.
    Demo(DemoArgs),
}

/// Output formats of `report`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// Text laid out like pflogsumm's.
    Text,
    /// JSON.
    Json,
    /// A standalone HTML document with charts.
    Html,
}

/// Periods of `report --period`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportPeriod {
    /// Yesterday (in --tz).
    Day,
    /// The 7 days before today (in --tz).
    Week,
}

/// `report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Criteria (the same as `search`).
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Rows of each ranking (top senders, domains, reasons...).
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Read these log files (plain or gzip, `-` for stdin) instead of the store.
    #[arg(long = "file", value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// With --file: year of the first BSD-timestamp line (default: from the file's time).
    #[arg(long, requires = "files")]
    pub year: Option<i16>,
    /// The period: yesterday, or the 7 days before today (instead of --since/--until/--last).
    #[arg(long, value_enum, conflicts_with_all = ["since", "until", "last", "today", "yesterday"])]
    pub period: Option<ReportPeriod>,
    /// Send the report by e-mail (HTML and plain text) to this address instead of printing it
    /// (repeat for more recipients).
    #[arg(long, value_name = "ADDR")]
    pub mail_to: Vec<String>,
    /// SMTP server to send through (plain SMTP; usually the local mail server).
    #[arg(
        long,
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:25",
        requires = "mail_to"
    )]
    pub smtp: String,
    /// Sender address of the e-mail.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "mailtrace@localhost",
        requires = "mail_to"
    )]
    pub mail_from: String,
}

/// Who may use the server.
#[derive(Args, Debug, Clone, Default)]
pub struct AuthArgs {
    /// Shared secret (at least 16 characters): `Authorization: Bearer TOKEN`, or as the
    /// password of HTTP Basic with any user name.
    #[arg(long, env = "MAILTRACE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Users file: one `name:HASH` per line, HASH from `mailtrace hash-password`.
    #[arg(long, env = "MAILTRACE_USERS", value_name = "FILE")]
    pub users: Option<PathBuf>,
}

/// `serve` and `check-config`. Every option can also be set in the configuration file and
/// by an environment variable; a flag wins over the variable, which wins over the file.
#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    /// Configuration file (TOML; see the README's "Run as a service").
    #[arg(long, env = "MAILTRACE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8025]. Beyond loopback, --token or --users
    /// is required.
    #[arg(long, env = "MAILTRACE_LISTEN")]
    pub listen: Option<std::net::SocketAddr>,
    /// Authentication.
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Follow these log files as they grow (like `tail -F`, rotation included; rotated files
    /// next to them not read yet are read first). Comma-separated in the variable.
    #[arg(
        long,
        short = 'f',
        env = "MAILTRACE_FOLLOW",
        value_name = "FILE",
        value_delimiter = ','
    )]
    pub follow: Vec<PathBuf>,
    /// Receive syslog over UDP on this address (RFC 3164 and 5424), e.g. 0.0.0.0:5514.
    #[arg(long, env = "MAILTRACE_SYSLOG_UDP", value_name = "ADDR")]
    pub syslog_udp: Option<std::net::SocketAddr>,
    /// Receive syslog over TCP on this address (newline or octet-counting framing).
    #[arg(long, env = "MAILTRACE_SYSLOG_TCP", value_name = "ADDR")]
    pub syslog_tcp: Option<std::net::SocketAddr>,
    /// Server name of followed logs whose lines name none (Exim's main log, SmarterMail)
    /// [default: this machine's host name].
    #[arg(long, env = "MAILTRACE_SERVER", value_name = "NAME")]
    pub server: Option<String>,
    /// Time zone of BSD syslog timestamps [default: --tz, else the system's].
    #[arg(long, env = "MAILTRACE_LOG_TZ", value_name = "ZONE")]
    pub log_tz: Option<String>,
    /// Keep messages this long: 30d, 12w, 36h; `off` keeps everything [default: 30d].
    #[arg(long, env = "MAILTRACE_RETENTION", value_name = "AGE")]
    pub retention: Option<String>,
    /// Keep raw log lines this long (at most --retention) [default: as --retention].
    #[arg(long, env = "MAILTRACE_RAW_RETENTION", value_name = "AGE")]
    pub raw_retention: Option<String>,
    /// Pause between two background purges [default: 1h].
    #[arg(
        long,
        env = "MAILTRACE_RETENTION_EVERY",
        value_name = "AGE",
        hide = true
    )]
    pub retention_every: Option<String>,
}

/// `migrate`.
#[derive(Args, Debug)]
pub struct MigrateArgs {
    /// Spread the database over the nodes of this cluster (of the servers' `remote_servers`):
    /// replicated tables on every node (needs ZooKeeper and the `{shard}` and `{replica}`
    /// macros) behind `Distributed` tables. Only when the database is created.
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
}

/// `demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Print the search and the message, then exit (do not start the dashboard).
    #[arg(long)]
    pub no_serve: bool,
    /// Address of the dashboard.
    #[arg(long, default_value = "127.0.0.1:8025")]
    pub listen: std::net::SocketAddr,
}

/// `purge`.
#[derive(Args, Debug)]
pub struct PurgeArgs {
    /// Keep messages received in this last period: 30d, 12w, 36h.
    #[arg(long, value_name = "AGE", default_value = "30d")]
    pub older_than: String,
    /// Keep raw log lines (and the lines that belong to no message) this long (default: as
    /// long as messages). Messages older than this keep their timeline, not their raw lines.
    #[arg(long, value_name = "AGE")]
    pub raw_older_than: Option<String>,
}

/// Log formats of `ingest --format`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Detect each file's format from its first lines.
    Auto,
    /// Syslog: Postfix, Exim, Sendmail (per line, by program).
    Syslog,
    /// Exim's own main log.
    Exim,
    /// SmarterMail's SMTP log.
    SmartermailSmtp,
    /// SmarterMail's delivery log.
    SmartermailDelivery,
    /// SMTP conversation transcripts (`... - [conn] S <-- COMMAND`).
    Transcript,
}

impl LogFormat {
    /// The format to read every file as; `None` detects it per file.
    pub fn format(self) -> Option<mailtrace_ingest::Format> {
        use mailtrace_ingest::Format;
        Some(match self {
            LogFormat::Auto => return None,
            LogFormat::Syslog => Format::Syslog,
            LogFormat::Exim => Format::Exim,
            LogFormat::SmartermailSmtp => Format::SmarterMailSmtp,
            LogFormat::SmartermailDelivery => Format::SmarterMailDelivery,
            LogFormat::Transcript => Format::Transcript,
        })
    }
}

/// `ingest`.
#[derive(Args, Debug)]
pub struct IngestArgs {
    /// Log files (plain or gzip); `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Server name for every line (default: the syslog host field; for logs whose lines name
    /// no host, such as Exim's own main log, SmarterMail and transcripts: this machine's name).
    #[arg(long)]
    pub server: Option<String>,
    /// Log format of every file (default: detected per file from its first lines). `syslog`
    /// reads Postfix, Exim and Sendmail lines through syslog, dispatched per line.
    #[arg(long, value_enum, default_value_t = LogFormat::Auto)]
    pub format: LogFormat,
    /// Year of the first line for BSD syslog timestamps (default: from the file's modification time).
    #[arg(long)]
    pub year: Option<i16>,
    /// Time zone of the log's BSD timestamps (default: --tz, else the system's).
    #[arg(long, value_name = "ZONE")]
    pub log_tz: Option<String>,
    /// Keep reading the files as they grow (like `tail -F`, rotation included) until SIGTERM
    /// or Ctrl-C; rotated files next to them (`mail.log.1`, `mail.log.2.gz`...) not read yet
    /// are read first. New lines are searchable about a second after they are written.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Lines per commit at most (tests commit often to crash between commits).
    #[arg(long, hide = true, default_value_t = 2_000_000)]
    pub batch_lines: u64,
}

/// Search criteria shared by `search` and `export`.
#[derive(Args, Debug, Clone, Default)]
pub struct FilterArgs {
    /// Sender: address, @domain, or <> for the null sender.
    #[arg(long, value_name = "ADDR")]
    pub from: Option<String>,
    /// Recipient: address or @domain.
    #[arg(long, value_name = "ADDR")]
    pub to: Option<String>,
    /// Subject contains (case-insensitive).
    #[arg(long)]
    pub subject: Option<String>,
    /// Status (repeat or comma-separate): delivered, deferred, bounced, expired, rejected, queued, held, discarded, removed.
    #[arg(long, value_delimiter = ',')]
    pub status: Vec<String>,
    /// Queue id.
    #[arg(long)]
    pub queue_id: Option<String>,
    /// Message-ID header (with or without <>).
    #[arg(long)]
    pub message_id: Option<String>,
    /// Client host name or IP.
    #[arg(long, value_name = "HOST|IP")]
    pub client: Option<String>,
    /// Relay (next hop) contains.
    #[arg(long, value_name = "HOST")]
    pub relay: Option<String>,
    /// Server name.
    #[arg(long, value_name = "NAME")]
    pub server: Option<String>,
    /// Rejection reason or response contains.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Received at or after (RFC 3339, or a date/time in --tz).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Received before (RFC 3339, or a date/time in --tz).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Received in the last period: 30m, 2h, 7d, 2w.
    #[arg(long, value_name = "DURATION", conflicts_with_all = ["since", "today", "yesterday"])]
    pub last: Option<String>,
    /// Received today (in --tz).
    #[arg(long, conflicts_with_all = ["since", "until", "yesterday"])]
    pub today: bool,
    /// Received yesterday (in --tz).
    #[arg(long, conflicts_with_all = ["since", "until"])]
    pub yesterday: bool,
}

/// Output formats of `search`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchFormat {
    /// Aligned columns.
    Table,
    /// JSON: `{total, page, limit, messages: [...]}`.
    Json,
    /// CSV, one row per recipient.
    Csv,
}

/// `search`.
#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Criteria.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Results per page.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Page, from 1.
    #[arg(long, default_value_t = 1)]
    pub page: u32,
    /// Columns of the table: time,server,queue_id,message_id,from,to,subject,size,status,delay,relay,dsn,smtp_code,response,client.
    #[arg(long, value_name = "LIST")]
    pub columns: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SearchFormat::Table)]
    pub format: SearchFormat,
}

/// Output formats of `show`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShowFormat {
    /// Readable text.
    Text,
    /// JSON with attempts, timeline and raw lines.
    Json,
}

/// `show`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    /// Queue id, Message-ID, or mailtrace id.
    pub id: String,
    /// Also print the raw log lines of the message.
    #[arg(long)]
    pub raw: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
    pub format: ShowFormat,
}

/// Output formats of `export`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// CSV, one row per recipient, formula-safe.
    Csv,
    /// JSON Lines, one message per line.
    Json,
}

/// `export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Criteria.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// `lines`.
#[derive(Args, Debug)]
pub struct LinesArgs {
    /// Kind: unparsed, other, session, notice.
    #[arg(long)]
    pub kind: Option<String>,
    /// Server name.
    #[arg(long)]
    pub server: Option<String>,
    /// Line contains.
    #[arg(long)]
    pub grep: Option<String>,
    /// At or after.
    #[arg(long)]
    pub since: Option<String>,
    /// Before.
    #[arg(long)]
    pub until: Option<String>,
    /// Lines per page.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Page, from 1.
    #[arg(long, default_value_t = 1)]
    pub page: u32,
}
