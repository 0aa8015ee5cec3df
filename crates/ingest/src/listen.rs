//! The syslog receiver: mail servers' syslog daemons (rsyslog, syslog-ng) forward `mail.*` to
//! mailtrace over UDP or TCP, RFC 3164 or RFC 5424 (the syslog parser reads both, `<PRI>`
//! included, and takes the server name from the header).
//!
//! - **TCP** (RFC 6587): each frame is either octet-counted (`LEN SP MSG`) or ends at a line
//!   feed; a connection may mix both. Lines go to the ingest loop over a bounded channel: when
//!   it is full the connection's thread waits, stops reading, and TCP's flow control slows the
//!   sender down. Nothing is dropped.
//! - **UDP**: one message per datagram (several if it holds line feeds). UDP cannot be slowed
//!   down: when the channel is full the lines are dropped and counted, as are the kernel's own
//!   drops on the socket (from `/proc/net/udp`).
//!
//! Line feeds inside an octet-counted message become `#012`, as rsyslog writes them, so that a
//! stored line is one line; lines longer than [`MAX_LINE`] are cut and marked.

use crate::{line_text, MAX_LINE};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Chunks waiting for the ingest loop at most (each holds what one read returned).
const CHANNEL_CHUNKS: usize = 256;

/// How often blocked threads look at the stop flag.
const TICK: Duration = Duration::from_millis(250);

/// Pause between two looks for new TCP connections.
const ACCEPT_POLL: Duration = Duration::from_millis(20);

/// Longest octet count accepted; a larger one is not a frame header (the line is taken as it
/// is, newline-framed).
const MAX_FRAME: usize = 4 * MAX_LINE;

/// Lines received together, with when they arrived.
#[derive(Debug)]
pub struct Chunk {
    /// The messages, one per line.
    pub lines: Vec<String>,
    /// When they were read from the socket.
    pub received: Instant,
}

/// What the receiver counted (read at any time, for metrics).
#[derive(Debug, Default)]
pub struct ListenStats {
    /// Messages received (UDP and TCP), dropped ones included.
    pub lines: AtomicU64,
    /// Bytes received.
    pub bytes: AtomicU64,
    /// Datagrams received.
    pub udp_datagrams: AtomicU64,
    /// UDP messages dropped because the ingest loop was behind.
    pub udp_dropped: AtomicU64,
    /// TCP connections accepted.
    pub tcp_connections: AtomicU64,
    /// TCP connections open now.
    pub tcp_open: AtomicU64,
    /// Messages cut because they were longer than [`MAX_LINE`].
    pub cut: AtomicU64,
}

/// Listening sockets and their threads; dropping it stops them.
pub struct Listener {
    rx: Receiver<Chunk>,
    stats: Arc<ListenStats>,
    stop: Arc<AtomicBool>,
    udp: Option<(SocketAddr, u64)>,
    tcp: Option<SocketAddr>,
}

impl Listener {
    /// Bind the given addresses and start receiving (port 0: any free port, see
    /// [`Listener::udp_addr`], [`Listener::tcp_addr`]).
    ///
    /// # Errors
    /// An address cannot be bound.
    pub fn bind(udp: Option<SocketAddr>, tcp: Option<SocketAddr>) -> io::Result<Listener> {
        let (tx, rx) = crossbeam_channel::bounded(CHANNEL_CHUNKS);
        let stats = Arc::new(ListenStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let mut l = Listener {
            rx,
            stats: stats.clone(),
            stop: stop.clone(),
            udp: None,
            tcp: None,
        };
        if let Some(addr) = udp {
            let sock = UdpSocket::bind(addr)?;
            sock.set_read_timeout(Some(TICK))?;
            l.udp = Some((sock.local_addr()?, socket_inode(&sock)));
            let (tx, stats, stop) = (tx.clone(), stats.clone(), stop.clone());
            std::thread::Builder::new()
                .name("syslog-udp".into())
                .spawn(move || udp_loop(&sock, &tx, &stats, &stop))?;
        }
        if let Some(addr) = tcp {
            let listener = TcpListener::bind(addr)?;
            listener.set_nonblocking(true)?;
            l.tcp = Some(listener.local_addr()?);
            std::thread::Builder::new()
                .name("syslog-tcp".into())
                .spawn(move || accept_loop(&listener, &tx, &stats, &stop))?;
        }
        Ok(l)
    }

    /// The bound UDP address.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp.map(|u| u.0)
    }

