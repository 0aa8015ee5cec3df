//! Small helpers shared by the format parsers.

/// Split `name[addr]` or `name[addr]:port` into its parts.
pub(crate) fn host_addr(s: &str) -> Option<(&str, &str, Option<&str>)> {
    let open = s.find('[')?;
    let close = open + s[open..].find(']')?;
    let name = &s[..open];
    let addr = &s[open + 1..close];
    let rest = &s[close + 1..];
    let port = rest.strip_prefix(':').filter(|p| !p.is_empty());
    if !rest.is_empty() && port.is_none() {
        return None;
    }
    Some((name, addr, port))
}

/// `(name, addr, port)` of `name[addr]:port`.
pub(crate) type HostAddr<'a> = (&'a str, &'a str, Option<&'a str>);

/// A `name[addr]` or `name[addr]:port` at the start of `s`; returns its parts and the rest of `s`.
///
/// Unlike [`host_addr`], anything may follow (`unknown[1.2.3.4]: 550 ...`, `[::1]:25 after X`).
/// IPv6 addresses are fine: the address ends at the first `]`.
pub(crate) fn peer_prefix(s: &str) -> Option<(HostAddr<'_>, &str)> {
    // Host names have no spaces: stop at the first one, so that callers may try every position.
    let open = memchr::memchr2(b'[', b' ', s.as_bytes())?;
    if s.as_bytes()[open] != b'[' {
        return None;
    }
    let name = &s[..open];
    if name
        .bytes()
        .any(|b| matches!(b, b' ' | b']' | b'(' | b'<' | b':' | b'='))
    {
        return None;
    }
    let close = open + memchr::memchr2(b']', b' ', &s.as_bytes()[open..])?;
    if s.as_bytes()[close] != b']' {
        return None;
    }
    let addr = &s[open + 1..close];
    if addr.is_empty() {
        return None;
    }
    let mut rest = &s[close + 1..];
    let mut port = None;
    if let Some(r) = rest.strip_prefix(':') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n > 0 {
            port = Some(&r[..n]);
            rest = &r[n..];
        }
    }
    Some(((name, addr, port), rest))
}

/// Is `s` an IPv4 or IPv6 address literal? (Syntax only; `::ffff:1.2.3.4` counts.)
pub(crate) fn is_ip(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 2 || b.len() > 45 {
        return false;
    }
    if b.contains(&b':') {
        return b
            .iter()
            .all(|c| c.is_ascii_hexdigit() || *c == b':' || *c == b'.');
    }
    let mut parts = 0;
    for p in s.split('.') {
        parts += 1;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    parts == 4
}

/// Byte offset of the first `pat` in `s`. For the short separators of log lines (`": "`, `", "`)
/// this beats `str::find`, whose two-way searcher costs more to set up than to run.
pub(crate) fn find(s: &str, pat: &str) -> Option<usize> {
    let (h, p) = (s.as_bytes(), pat.as_bytes());
    let (&first, tail) = p.split_first()?;
    let end = h.len().checked_sub(tail.len())?;
    if end < SHORT {
        return h[..end]
            .iter()
            .enumerate()
            .find(|&(i, &c)| c == first && h[i + 1..].starts_with(tail))
            .map(|(i, _)| i);
    }
    memchr::memchr_iter(first, &h[..end]).find(|&i| h[i + 1..].starts_with(tail))
}

/// Haystacks shorter than this are searched byte by byte: a vectorised search costs more to
/// set up than to run on them.
const SHORT: usize = 32;

/// Byte offset of the last `pat` in `s` (see [`find`]).
pub(crate) fn rfind(s: &str, pat: &str) -> Option<usize> {
    let (h, p) = (s.as_bytes(), pat.as_bytes());
    let (&first, tail) = p.split_first()?;
    let end = h.len().checked_sub(tail.len())?;
    memchr::memrchr_iter(first, &h[..end]).find(|&i| h[i + 1..].starts_with(tail))
}

/// `s.split_once(pat)` with [`find`]. `pat` must start with an ASCII byte.
pub(crate) fn split2<'a>(s: &'a str, pat: &str) -> Option<(&'a str, &'a str)> {
    let i = find(s, pat)?;
    Some((&s[..i], &s[i + pat.len()..]))
}

