//! What `serve` runs beside the web server: the live ingest (followed files and the syslog
//! receiver, on a thread of its own with its own store connection), background retention, and
//! the counters `/metrics` and `/healthz` show.

use crate::metrics::{self, Snapshot, Tally};
use crate::Opener;
use mailtrace_ingest::{Ingestor, Listener, Live, LiveCounts, LiveStats, NoProgress};
use mailtrace_model::Ts;
use mailtrace_store::{Retention, StoreError, StoreStats};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What to ingest while serving.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Files to follow (`tail -F`).
    pub follow: Vec<PathBuf>,
    /// Syslog over UDP.
    pub syslog_udp: Option<SocketAddr>,
    /// Syslog over TCP.
    pub syslog_tcp: Option<SocketAddr>,
    /// How to read them.
    pub ingest: mailtrace_ingest::Options,
}

impl Sources {
    /// Is there anything to ingest?
    pub fn any(&self) -> bool {
        !self.follow.is_empty() || self.syslog_udp.is_some() || self.syslog_tcp.is_some()
    }
}

/// How long to keep data, and how often to forget what is older.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Keep messages this long.
    pub messages: Duration,
    /// Keep raw lines this long (at most as long as messages).
    pub raw: Duration,
    /// Pause between two purges.
    pub every: Duration,
}

/// State of the live ingest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "state", content = "error")]
pub enum IngestState {
    /// Nothing to ingest.
    Off,
    /// Reading.
    Running,
    /// Stopped on shutdown.
    Stopped,
    /// Stopped on an error.
    Failed(String),
}

/// What the background work shares with the handlers.
pub struct Telemetry {
    live: Arc<LiveStats>,
    listener: Option<Arc<Listener>>,
    tally: Mutex<Tally>,
    ingest: Mutex<IngestState>,
    /// Runs, messages purged, raw lines purged, last run (Unix seconds).
    retention: Mutex<Option<(u64, u64, u64, i64)>>,
    /// The store's counts, when read, and the number of commits then.
    store: Mutex<Option<(Instant, u64, StoreStats)>>,
}

impl Telemetry {
    /// Nothing running (a dashboard over a store that something else fills).
    pub fn idle() -> Arc<Telemetry> {
        Arc::new(Telemetry {
            live: Arc::default(),
            listener: None,
            tally: Mutex::default(),
            ingest: Mutex::new(IngestState::Off),
            retention: Mutex::default(),
            store: Mutex::default(),
        })
    }

    /// State of the live ingest.
    pub fn ingest_state(&self) -> IngestState {
        lock(&self.ingest).clone()
    }

    fn set_ingest(&self, s: IngestState) {
        *lock(&self.ingest) = s;
    }

    /// The text of `/metrics`, from the live ingest's `counts`, then its `lag`, then `store`,
    /// what the store holds (`None`: unreadable), read in that order.
    pub fn metrics(&self, counts: LiveCounts, lag: Duration, store: Option<StoreStats>) -> String {
        let running = *lock(&self.ingest) != IngestState::Off;
        let tally = lock(&self.tally);
        metrics::render(&Snapshot {
            live: running.then_some(counts),
            lag,
            listen: self.listener.as_ref().map(|l| l.stats_ref()),
            listen_queue: self.listener.as_ref().map_or(0, |l| l.receiver().len()),
            udp_kernel_drops: self.listener.as_ref().and_then(|l| l.udp_kernel_drops()),
            tally: &tally,
            store,
            retention: *lock(&self.retention),
        })
    }

    /// What the live ingest and the syslog receiver have done, for `/healthz`.
    pub fn summary(&self) -> serde_json::Value {
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let l = &self.live;
        let mut v = serde_json::json!({
            "lines_read": get(&l.file_lines) + get(&l.syslog_lines),
            "lines_unparsed": get(&l.unparsed),
            "commits": get(&l.commits),
            "backlog_bytes": get(&l.backlog_bytes),
        });
        if let Some(listener) = &self.listener {
            let s = listener.stats_ref();
            v["syslog"] = serde_json::json!({
                "udp": listener.udp_addr().map(|a| a.to_string()),
                "tcp": listener.tcp_addr().map(|a| a.to_string()),
                "lines_received": get(&s.lines),
                "udp_dropped": get(&s.udp_dropped) + listener.udp_kernel_drops().unwrap_or(0),
                "tcp_connections_open": get(&s.tcp_open),
            });
        }
        v
    }

    /// The live ingest's counters now (read them before [`Telemetry::lag`]).
    pub fn counts(&self) -> LiveCounts {
        self.live.counts()
    }

    /// The ingest lag (zero when nothing waits).
    pub fn lag(&self) -> Duration {
        self.live.lag()
    }

