//! postfix-grok-patterns: every field the grok patterns extract, mailtrace extracts too.

use super::*;

// ---------------------------------------------------------------------------------------------
// postfix-grok-patterns
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
pub(crate) struct GrokCase {
    pub(crate) data: String,
    #[serde(default)]
    results: BTreeMap<String, serde_yaml::Value>,
}

/// Cases whose `data` is a fragment of a line, not a whole log message. Each is still checked,
/// embedded in a whole line, by [`grok_fragments_embedded_in_whole_lines`].
pub(crate) const GROK_FRAGMENTS: &[(&str, &str)] = &[
    (
        "command_counter_data_0001.yaml",
        "only the command counters of a `disconnect from` line",
    ),
    (
        "command_counter_data_0002.yaml",
        "only the command counters of a `disconnect from` line",
    ),
    (
        "command_counter_data_0003.yaml",
        "only the command counters of a `disconnect from` line",
    ),
    (
        "command_counter_data_0004.yaml",
        "only the command counters of a `disconnect from` line",
    ),
    (
        "command_counter_data_0005.yaml",
        "only the command counters of a `disconnect from` line",
    ),
    (
        "delays_0001.yaml",
        "only the value of a delivery's `delays=`",
    ),
    ("relay_0001.yaml", "only the value of a delivery's `relay=`"),
    (
        "tls_features_0007.yaml",
        "only the value of a delivery's `tls=`",
    ),
    (
        "tls_features_0008.yaml",
        "only the value of a delivery's `tls=`",
    ),
    (
        "tls_features_0009.yaml",
        "only the value of a delivery's `tls=`",
    ),
    (
        "tls_features_0010.yaml",
        "only the value of a delivery's `tls=`",
    ),
    (
        "tls_features_0011.yaml",
        "only the value of a delivery's `tls=`",
    ),
    (
        "tls_features_0012.yaml",
        "only the value of a delivery's `tls=`",
    ),
];

/// The program tag of a grok case: the daemon is the file name's prefix.
pub(crate) fn grok_program(file: &str) -> String {
    let prefix = file
        .rsplit_once('_')
        .map_or(file, |(p, _)| p)
        .trim_end_matches(".yaml");
    let service = match prefix {
        // Not daemons: parts of smtp and smtpd lines.
        "tls_features" | "delays" | "relay" => "smtp",
        "command_counter_data" => "smtpd",
        "trivial_rewrite" => "trivial-rewrite",
        "script" => "postfix-script",
        s => s,
    };
    format!("postfix/{service}")
}

pub(crate) fn grok_cases() -> Vec<(String, GrokCase)> {
    files("postfix-grok-patterns", ".yaml")
        .into_iter()
        .map(|f| {
            let text = read(&format!("postfix-grok-patterns/{f}"));
            let case: GrokCase =
                serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{f}: bad YAML: {e}"));
            (f, case)
        })
        .collect()
}

fn yaml_str(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        serde_yaml::Value::Null => String::new(),
        other => format!("{other:?}"),
    }
}

fn eq<T: PartialEq + std::fmt::Debug>(got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("got {got:?}, want {want:?}"))
    }
}

fn contains(hay: &str, needle: &str) -> Result<(), String> {
    if hay.contains(needle) {
        Ok(())
    } else {
        Err(format!("{hay:?} does not contain {needle:?}"))
    }
}

fn kind_err(rec: &Record<'_>) -> String {
    format!("unexpected kind {:?}", rec.kind)
}

/// The free text of a record, for fields that grok cuts out of a text mailtrace keeps whole.
fn text_of<'a>(rec: &Record<'a>) -> Option<&'a str> {
    match rec.kind {
        Kind::Statistics(t)
        | Kind::Lifecycle(t)
        | Kind::Note(t)
        | Kind::QueueNote(t)
        | Kind::DeliveryNote { text: t, .. }
        | Kind::Diagnostic { text: t, .. } => Some(t),
        _ => None,
    }
}

fn text(rec: &Record<'_>) -> Result<String, String> {
    text_of(rec).map(str::to_owned).ok_or_else(|| kind_err(rec))
}

fn postsuper_name(a: PostsuperAction) -> &'static str {
    match a {
        PostsuperAction::Removed => "removed",
        PostsuperAction::Requeued => "requeued",
        PostsuperAction::Held => "placed on hold",
        PostsuperAction::Released => "released from hold",
    }
}

