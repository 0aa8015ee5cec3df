//! Filter → SQL `WHERE` with bound parameters (log content never enters the SQL text).

use crate::StoreError;
use mailtrace_query::{AddressPattern, Filter};
use rusqlite::types::Value;

pub(super) struct Where {
    /// `WHERE ...` on `messages m` (empty: every message).
    pub sql: String,
    pub params: Vec<Value>,
    /// For a recipient search: the matching recipients as `(id, t)` rows (message id and
    /// time), read from the recipient indexes in time order; `sql` then holds the other
    /// criteria only.
    pub recipients: Option<(String, Vec<Value>)>,
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
    // With a recipient criterion, the time range applies to the recipients (below).
    let driven = matches!(
        f.to,
        Some(AddressPattern::Exact(_) | AddressPattern::Domain(_))
    );
    if let (Some(t), false) = (f.since, driven) {
        push("m.received_at >= ?", vec![t.0.into()], &mut conds);
    }
    if let (Some(t), false) = (f.until, driven) {
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
    // A recipient criterion drives the search from the recipient indexes, which carry the
    // message time: the newest matches come first without visiting the other matches.
    let mut time = String::new();
    let mut time_params: Vec<Value> = Vec::new();
    if let Some(t) = f.since {
        time.push_str(" AND received_at >= ?");
        time_params.push(t.0.into());
    }
    if let Some(t) = f.until {
        time.push_str(" AND received_at < ?");
        time_params.push(t.0.into());
    }
    // Each branch gives (id, t) once per message: a UNION of branches removes duplicates (and
    // SQLite merges the branches in index order, so a page stops early); a single branch
    // (a domain, where a message may have several recipients) says DISTINCT.
    let branch = |col: &str, key: String, out: &mut (String, Vec<Value>)| {
        let distinct = if col == "rdomain" { "DISTINCT " } else { "" };
        if !out.0.is_empty() {
            out.0.push_str(" UNION ");
        }
        out.0.push_str(&format!(
            "SELECT {distinct}message AS id, received_at AS t FROM recipients WHERE {col} = ?{time}"
        ));
        out.1.push(key.into());
        out.1.extend(time_params.iter().cloned());
    };
    let mut recipients = None;
    match &f.to {
        Some(AddressPattern::Exact(a)) => {
            let a = a.to_ascii_lowercase();
            let mut r = (String::new(), Vec::new());
            branch("raddr", super::reversed_address(&a), &mut r);
            branch("orig_to", a, &mut r);
            recipients = Some(r);
        }
        Some(AddressPattern::Domain(d)) => {
            let mut r = (String::new(), Vec::new());
            branch("rdomain", super::reversed_address(d), &mut r);
            recipients = Some(r);
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
    Ok(Where {
        sql,
        params,
        recipients,
    })
}

impl Where {
    /// The matching messages as `(id, t)` rows (SQL and parameters), for paging and export.
    pub fn rows(&self) -> (String, Vec<Value>) {
        match &self.recipients {
            None => (
                format!(
                    "SELECT m.id AS id, m.received_at AS t FROM messages m {}",
                    self.sql
                ),
                self.params.clone(),
            ),
            Some((r, rp)) if self.sql.is_empty() => (r.clone(), rp.clone()),
            Some((r, rp)) => {
                let mut p = rp.clone();
                p.extend(self.params.iter().cloned());
                (
                    format!(
                        "SELECT DISTINCT r.id AS id, r.t AS t FROM ({r}) AS r JOIN messages m ON m.id = r.id {}",
                        self.sql
                    ),
                    p,
                )
            }
        }
    }

    /// Counting the matches (SQL and parameters).
    pub fn count(&self) -> (String, Vec<Value>) {
        match &self.recipients {
            None => (
                format!("SELECT count(*) FROM messages m {}", self.sql),
                self.params.clone(),
            ),
            Some(_) => {
                let (rows, p) = self.rows();
                (format!("SELECT count(*) FROM ({rows})"), p)
            }
        }
    }
}