    /// The store's counts as last read, unless the live ingest has committed since or they
    /// are older than `fresh` (another process may write to the store).
    pub fn cached_store_stats(&self, fresh: Duration) -> Option<StoreStats> {
        let commits = self.live.commits.load(Ordering::SeqCst);
        lock(&self.store)
            .filter(|(at, c, _)| *c == commits && at.elapsed() < fresh)
            .map(|(_, _, s)| s)
    }

    /// Remember the store's counts; `commits` is the live ingest's commit count from before
    /// they were read.
    pub fn remember_store_stats(&self, commits: u64, s: StoreStats) {
        *lock(&self.store) = Some((Instant::now(), commits, s));
    }

    /// The live ingest's commits so far.
    pub fn commits(&self) -> u64 {
        self.live.commits.load(Ordering::SeqCst)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The background work of a server: started by [`Background::start`], stopped (with a last
/// commit) by [`Background::stop`].
pub struct Background {
    telemetry: Arc<Telemetry>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Bind the syslog sockets, then start the live ingest and the retention thread.
    /// `failed` is called (from the ingest thread) when the ingest stops on an error.
    ///
    /// # Errors
    /// A syslog address cannot be bound, or a thread cannot start.
    pub fn start(
        sources: &Sources,
        retention: Option<RetentionPolicy>,
        open: Arc<Opener>,
        failed: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<Background> {
        let listener = if sources.syslog_udp.is_some() || sources.syslog_tcp.is_some() {
            Some(Arc::new(Listener::bind(
                sources.syslog_udp,
                sources.syslog_tcp,
            )?))
        } else {
            None
        };
        let telemetry = Arc::new(Telemetry {
            live: Arc::default(),
            listener: listener.clone(),
            tally: Mutex::default(),
            ingest: Mutex::new(if sources.any() {
                IngestState::Running
            } else {
                IngestState::Off
            }),
            retention: Mutex::default(),
            store: Mutex::default(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        if sources.any() {
            let (tel, stop, open) = (telemetry.clone(), stop.clone(), open.clone());
            let sources = sources.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("ingest".into())
                    .spawn(move || {
                        let result = ingest(&sources, listener.as_deref(), &tel, &stop, &*open);
                        match result {
                            Ok(()) => tel.set_ingest(IngestState::Stopped),
                            Err(e) => {
                                eprintln!("mailtrace: live ingest stopped: {e}");
                                tel.set_ingest(IngestState::Failed(e));
                                failed();
                            }
                        }
                    })?,
            );
        }
        if let Some(policy) = retention {
            let (tel, stop) = (telemetry.clone(), stop.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("retention".into())
                    .spawn(move || retain(policy, &tel, &stop, &*open))?,
            );
        }
        Ok(Background {
            telemetry,
            stop,
            threads,
        })
    }

    /// The counters.
    pub fn telemetry(&self) -> Arc<Telemetry> {
        self.telemetry.clone()
    }

    /// The bound syslog addresses (UDP, TCP).
    pub fn syslog_addrs(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        match &self.telemetry.listener {
            Some(l) => (l.udp_addr(), l.tcp_addr()),
            None => (None, None),
        }
    }

    /// Stop: the ingest commits what it read; waits for the threads.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn ingest(
    sources: &Sources,
    listener: Option<&Listener>,
    tel: &Telemetry,
    stop: &AtomicBool,
    open: &Opener,
) -> Result<(), String> {
    let mut store = open().map_err(|e| e.to_string())?;
    let live = Live {
        files: &sources.follow,
        syslog: listener.map(Listener::receiver),
        stats: &tel.live,
    };
    Ingestor::new(store.as_mut(), sources.ingest.clone())
        .live(&live, stop, &mut NoProgress, &mut |b| {
            lock(&tel.tally).observe(b)
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Purge now, then every `policy.every`, until `stop`.
fn retain(policy: RetentionPolicy, tel: &Telemetry, stop: &AtomicBool, open: &Opener) {
    let mut store = None;
    loop {
        if store.is_none() {
            store = open().ok();
        }
        if let Some(s) = store.as_mut() {
            let now = jiff::Timestamp::now().as_microsecond();
            let before = |d: Duration| Ts(now - i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
            let r = Retention {
                messages_before: before(policy.messages),
                raw_before: before(policy.raw.min(policy.messages)),
            };
            match s.purge(&r) {
                Ok(p) => {
                    let mut g = lock(&tel.retention);
                    let (runs, m, raw, _) = g.unwrap_or_default();
                    *g = Some((
                        runs + 1,
                        m + p.messages,
                        raw + p.raw_lines,
                        jiff::Timestamp::now().as_second(),
                    ));
                }
                Err(e) => {
                    eprintln!("mailtrace: retention: {e}");
                    if !matches!(e, StoreError::Misuse(_)) {
                        store = None; // open it again next time
                    }
                }
            }
        }
        let until = Instant::now() + policy.every;
        while Instant::now() < until {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}