/// `to=<a>, relay=x, delay=1, ...` or `from=<a> to=<b> proto=ESMTP`: the key/value pairs.
fn keyvalues(s: &str) -> Vec<(&str, &str)> {
    s.split([' ', ','])
        .filter_map(|t| t.split_once('='))
        .map(|(k, v)| {
            (
                k,
                v.strip_prefix('<')
                    .and_then(|v| v.strip_suffix('>'))
                    .unwrap_or(v),
            )
        })
        .collect()
}

fn check_keyvalues(rec: &Record<'_>, kv: &str) -> Result<(), String> {
    for (k, v) in keyvalues(kv) {
        let r = match (&rec.kind, k) {
            (Kind::Delivery(d), "to") => eq(d.to, v),
            (Kind::Delivery(d), "orig_to") => eq(d.orig_to, Some(v)),
            (Kind::Delivery(d), "relay") => eq(d.relay, Some(v)),
            (Kind::Delivery(d), "delay") => eq(d.delay, v.parse().ok()),
            (Kind::Delivery(d), "delays") => eq(d.delays.map(|a| a.to_vec()), parse_delays(v)),
            (Kind::Delivery(d), "dsn") => eq(d.dsn, Some(v)),
            (Kind::Delivery(d), "tls") => eq(d.tls, Some(v)),
            (Kind::Queued { from, .. }, "from") => eq(*from, v),
            (Kind::Queued { size, .. }, "size") => eq(*size, v.parse().ok()),
            (Kind::Queued { nrcpt, .. }, "nrcpt") => eq(*nrcpt, v.parse().ok()),
            (Kind::Client { client, .. }, "client") => eq(Some(*client), postfix::Peer::parse(v)),
            (Kind::Pickup { uid, .. }, "uid") => eq(*uid, v.parse().ok()),
            (Kind::Pickup { from, .. }, "from") => eq(*from, v),
            (_, "from" | "to" | "proto" | "helo") => {
                let env = rec.envelope().ok_or_else(|| kind_err(rec))?;
                let got = match k {
                    "from" => env.from,
                    "to" => env.to,
                    "proto" => env.proto,
                    _ => env.helo,
                };
                eq(got, Some(v))
            }
            _ => Err(format!("no check for {k}= in {}", kind_err(rec))),
        };
        r.map_err(|e| format!("{k}={v}: {e}"))?;
    }
    Ok(())
}

fn parse_delays(v: &str) -> Option<Vec<f64>> {
    v.split('/').map(|p| p.parse().ok()).collect()
}

/// The leading upper-case words of a postscreen action (`PREGREET 11 after 0.1` → `PREGREET`).
fn postscreen_name(action: &str) -> String {
    action
        .split(' ')
        .take_while(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_uppercase() || b == b'-'))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Does mailtrace extract the value grok extracts for `key`?