/// `s.rsplit_once(pat)` with [`rfind`]. `pat` must start with an ASCII byte.
pub(crate) fn rsplit2<'a>(s: &'a str, pat: &str) -> Option<(&'a str, &'a str)> {
    let i = rfind(s, pat)?;
    Some((&s[..i], &s[i + pat.len()..]))
}

/// Strip one pair of angle brackets, if present.
pub(crate) fn unbracket(s: &str) -> &str {
    s.strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(s)
}

/// A 3-digit SMTP reply code at the start of `s` (`250 `, `550-`, or the whole string).
pub(crate) fn leading_code(s: &str) -> Option<u16> {
    let b = s.as_bytes();
    if b.len() < 3
        || !(b'2'..=b'5').contains(&b[0])
        || !b[1].is_ascii_digit()
        || !b[2].is_ascii_digit()
    {
        return None;
    }
    if b.len() > 3 && b[3] != b' ' && b[3] != b'-' {
        return None;
    }
    s[..3].parse().ok()
}

/// An enhanced status code (`x.y.z`, RFC 3463) at the start of `s`.
pub(crate) fn leading_dsn(s: &str) -> Option<&str> {
    let end = s.find([' ', ';', ',']).unwrap_or(s.len());
    let cand = &s[..end];
    let mut parts = cand.split('.');
    let class = parts.next()?;
    if !(class == "2" || class == "4" || class == "5") {
        return None;
    }
    let subject = parts.next()?;
    let detail = parts.next()?;
    let ok = |p: &str| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
    (parts.next().is_none() && ok(subject) && ok(detail)).then_some(cand)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_addr_forms() {
        assert_eq!(host_addr("a.b[1.2.3.4]"), Some(("a.b", "1.2.3.4", None)));
        assert_eq!(host_addr("[1.2.3.4]:25"), Some(("", "1.2.3.4", Some("25"))));
        assert_eq!(
            host_addr("x[private/dovecot-lmtp]"),
            Some(("x", "private/dovecot-lmtp", None))
        );
        assert_eq!(host_addr("nohost"), None);
        assert_eq!(host_addr("a[b]c"), None);
    }

    #[test]
    fn peer_prefix_forms() {
        assert_eq!(
            peer_prefix("unknown[1.2.3.4]: 550 x"),
            Some((("unknown", "1.2.3.4", None), ": 550 x"))
        );
        assert_eq!(
            peer_prefix("[2001:db8::1]:25: refused"),
            Some((("", "2001:db8::1", Some("25")), ": refused"))
        );
        assert_eq!(
            peer_prefix("a.b[1.2.3.4]:"),
            Some((("a.b", "1.2.3.4", None), ":"))
        );
        assert_eq!(peer_prefix("two words[1.2.3.4]"), None);
        assert_eq!(peer_prefix("x[1.2.3.4"), None);
        assert_eq!(peer_prefix("x[]"), None);
    }

    #[test]
    fn find_like_str() {
        for (s, p) in [
            ("a: b: c", ": "),
            ("abc", "abc"),
            ("ab", "abc"),
            ("", ": "),
            ("x, y>, z", ">, "),
            ("é: ü, ", ", "),
            ("::", ": "),
        ] {
            assert_eq!(find(s, p), s.find(p), "{s:?} {p:?}");
            assert_eq!(rfind(s, p), s.rfind(p), "{s:?} {p:?}");
            assert_eq!(split2(s, p), s.split_once(p), "{s:?} {p:?}");
            assert_eq!(rsplit2(s, p), s.rsplit_once(p), "{s:?} {p:?}");
        }
        assert_eq!(find("abc", ""), None);
    }

    #[test]
    fn ip_literals() {
        for ip in ["1.2.3.4", "2001:db8::1", "::1", "::ffff:10.0.0.1"] {
            assert!(is_ip(ip), "{ip}");
        }
        for no in ["", "1.2.3", "a.b.c.d", "unknown", "1.2.3.4.5", "x"] {
            assert!(!is_ip(no), "{no}");
        }
    }

    #[test]
    fn codes() {
        assert_eq!(leading_code("250 2.0.0 Ok"), Some(250));
        assert_eq!(leading_code("421-4.7.0 x"), Some(421));
        assert_eq!(leading_code("2500"), None);
        assert_eq!(leading_code("12"), None);
        assert_eq!(leading_dsn("5.12.345 <x>"), Some("5.12.345"));
        assert_eq!(leading_dsn("5.1 x"), None);
        assert_eq!(leading_dsn("Blocked"), None);
    }
}
