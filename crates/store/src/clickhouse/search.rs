//! Filter → ClickHouse `WHERE`: every value from a user or a log is bound (the crate escapes
//! it on the client, since 18.16 has no server-side parameters), never pasted.

use super::conn::ch;
use super::read;
use super::rows::{self, kind};
use crate::{Facets, SearchResult, StoreError};
use mailtrace_model::Message;
use mailtrace_query::{AddressPattern, Filter, Paging};

/// A value to bind, in the order of the `?` it replaces.
enum Value {
    Str(String),
    Int(i64),
    UInt(u64),
}

/// `WHERE` conditions on `messages` and their values.
struct Where {
    sql: String,
    values: Vec<Value>,
}

impl Where {
    fn bind(&self, mut q: clickhouse::query::Query) -> clickhouse::query::Query {
        for v in &self.values {
            q = match v {
                Value::Str(s) => q.bind(s.as_str()),
                Value::Int(i) => q.bind(*i),
                Value::UInt(u) => q.bind(*u),
            };
        }
        q
    }
}

fn build(f: &Filter) -> Result<Where, StoreError> {
    let mut conds: Vec<String> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    // The time range, on the sorting key and on the partition key.
    let mut time = String::new();
    let mut time_values = Vec::new();
    if let Some(t) = f.since {
        time.push_str(" AND received_us >= ? AND received >= toDateTime(?)");
        time_values.extend([Value::Int(t.0), Value::UInt(u64::from(rows::datetime(t)))]);
    }
    if let Some(t) = f.until {
        time.push_str(" AND received_us < ? AND received <= toDateTime(?)");
        time_values.extend([Value::Int(t.0), Value::UInt(u64::from(rows::datetime(t)))]);
    }
    // A searchable value narrows the messages through `message_keys` (read in key order).
    let by_key = |kinds: &[&str], key: String, conds: &mut Vec<String>, values: &mut Vec<Value>| {
        conds.push(format!(
            "(received_us, id) IN (SELECT received_us, id FROM message_keys WHERE kind IN ({}) AND key = ?{time})",
            super::read::kind_list(kinds)
        ));
        values.push(Value::Str(key));
        for v in &time_values {
            values.push(match v {
                Value::Int(i) => Value::Int(*i),
                Value::UInt(u) => Value::UInt(*u),
                _ => unreachable!("times are numbers"),
            });
        }
    };
    match &f.from {
        Some(AddressPattern::Exact(a)) => {
            by_key(
                &[kind::SENDER],
                a.to_ascii_lowercase(),
                &mut conds,
                &mut values,
            );
            conds.push("sender = ?".into());
            values.push(Value::Str(a.to_ascii_lowercase()));
        }
        Some(AddressPattern::Domain(d)) => {
            by_key(&[kind::SENDER_DOMAIN], d.clone(), &mut conds, &mut values);
            conds.push("sender_domain = ?".into());
            values.push(Value::Str(d.clone()));
        }
        Some(AddressPattern::Null) => conds.push("sender = ''".into()),
        None => {}
    }
    match &f.to {
        Some(AddressPattern::Exact(a)) => {
            let a = a.to_ascii_lowercase();
            by_key(
                &[kind::RCPT, kind::ORIG_TO],
                a.clone(),
                &mut conds,
                &mut values,
            );
            conds.push("(has(rcpt, ?) OR has(orig_to, ?))".into());
            values.extend([Value::Str(a.clone()), Value::Str(a)]);
        }
        Some(AddressPattern::Domain(d)) => {
            by_key(&[kind::RCPT_DOMAIN], d.clone(), &mut conds, &mut values);
            conds.push("has(rcpt_domain, ?)".into());
            values.push(Value::Str(d.clone()));
        }
        Some(AddressPattern::Null) => {
            return Err(StoreError::Filter {
                field: "to",
                message: "<> is the null sender; a recipient cannot be empty".into(),
            })
        }
        None => {}
    }
    if let Some(q) = &f.queue_id {
        by_key(&[kind::QUEUE_ID], q.clone(), &mut conds, &mut values);
    }
    if let Some(q) = &f.message_id {
        by_key(&[kind::MESSAGE_ID], q.clone(), &mut conds, &mut values);
    }
    if let Some(c) = &f.client {
        by_key(
            &[kind::CLIENT],
            c.to_ascii_lowercase(),
            &mut conds,
            &mut values,
        );
    }
    if let Some(t) = f.since {
        conds.push("received_us >= ? AND received >= toDateTime(?)".into());
        values.extend([Value::Int(t.0), Value::UInt(u64::from(rows::datetime(t)))]);
    }
    if let Some(t) = f.until {
        conds.push("received_us < ? AND received <= toDateTime(?)".into());
        values.extend([Value::Int(t.0), Value::UInt(u64::from(rows::datetime(t)))]);
    }
    if let Some(s) = &f.subject {
        conds.push("positionCaseInsensitiveUTF8(subject, ?) > 0".into());
        values.push(Value::Str(s.clone()));
    }
    if !f.status.is_empty() {
        let mask = f.status.iter().fold(0u16, |m, s| m | rows::status_bit(*s));
        conds.push(format!("bitAnd(statuses, {mask}) != 0"));
    }
    if let Some(r) = &f.relay {
        conds.push("arrayExists(x -> positionCaseInsensitiveUTF8(x, ?) > 0, relay)".into());
        values.push(Value::Str(r.clone()));
    }
    if let Some(s) = &f.server {
        conds.push("server = ?".into());
        values.push(Value::Str(s.clone()));
    }
    if let Some(r) = &f.reason {
        conds.push(
            "(positionCaseInsensitiveUTF8(reason, ?) > 0 OR arrayExists(x -> positionCaseInsensitiveUTF8(x, ?) > 0, response))"
                .into(),
        );
        values.extend([Value::Str(r.clone()), Value::Str(r.clone())]);
    }
    Ok(Where {
        sql: if conds.is_empty() {
            "1".into()
        } else {
            conds.join(" AND ")
        },
        values,
    })
}