fn check_field(rec: &Record<'_>, key: &str, v: &str) -> Result<(), String> {
    let client = || {
        rec.client()
            .ok_or_else(|| format!("no client in {:?}", rec.kind))
    };
    let server = || {
        rec.server()
            .ok_or_else(|| format!("no server in {:?}", rec.kind))
    };
    let reply = || {
        rec.reply()
            .ok_or_else(|| format!("no reply in {:?}", rec.kind))
    };
    match key {
        // Identity.
        "postfix_queueid" => eq(rec.queue_id, (v != "NOQUEUE").then_some(v)),
        "postfix_keyvalue_data" => check_keyvalues(rec, v),
        "postfix_command_counter_data" => match rec.kind {
            Kind::Disconnect { commands, .. } => eq(commands, Some(v)),
            _ => Err(kind_err(rec)),
        },

        // Delivery outcome.
        "postfix_status" => match &rec.kind {
            // `undeliverable-but-not-cached` is an `undeliverable` verification result.
            Kind::Delivery(d) => eq(d.status.as_str(), v.split('-').next().unwrap_or(v)),
            Kind::Expired { .. } => eq("expired", v),
            _ => Err(kind_err(rec)),
        },
        "postfix_smtp_response"
        | "postfix_local_response"
        | "postfix_pipe_response"
        | "postfix_error_response" => match &rec.kind {
            Kind::Delivery(d) => eq(d.response, v),
            _ => eq(reply()?.text, v),
        },
        "postfix_from" => match rec.kind {
            Kind::Expired { from } => eq(from, v),
            _ => Err(kind_err(rec)),
        },

        // Peers.
        "postfix_client_hostname" => eq(client()?.host, v),
        "postfix_client_ip" | "postfix_client_ip_unknown" => eq(client()?.addr, v),
        "postfix_client_port" => eq(client()?.port, Some(v)),
        "postfix_relay_hostname" => eq(server()?.host, v),
        "postfix_relay_ip" | "postfix_relay_service" => eq(server()?.addr, v),
        "postfix_relay_port" | "postfix_server_port" => eq(server()?.port, Some(v)),
        "postfix_server_ip" => eq(server()?.addr, v),

        // Rejects and replies.
        "postfix_action" => match rec.kind {
            Kind::Reject { action, .. } => eq(action, v),
            _ => Err(kind_err(rec)),
        },
        "postfix_smtp_stage" | "postfix_proxy_smtp_stage" => eq(rec.stage(), Some(v)),
        "postfix_status_code" | "postfix_proxy_status_code" => {
            eq(reply()?.code, Some(v.parse().map_err(|e| format!("{e}"))?))
        }
        "postfix_status_code_enhanced" | "postfix_proxy_status_code_enhanced" => {
            eq(reply()?.dsn, Some(v))
        }
        // Grok cuts the reply into `<data>: message`; the reply text holds both.
        "postfix_status_data" | "postfix_status_message" => contains(reply()?.text, v),
        "postfix_postscreen_toobusy_data" | "postfix_proxy_message" => eq(reply()?.text, v),
        "postfix_proxy_result" => match (&rec.kind, v) {
            (Kind::Reject { action, .. }, "reject") => eq(*action, "proxy-reject"),
            (Kind::Note(t), "accept") => contains(t, "proxy-accept: "),
            _ => Err(kind_err(rec)),
        },

        // cleanup: milters and header/body checks.
        "postfix_milter_result" => match rec.kind {
            Kind::Reject { action, .. } | Kind::Check { action, .. } => {
                eq(action, &format!("milter-{v}"))
            }
            _ => Err(kind_err(rec)),
        },
        "postfix_milter_message" => match rec.kind {
            Kind::Reject {
                stage,
                client: Some(c),
                reply,
                ..
            } => eq(
                format!("{stage} from {}[{}]: {}", c.host, c.addr, reply.text),
                v.to_owned(),
            ),
            Kind::Check {
                part, text, client, ..
            } => eq(format!("{part} {text} from {client}"), v.to_owned()),
            _ => Err(kind_err(rec)),
        },
        "postfix_milter_data" | "postfix_prepend_value" => eq(reply()?.text, v),
        "postfix_prepend_type" => match rec.kind {
            Kind::Check { part, .. } => eq(part, v),
            _ => Err(kind_err(rec)),
        },
        "postfix_prepend_trigger" => match rec.kind {
            Kind::Check { text, .. } => eq(text, v),
            _ => Err(kind_err(rec)),
        },
        "postfix_message-id" => match rec.kind {
            Kind::MessageId(id) => eq(
                id.strip_prefix('<')
                    .and_then(|i| i.strip_suffix('>'))
                    .unwrap_or(id),
                v,
            ),
            _ => Err(kind_err(rec)),
        },

        // Diagnostics and free text.
        "postfix_message_level" => match rec.kind {
            Kind::Diagnostic { level, .. } => eq(level, v),
            Kind::Check { action, .. } => eq(action, v),
            _ => Err(kind_err(rec)),
        },
        "postfix_message" => match rec.kind {
            Kind::Diagnostic { text, .. } => eq(text, v),
            Kind::Check {
                part, text, client, ..
            } => eq(format!("{part} {text} from {client}"), v.to_owned()),
            Kind::SaslFailed { method, reason, .. } => eq(
                format!("SASL {method} authentication failed: {reason}"),
                v.to_owned(),
            ),
            Kind::Removed => eq("removed", v),
            Kind::Skipped => eq("skipped, still being delivered", v),
            _ => Err(kind_err(rec)),
        },
        "postfix_smtpd_lostconn_data" => match rec.kind {
            Kind::LostConnection { what, .. } => eq(what, v),
            Kind::Note(t) => eq(t.starts_with(v), true).map_err(|_| format!("{t:?} / {v:?}")),
            _ => Err(kind_err(rec)),
        },
        "postfix_smtp_lostconn_data" => match rec.kind {
            Kind::ConnectFailure { reason, .. } => eq(reason, v),
            Kind::DeliveryNote { text, .. } => contains(text, v),
            Kind::Note(t) => {
                eq(t.ends_with(&format!(": {v}")), true).map_err(|_| format!("{t:?} / {v:?}"))
            }
            _ => Err(kind_err(rec)),
        },
        "postfix_smtp_lostconn_reason" => contains(&text(rec)?, &format!(" while {v}")),
        "postfix_tls_error" => contains(&text(rec)?, &format!(": {v}")),
        "postfix_pix_workaround" => {
            contains(&text(rec)?, &format!("enabling PIX workarounds: {v} for "))
        }
        "postfix_discarded_ehlo_keywords" => {
            eq(text(rec)?, format!("discarding EHLO keywords: {v}"))
        }

        // bounce.
        "postfix_bounce_queueid" => match rec.kind {
            Kind::Notification { child, .. } => eq(child, v),
            _ => Err(kind_err(rec)),
        },
        "postfix_bounce_recipient" => match rec.kind {
            Kind::Notification { what, .. } => eq(what.split(' ').next(), Some(v)),
            _ => Err(kind_err(rec)),
        },
        "postfix_bounce_reason" => match rec.kind {
            Kind::Notification { what, .. } => eq(what.split_once(' ').map(|w| w.1), Some(v)),
            _ => Err(kind_err(rec)),
        },

        // postsuper.
        "postfix_postsuper_action" => match rec.kind {
            Kind::Postsuper(a) => eq(postsuper_name(a), v),
            _ => Err(kind_err(rec)),
        },
        "postfix_postsuper_summary_action" => match rec.kind {
            Kind::Note(t) => contains(t, &format!("{v}: ")),
            _ => Err(kind_err(rec)),
        },
        "postfix_postsuper_summary_count" => contains(&text(rec)?, &format!(": {v} message")),

        // TLS.
        "postfix_tls_trustlevel" => match rec.kind {
            Kind::Tls { trust, .. } => eq(trust, v),
            _ => Err(kind_err(rec)),
        },
        "postfix_tls_version"
        | "postfix_tls_cipher"
        | "postfix_tls_cipher_size"
        | "postfix_tls_key_exchange"
        | "postfix_tls_server_signature"
        | "postfix_tls_server_signature_size"
        | "postfix_tls_server_signature_curve"
        | "postfix_tls_server_digest" => match rec.kind {
            Kind::Tls { details, .. } => {
                let want = match key {
                    "postfix_tls_version" => format!("{v} with cipher "),
                    "postfix_tls_cipher" => format!(" with cipher {v} "),
                    "postfix_tls_key_exchange" => format!(" key-exchange {v}"),
                    "postfix_tls_server_signature" => format!(" server-signature {v}"),
                    "postfix_tls_server_signature_curve" => format!(" ({v})"),
                    "postfix_tls_server_digest" => format!(" server-digest {v}"),
                    _ => format!("({v} bits)"),
                };
                contains(details, &want)
            }
            _ => Err(kind_err(rec)),
        },

        // postscreen.
        "postfix_postscreen_access" => match rec.kind {
            Kind::Postscreen { action, .. } => eq(action, v),
            _ => Err(kind_err(rec)),
        },
        "postfix_postscreen_violation" => match rec.kind {
            Kind::Postscreen { action, .. } => eq(postscreen_name(action), v.to_owned()),
            _ => Err(kind_err(rec)),
        },
        "postfix_postscreen_dnsbl_rank" => match rec.kind {
            Kind::Postscreen { action, .. } => eq(action, &format!("DNSBL rank {v}")),
            _ => Err(kind_err(rec)),
        },
        "postfix_postscreen_violation_time" => match rec.kind {
            Kind::Postscreen { action, .. } => contains(action, &format!(" after {v}")),
            _ => Err(kind_err(rec)),
        },

        // dnsblog.
        "postfix_dnsbl_domain" => match rec.kind {
            Kind::DnsblHit { domain, .. } => eq(domain, v),
            _ => Err(kind_err(rec)),
        },
        "postfix_dnsbl_result" => match rec.kind {
            Kind::DnsblHit { result, .. } => eq(result, v),
            _ => Err(kind_err(rec)),
        },

        // Statistics (anvil, scache, postscreen and verify caches) and master life cycle: mailtrace
        // keeps the text whole; the value must be in it, in its place.
        "postfix_anvil_cache_size" => contains(&text(rec)?, &format!("max cache size {v} ")),
        "postfix_anvil_conn_count" => contains(&text(rec)?, &format!("max connection count {v} ")),
        "postfix_anvil_conn_rate" => contains(&text(rec)?, &format!("max connection rate {v}/")),
        "postfix_anvil_conn_period" => contains(&text(rec)?, &format!("/{v} for (")),
        "postfix_anvil_timestamp" => contains(&text(rec)?, &format!(" at {v}")),
        "postfix_service" => contains(&text(rec)?, &format!("({v}:")),
        "postfix_scache_hits" => contains(&text(rec)?, &format!("hits={v} ")),
        "postfix_scache_miss" => contains(&text(rec)?, &format!("miss={v} ")),
        "postfix_scache_success" => contains(&text(rec)?, &format!("success={v}%")),
        "postfix_scache_domains" => contains(&text(rec)?, &format!("domains={v} ")),
        "postfix_scache_addresses" => contains(&text(rec)?, &format!("addresses={v} ")),
        "postfix_scache_connection" => contains(&text(rec)?, &format!("connection={v}")),
        "postfix_scache_timestamp" => contains(&text(rec)?, &format!("start interval {v}")),
        "postfix_postscreen_cache_retained" | "postfix_verify_cache_retained" => match rec.kind {
            Kind::Statistics(t) => contains(t, &format!("retained={v} ")),
            _ => Err(kind_err(rec)),
        },
        "postfix_postscreen_cache_dropped" | "postfix_verify_cache_dropped" => match rec.kind {
            Kind::Statistics(t) => contains(t, &format!("dropped={v} ")),
            _ => Err(kind_err(rec)),
        },
        "postfix_verify_cleanup_type" => match rec.kind {
            Kind::Statistics(t) => contains(t, &format!(" {v} cleanup: ")),
            _ => Err(kind_err(rec)),
        },
        "postfix_version" => match rec.kind {
            Kind::Lifecycle(t) => contains(t, &format!("version {v},")),
            _ => Err(kind_err(rec)),
        },
        "postfix_config_path" => match rec.kind {
            Kind::Lifecycle(t) => contains(t, &format!("configuration {v}")),
            _ => Err(kind_err(rec)),
        },
        "postfix_termination_signal" => match rec.kind {
            Kind::Lifecycle(t) => eq(t, &format!("terminating on signal {v}")),
            _ => Err(kind_err(rec)),
        },
        _ => Err("no mapping for this grok field: add one".to_owned()),
    }
}