    /// The bound TCP address.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp
    }

    /// The lines received, in chunks.
    pub fn receiver(&self) -> &Receiver<Chunk> {
        &self.rx
    }

    /// The counters.
    pub fn stats(&self) -> Arc<ListenStats> {
        self.stats.clone()
    }

    /// The counters, borrowed.
    pub fn stats_ref(&self) -> &ListenStats {
        &self.stats
    }

    /// Datagrams the kernel dropped on the UDP socket since it was opened (its receive buffer
    /// was full): `None` without a UDP socket or where `/proc/net/udp` cannot say.
    pub fn udp_kernel_drops(&self) -> Option<u64> {
        let (addr, inode) = self.udp?;
        let table = if addr.is_ipv4() {
            "/proc/net/udp"
        } else {
            "/proc/net/udp6"
        };
        kernel_drops(&std::fs::read_to_string(table).ok()?, inode)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A read that timed out (to look at the stop flag) or was interrupted: read again.
fn no_data_yet(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn udp_loop(sock: &UdpSocket, tx: &Sender<Chunk>, stats: &ListenStats, stop: &AtomicBool) {
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        let n = match sock.recv_from(&mut buf) {
            Ok((n, _)) => n,
            Err(e) if no_data_yet(&e) => continue,
            Err(_) => {
                std::thread::sleep(TICK);
                continue;
            }
        };
        stats.udp_datagrams.fetch_add(1, Ordering::Relaxed);
        stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
        let mut lines = Vec::new();
        for line in buf[..n].split(|&b| b == b'\n') {
            push_line(line, &mut lines, stats);
        }
        let count = lines.len() as u64;
        stats.lines.fetch_add(count, Ordering::Relaxed);
        if count == 0 {
            continue;
        }
        let chunk = Chunk {
            lines,
            received: Instant::now(),
        };
        match tx.try_send(chunk) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                stats.udp_dropped.fetch_add(count, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    tx: &Sender<Chunk>,
    stats: &Arc<ListenStats>,
    stop: &Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((conn, _)) => {
                stats.tcp_connections.fetch_add(1, Ordering::Relaxed);
                let (tx, stats, stop) = (tx.clone(), stats.clone(), stop.clone());
                let spawned = std::thread::Builder::new()
                    .name("syslog-conn".into())
                    .spawn(move || {
                        stats.tcp_open.fetch_add(1, Ordering::Relaxed);
                        connection(conn, &tx, &stats, &stop);
                        stats.tcp_open.fetch_sub(1, Ordering::Relaxed);
                    });
                if spawned.is_err() {
                    std::thread::sleep(TICK); // out of threads: the client waits or retries
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(ACCEPT_POLL),
            Err(_) => std::thread::sleep(TICK),
        }
    }
}

/// One TCP connection until it closes: frames to lines, one chunk per read.
fn connection(mut conn: TcpStream, tx: &Sender<Chunk>, stats: &ListenStats, stop: &AtomicBool) {
    if conn.set_nonblocking(false).is_err() || conn.set_read_timeout(Some(TICK)).is_err() {
        return;
    }
    let mut framer = Framer::default();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let n = match conn.read(&mut buf) {
            Ok(n) => n,
            Err(e) if no_data_yet(&e) => continue,
            Err(_) => 0,
        };
        let mut lines = Vec::new();
        if n == 0 {
            framer.finish(&mut lines, stats);
        } else {
            stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
            framer.push(&buf[..n], &mut lines, stats);
        }
        stats.lines.fetch_add(lines.len() as u64, Ordering::Relaxed);
        if !lines.is_empty() {
            let mut chunk = Chunk {
                lines,
                received: Instant::now(),
            };
            // Waiting here is the back-pressure: unread data stays in the socket.
            loop {
                match tx.send_timeout(chunk, TICK) {
                    Ok(()) => break,
                    Err(crossbeam_channel::SendTimeoutError::Timeout(c)) => {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        chunk = c;
                    }
                    Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => return,
                }
            }
        }
        if n == 0 {
            return;
        }
    }
}

/// Splits a TCP stream into syslog messages (RFC 6587: octet counting or a line feed at the
/// end of each frame).
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    /// Skipping the rest of a message longer than [`MAX_LINE`] (line-feed framing), or this
    /// many more bytes of one (octet counting).
    skip: Skip,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Skip {
    #[default]
    No,
    ToLineFeed,
    Bytes(usize),
}

impl Framer {
    /// Take `data`; complete messages go to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<String>, stats: &ListenStats) {
        self.buf.extend_from_slice(data);
        let mut start = 0;
        loop {
            let rest = &self.buf[start..];
            match self.skip {
                Skip::Bytes(n) => {
                    let k = n.min(rest.len());
                    start += k;
                    self.skip = if k == n { Skip::No } else { Skip::Bytes(n - k) };
                    if k < n {
                        break;
                    }
                    continue;
                }
                Skip::ToLineFeed => match memchr::memchr(b'\n', rest) {
                    Some(i) => {
                        start += i + 1;
                        self.skip = Skip::No;
                        continue;
                    }
                    None => {
                        start = self.buf.len();
                        break;
                    }
                },
                Skip::No => {}
            }
            if rest.is_empty() {
                break;
            }
            // Octet counting: digits, a space, then that many bytes.
            if rest[0].is_ascii_digit() && rest[0] != b'0' {
                let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                if digits == rest.len() {
                    if digits <= 7 {
                        break; // the header is not complete yet
                    }
                } else if rest[digits] == b' ' {
                    let len = std::str::from_utf8(&rest[..digits])
                        .ok()
                        .and_then(|s| s.parse::<usize>().ok())
                        .filter(|&l| l <= MAX_FRAME);
                    if let Some(len) = len {
                        let body = &rest[digits + 1..];
                        if body.len() >= len {
                            push_line(&body[..len], out, stats);
                            start += digits + 1 + len;
                            continue;
                        }
                        if len > MAX_LINE && body.len() >= MAX_LINE {
                            push_cut(&body[..MAX_LINE], out, stats);
                            self.skip = Skip::Bytes(len - body.len());
                            start = self.buf.len();
                        }
                        break;
                    }
                }
            }
            // Line-feed framing.
            match memchr::memchr(b'\n', rest) {
                Some(i) => {
                    push_line(&rest[..i], out, stats);
                    start += i + 1;
                }
                None => {
                    if rest.len() > MAX_LINE {
                        push_cut(&rest[..MAX_LINE], out, stats);
                        self.skip = Skip::ToLineFeed;
                        start = self.buf.len();
                    }
                    break;
                }
            }
        }
        self.buf.drain(..start);
    }

    /// The connection closed: a last message without a line feed.
    pub fn finish(&mut self, out: &mut Vec<String>, stats: &ListenStats) {
        if self.skip == Skip::No && !self.buf.is_empty() {
            push_line(&self.buf, out, stats);
        }
        self.buf.clear();
        self.skip = Skip::No;
    }
}

/// One message as a stored line: without its line end, `#012` for inner line feeds, cut at
/// [`MAX_LINE`]; empty ones are skipped.
fn push_line(mut msg: &[u8], out: &mut Vec<String>, stats: &ListenStats) {
    while let Some((&last, rest)) = msg.split_last() {
        if matches!(last, b'\n' | b'\r' | 0) {
            msg = rest;
        } else {
            break;
        }
    }
    if msg.is_empty() {
        return;
    }
    let cut = msg.len() > MAX_LINE;
    let text = line_text(&msg[..msg.len().min(MAX_LINE)]);
    let mut line = if memchr::memchr(b'\n', msg).is_some() {
        text.replace('\n', "#012")
    } else {
        text.into_owned()
    };
    if cut {
        stats.cut.fetch_add(1, Ordering::Relaxed);
        line.push_str(&format!(" [mailtrace: line cut, over {} bytes]", msg.len()));
    }
    out.push(line);
}

/// The start of a message too long to keep whole, marked as cut (the rest is skipped).
fn push_cut(head: &[u8], out: &mut Vec<String>, stats: &ListenStats) {
    push_line(head, out, stats);
    if let Some(line) = out.last_mut() {
        stats.cut.fetch_add(1, Ordering::Relaxed);
        line.push_str(&format!(
            " [mailtrace: line cut, over {} bytes]",
            head.len()
        ));
    }
}

/// The inode of a socket (to find it in `/proc/net/udp`).
fn socket_inode(sock: &UdpSocket) -> u64 {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/self/fd/{}", sock.as_raw_fd())).map_or(0, |m| m.ino())
}

/// The `drops` column of the socket with `inode` in a `/proc/net/udp` table.
fn kernel_drops(table: &str, inode: u64) -> Option<u64> {
    if inode == 0 {
        return None;
    }
    let inode = inode.to_string();
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(9) == Some(&inode.as_str())).then(|| f.last()?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(parts: &[&[u8]]) -> Vec<String> {
        let stats = ListenStats::default();
        let mut f = Framer::default();
        let mut out = Vec::new();
        for p in parts {
            f.push(p, &mut out, &stats);
        }
        f.finish(&mut out, &stats);
        out
    }

    #[test]
    fn framing() {
        let postfix = "<22>Dec  5 10:00:00 mx1 postfix/qmgr[9]: 4AB: removed";
        let counted = format!("{} {postfix}", postfix.len());
        /// What, the stream in parts, the messages.
        type Case = (&'static str, Vec<Vec<u8>>, Vec<String>);
        let cases: Vec<Case> = vec![
            (
                "line feeds",
                vec![format!("{postfix}\n{postfix}\r\n").into_bytes()],
                vec![postfix.into(), postfix.into()],
            ),
            (
                "octet counting, split anywhere",
                vec![
                    counted.as_bytes()[..2].to_vec(),
                    counted.as_bytes()[2..30].to_vec(),
                    format!("{}{counted}", &counted[30..]).into_bytes(),
                ],
                vec![postfix.into(), postfix.into()],
            ),
            (
                "both on one connection; a trailing line feed inside a frame",
                vec![
                    format!("{postfix}\n{} {postfix}\n{postfix}\n", postfix.len() + 1).into_bytes(),
                ],
                vec![postfix.into(), postfix.into(), postfix.into()],
            ),
            (
                "last message without a line feed",
                vec![postfix.as_bytes().to_vec()],
                vec![postfix.into()],
            ),
            (
                "a line feed inside an octet-counted message",
                vec![b"7 a\nb c d\ne\n".to_vec()],
                vec!["a#012b c d".into(), "e".into()],
            ),
            (
                "digits that are not a header",
                vec![b"2024-12-05T10:00:00Z mx1 postfix/smtpd[1]: x\n".to_vec()],
                vec!["2024-12-05T10:00:00Z mx1 postfix/smtpd[1]: x".into()],
            ),
            (
                "empty lines and NULs are skipped",
                vec![b"\n\n\0\nx\n".to_vec()],
                vec!["x".into()],
            ),
            (
                "bad UTF-8",
                vec![b"a\xff\xfeb\n".to_vec()],
                vec!["a\u{fffd}\u{fffd}b".into()],
            ),
        ];
        for (what, parts, want) in cases {
            let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            assert_eq!(frames(&parts), want, "{what}");
        }
    }

    #[test]
    fn long_messages_are_cut_and_the_stream_goes_on() {
        let long = vec![b'x'; MAX_LINE * 3];
        let mut lf = long.clone();
        lf.extend_from_slice(b"\nnext\n");
        let out = frames(&[&lf[..1000], &lf[1000..]]);
        assert_eq!(out.len(), 2);
        assert!(out[0].starts_with("xxx") && out[0].contains("line cut"));
        assert_eq!(out[1], "next");

        let mut counted = format!("{} ", long.len()).into_bytes();
        counted.extend_from_slice(&long);
        counted.extend_from_slice(b"4 next");
        let out = frames(&[&counted[..MAX_LINE + 100], &counted[MAX_LINE + 100..]]);
        assert_eq!(
            out.len(),
            2,
            "{:?}",
            out.iter().map(String::len).collect::<Vec<_>>()
        );
        assert_eq!(out[1], "next");
    }

    #[test]
    fn udp_and_tcp_deliver_lines() {
        let l = Listener::bind(
            Some("127.0.0.1:0".parse().unwrap()),
            Some("127.0.0.1:0".parse().unwrap()),
        )
        .unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.send_to(b"<13>Dec  5 10:00:00 a b: one\n", l.udp_addr().unwrap())
            .unwrap();
        let mut tcp = TcpStream::connect(l.tcp_addr().unwrap()).unwrap();
        std::io::Write::write_all(&mut tcp, b"3 two4 four\nthree\n").unwrap();
        drop(tcp);
        let mut got = Vec::new();
        while got.len() < 4 {
            let c = l.receiver().recv_timeout(Duration::from_secs(30)).unwrap();
            got.extend(c.lines);
        }
        got.sort();
        assert_eq!(
            got,
            ["<13>Dec  5 10:00:00 a b: one", "four", "three", "two"]
        );
        assert_eq!(l.stats().lines.load(Ordering::Relaxed), 4);
        assert_eq!(l.stats().udp_datagrams.load(Ordering::Relaxed), 1);
        assert_eq!(l.udp_kernel_drops(), Some(0));
    }

    #[test]
    fn kernel_drops_column() {
        let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n  1: 0100007F:0202 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17\n";
        assert_eq!(kernel_drops(table, 4242), Some(17));
        assert_eq!(kernel_drops(table, 4243), None);
    }
}
