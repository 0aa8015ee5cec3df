//! Filter → SQL `WHERE` with bound parameters (log content never enters the SQL text).

use crate::StoreError;
use mailtrace_query::{AddressPattern, Filter};
use rusqlite::types::Value;

pub(super) struct Where {
    pub sql: String,
    pub params: Vec<Value>,
}

/// `%`, `_` and `\` are literal in a substring search.
fn like_pattern(s: &str) -> String {
    let mut p = String::with_capacity(s.len() + 2);
    p.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

pub(super) fn build(f: &Filter) -> Result<Where, StoreError> {
    let mut conds: Vec<String> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    let mut push = |sql: &str, vals: Vec<Value>, conds: &mut Vec<String>| {
        conds.push(sql.to_string());
        params.extend(vals);
    };
    if let Some(t) = f.since {
        push("m.received_at >= ?", vec![t.0.into()], &mut conds);
    }
    if let Some(t) = f.until {
        push("m.received_at < ?", vec![t.0.into()], &mut conds);
    }
    match &f.from {
        Some(AddressPattern::Exact(a)) => push(
            "m.sender = ? COLLATE NOCASE",
            vec![a.clone().into()],
            &mut conds,
        ),
        Some(AddressPattern::Domain(d)) => {
            push("m.sender_domain = ?", vec![d.clone().into()], &mut conds)
        }
        Some(AddressPattern::Null) => push("m.sender = ''", vec![], &mut conds),
        None => {}
    }
    match &f.to {
        Some(AddressPattern::Exact(a)) => {
            let a = a.to_ascii_lowercase();
            push(
                "m.id IN (SELECT message FROM recipients WHERE raddr = ? \
                 UNION SELECT message FROM recipients WHERE orig_to = ?)",
                vec![super::reversed_address(&a).into(), a.into()],
                &mut conds,
            )
        }
        Some(AddressPattern::Domain(d)) => {
            // `@example.org` reversed is the prefix `gro.elpmaxe@`; the range ends before the
            // next key after every string with that prefix ('@' + 1 = 'A').
            let lo = super::reversed_address(&format!("@{d}"));
            let hi = format!("{}A", &lo[..lo.len() - 1]);
            push(
                "m.id IN (SELECT message FROM recipients WHERE raddr >= ? AND raddr < ?)",
                vec![lo.into(), hi.into()],
                &mut conds,
            )
        }
        Some(AddressPattern::Null) => {
            return Err(StoreError::Filter {
                field: "to",
                message: "<> is the null sender; a recipient cannot be empty".into(),
            })
        }
        None => {}
    }
    if let Some(s) = &f.subject {
        push(
            "m.subject LIKE ? ESCAPE '\\'",
            vec![like_pattern(s).into()],
            &mut conds,
        );
    }
    if !f.status.is_empty() {
        // The message's status or any recipient's: one bit each in `statuses`.
        let mask = f.status.iter().fold(0i64, |m, s| m | super::status_bit(*s));
        push("(m.statuses & ?) != 0", vec![mask.into()], &mut conds);
    }
    if let Some(q) = &f.queue_id {
        push("m.queue_id = ?", vec![q.clone().into()], &mut conds);
    }
    if let Some(q) = &f.message_id {
        push("m.message_id = ?", vec![q.clone().into()], &mut conds);
    }
    if let Some(c) = &f.client {
        push(
            "(m.client_ip = ? OR m.client_host = ? COLLATE NOCASE)",
            vec![c.clone().into(), c.clone().into()],
            &mut conds,
        );
    }
    if let Some(r) = &f.relay {
        push(
            "m.id IN (SELECT message FROM recipients WHERE relay LIKE ? ESCAPE '\\')",
            vec![like_pattern(r).into()],
            &mut conds,
        );
    }
    if let Some(s) = &f.server {
        push("m.server = ?", vec![s.clone().into()], &mut conds);
    }
    if let Some(r) = &f.reason {
        let p = like_pattern(r);
        push(
            "(m.reason LIKE ? ESCAPE '\\' OR m.id IN (SELECT message FROM recipients WHERE response LIKE ? ESCAPE '\\'))",
            vec![p.clone().into(), p.into()],
            &mut conds,
        );
    }
    let sql = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    Ok(Where { sql, params })
}