#[test]
fn grok_patterns_cases_extract_the_same_fields() {
    let cases = grok_cases();
    assert!(cases.len() >= 190, "only {} grok cases", cases.len());
    for (f, _) in GROK_FRAGMENTS {
        assert!(
            cases.iter().any(|(c, _)| c == f),
            "listed fragment {f} is gone"
        );
    }
    let (mut checked, mut fields, mut skipped) = (0, 0, 0);
    let mut failures = String::new();
    for (file, case) in &cases {
        if GROK_FRAGMENTS.iter().any(|(f, _)| f == file) {
            skipped += 1;
            continue;
        }
        let program = grok_program(file);
        let Some(rec) = postfix::parse(&program, &case.data) else {
            let _ = writeln!(
                failures,
                "{file}: {program} is not a Postfix program\n  {:?}",
                case.data
            );
            continue;
        };
        checked += 1;
        if let Kind::Unrecognized(_) = rec.kind {
            let _ = writeln!(failures, "{file}: Unrecognized\n  {:?}", case.data);
            continue;
        }
        for (key, value) in &case.results {
            fields += 1;
            let v = yaml_str(value);
            if let Err(e) = check_field(&rec, key, &v) {
                let _ = writeln!(
                    failures,
                    "{file}: {key} = {v:?}: {e}\n  line: {:?}\n  record: {rec:?}",
                    case.data
                );
            }
        }
    }
    println!(
        "grok: {} cases, {checked} checked ({fields} fields), {skipped} fragments skipped as lines",
        cases.len()
    );
    assert!(failures.is_empty(), "grok cases that disagree:\n{failures}");
}