/// A page of matches, newest first, and their number.
pub(super) async fn search(
    c: &clickhouse::Client,
    f: &Filter,
    paging: Paging,
) -> Result<SearchResult, StoreError> {
    let w = build(f)?;
    // The number and the page's keys at once (two requests in flight), then the page.
    let count = async {
        w.bind(c.query(&format!(
            "SELECT count() FROM messages FINAL WHERE {}",
            w.sql
        )))
        .fetch_one::<u64>()
        .await
        .map_err(ch)
    };
    let (total, page) =
        tokio::try_join!(count, read::keys(c, &w.sql, |q| w.bind(q), Some(paging)))?;
    let messages = read::docs_at(c, &page)
        .await?
        .into_iter()
        .map(read::summary)
        .collect();
    Ok(SearchResult { total, messages })
}

/// Every match, newest first, a part at a time.
pub(super) async fn export(
    c: &clickhouse::Client,
    f: &Filter,
    each: &mut dyn FnMut(Message) -> std::io::Result<()>,
) -> Result<(), StoreError> {
    let w = build(f)?;
    let all = read::keys(c, &w.sql, |q| w.bind(q), None).await?;
    for part in all.chunks(1_000) {
        for m in read::docs_at(c, part).await? {
            each(read::summary(m))?;
        }
    }
    Ok(())
}

/// Servers, and the busiest sender domains.
pub(super) async fn facets(c: &clickhouse::Client, limit: usize) -> Result<Facets, StoreError> {
    let servers: Vec<(String, u64)> = c
        .query("SELECT server, count() AS n FROM messages FINAL GROUP BY server ORDER BY n DESC, server")
        .fetch_all()
        .await
        .map_err(ch)?;
    let sender_domains: Vec<(String, u64)> = c
        .query(&format!(
            "SELECT sender_domain, count() AS n FROM messages FINAL WHERE sender_domain != '' \
             GROUP BY sender_domain ORDER BY n DESC, sender_domain LIMIT {limit}"
        ))
        .fetch_all()
        .await
        .map_err(ch)?;
    Ok(Facets {
        servers,
        sender_domains,
    })
}