/// The fragments of [`GROK_FRAGMENTS`], embedded where Postfix logs them.
#[test]
fn grok_fragments_embedded_in_whole_lines() {
    let mut failures = String::new();
    for (file, case) in grok_cases() {
        if !GROK_FRAGMENTS.iter().any(|(f, _)| *f == file) {
            continue;
        }
        let d = &case.data;
        let (program, line) = if file.starts_with("command_counter_data") {
            (
                "postfix/smtpd",
                format!("disconnect from unknown[192.0.2.1] {d}"),
            )
        } else {
            let (relay, delays, tls) = match &file[..] {
                f if f.starts_with("relay") => (d.as_str(), "0.1/0/0/0.1", "may"),
                f if f.starts_with("delays") => ("mx[192.0.2.1]:25", d.as_str(), "may"),
                _ => ("mx[192.0.2.1]:25", "0.1/0/0/0.1", d.as_str()),
            };
            (
                "postfix/smtp",
                format!(
                    "7EE668039: to=<u@example.com>, relay={relay}, delay=3.6, delays={delays}, \
                     tls={tls}, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 153053D)"
                ),
            )
        };
        let rec = postfix::parse(program, &line).expect("postfix program");
        let mut fail = |what: &str| {
            let _ = writeln!(
                failures,
                "{file}: {what}\n  line: {line:?}\n  record: {rec:?}"
            );
        };
        match &rec.kind {
            Kind::Disconnect { commands, .. } => {
                if *commands != Some(d.as_str()) {
                    fail("commands");
                }
                // `postfix_cmd_rcpt_accepted: 0` + `postfix_cmd_rcpt: 1` is `rcpt=0/1`.
                for (k, v) in &case.results {
                    let name = k.trim_start_matches("postfix_cmd_");
                    let name = name.strip_suffix("_accepted").unwrap_or(name);
                    let name = if name == "count" { "commands" } else { name };
                    let v = yaml_str(v);
                    let accepted = case.results.get(&format!("postfix_cmd_{name}_accepted"));
                    let accepted = accepted.or_else(|| {
                        (name == "commands")
                            .then(|| case.results.get("postfix_cmd_count_accepted"))?
                    });
                    let token = match accepted {
                        Some(a) if !k.ends_with("_accepted") => {
                            format!("{name}={}/{v}", yaml_str(a))
                        }
                        Some(_) => continue,
                        None => format!("{name}={v}"),
                    };
                    if !d.split(' ').any(|t| t == token) {
                        fail(&format!("{k}: {token} not among the counters"));
                    }
                }
            }
            Kind::Delivery(del) if file.starts_with("delays") => {
                let want: Vec<f64> = [
                    "postfix_delay_before_qmgr",
                    "postfix_delay_in_qmgr",
                    "postfix_delay_conn_setup",
                    "postfix_delay_transmission",
                ]
                .iter()
                .map(|k| yaml_str(&case.results[*k]).parse().expect("number"))
                .collect();
                if del.delays.map(|a| a.to_vec()) != Some(want) {
                    fail("delays");
                }
            }
            Kind::Delivery(_) if file.starts_with("relay") => {
                let s = rec.server().unwrap_or_default();
                if s.host != yaml_str(&case.results["postfix_relay_hostname"])
                    || s.addr != yaml_str(&case.results["postfix_relay_service"])
                {
                    fail("relay");
                }
            }
            Kind::Delivery(del) => {
                // mailtrace keeps the `tls=` summary whole; its parts must be in it.
                if del.tls != Some(d.as_str()) {
                    fail("tls");
                }
                for v in case.results.values() {
                    if !d.contains(&yaml_str(v)) {
                        fail(&format!("tls part {v:?}"));
                    }
                }
            }
            _ => fail("kind"),
        }
    }
    assert!(failures.is_empty(), "{failures}");
}
