//! The JSON API and the pages over real HTTP on loopback: a server on a free port over a store
//! holding the real Postfix harness log (and hand-written hostile messages), queried with an
//! HTTP client. The OpenAPI document is checked against what the server answers.

#![allow(clippy::unwrap_used)]

use jiff::tz::TimeZone;
use mailtrace_ingest::{Ingestor, Input, NoProgress, Options};
use mailtrace_serve::{AppState, Auth, Opener};
use mailtrace_store::sqlite::SqliteStore;
use mailtrace_store::{suite, Store};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const HOSTILE_SUBJECT: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";

/// A running server; stops with the test.
struct Server {
    base: String,
    _rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn harness_store() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let mut store = SqliteStore::open(&db).unwrap();
    let log = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/postfix/harness.log");
    let opts = Options {
        year: Some(2026),
        tz: TimeZone::UTC,
        ..Options::default()
    };
    Ingestor::new(&mut store, opts)
        .run(&[Input::Path(log)], &mut NoProgress)
        .unwrap();
    // Two hand-written messages with hostile text (a CSV formula, markup in the subject).
    let mut evil = suite::sample(1, "evil", "EVIL1", 1_000);
    evil.subject = Some(HOSTILE_SUBJECT.into());
    evil.sender = Some("\"quoted <b>\"@evil.test".into());
    let mut formula = suite::sample(2, "evil", "EVIL2", 2_000);
    formula.subject = Some("=HYPERLINK(\"http://x.test\",\"click\")".into());
    suite::write_ingested(&mut store, vec![evil, formula]);
    (dir, db)
}

fn start(auth: Auth) -> Server {
    let (dir, db) = harness_store();
    let open: Box<Opener> =
        Box::new(move || SqliteStore::open(&db).map(|s| Box::new(s) as Box<dyn Store>));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = mailtrace_serve::router(AppState::new(open, auth));
    rt.spawn(async move { axum::serve(listener, app).await });
    Server {
        base: format!("http://{addr}"),
        _rt: rt,
        _dir: dir,
    }
}

struct Got {
    status: u16,
    ctype: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn get_with(base: &str, path: &str, auth: Option<&str>) -> Got {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.get(format!("{base}{path}"));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let mut res = req.call().unwrap();
    let headers = res
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    Got {
        status: res.status().as_u16(),
        ctype: res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default(),
        headers,
        body: res
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .unwrap(),
    }
}

fn get(s: &Server, path: &str) -> Got {
    get_with(&s.base, path, None)
}

fn search(s: &Server, q: &str) -> Value {
    let g = get(s, &format!("/api/v1/messages?{q}"));
    assert_eq!(g.status, 200, "{q}: {}", g.body);
    g.json()
}

fn queue_ids(v: &Value) -> Vec<String> {
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["queue_id"].as_str().unwrap_or("").to_string())
        .collect()
}

mod openapi;
mod pages;

#[test]
fn search_filters_paging_and_errors() {
    let s = start(Auth::default());
    let all = search(&s, "limit=1000");
    assert_eq!(
        all["total"], 48,
        "46 harness messages (rejections included), 2 hand-written"
    );
    let one = search(&s, "to=rcpt17%40later.test");
    assert_eq!(one["total"], 1);
    let m = &one["messages"][0];
    assert_eq!(m["message_id"], "<case17@harness.test>");
    assert_eq!(m["recipients"][0]["status"], "delivered");
    assert!(m["recipients"][0]["attempts"].as_u64().unwrap() >= 2);
    assert!(m["id"].is_string());

    // Paging: newest first, pages partition the results.
    let p1 = search(&s, "limit=20&page=1");
    let p3 = search(&s, "limit=20&page=3");
    assert_eq!(p1["pages"], 3);
    assert_eq!(p1["messages"].as_array().unwrap().len(), 20);
    assert_eq!(p3["messages"].as_array().unwrap().len(), 8);
    let mut paged = queue_ids(&p1);
    paged.extend(queue_ids(&search(&s, "limit=20&page=2")));
    paged.extend(queue_ids(&p3));
    assert_eq!(paged, queue_ids(&all));
    let times: Vec<&str> = all["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["received_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");

    // Every criterion of the CLI.
    let null = search(&s, "from=%3C%3E");
    assert!(null["total"].as_u64().unwrap() >= 1);
    assert!(null["messages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["sender"] == ""));
    let bounced = search(&s, "status=bounced&limit=100");
    assert!(bounced["messages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m.to_string().contains("\"bounced\"")));
    let two = search(&s, "status=bounced&status=expired");
    let comma = search(&s, "status=bounced,expired");
    assert_eq!(two["total"], comma["total"]);
    assert!(two["total"].as_u64() > bounced["total"].as_u64());
    assert_eq!(search(&s, "subject=CASE+17")["total"], 1);
    assert_eq!(search(&s, "message_id=case17%40harness.test")["total"], 1);
    assert_eq!(search(&s, "server=evil")["total"], 2);
    assert_eq!(
        search(&s, "since=2026-11-24T18:44:00Z&until=2026-11-24T18:44:07Z")["total"]
            .as_u64()
            .unwrap(),
        search(
            &s,
            "since=2026-11-24+19:44&until=2026-11-24+19:44:07&tz=Europe/Berlin"
        )["total"]
            .as_u64()
            .unwrap(),
        "dates without an offset are read in tz"
    );
    assert_eq!(
        search(&s, "when=today")["total"],
        0,
        "the log is from 2026-11-24"
    );
    assert!(search(&s, "reason=User+unknown")["total"].as_u64().unwrap() >= 1);
    assert!(search(&s, "relay=127.0.0.1")["total"].as_u64().unwrap() >= 30);
    assert!(search(&s, "client=127.0.0.1")["total"].as_u64().unwrap() >= 30);

    // Errors are JSON, 400, and name the field.
    for (q, field) in [
        ("status=lost", "status"),
        ("since=soon", "since"),
        ("from=%40", "from"),
        ("when=fortnight", "when"),
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("page=x", "page"),
        ("tz=Mars/Olympus", "tz"),
        ("colour=red", "colour"),
    ] {
        let g = get(&s, &format!("/api/v1/messages?{q}"));
        assert_eq!(g.status, 400, "{q}");
        assert!(g.ctype.starts_with("application/json"));
        let e = g.json();
        assert_eq!(e["error"]["field"], field, "{q}: {e}");
        assert!(e["error"]["message"].as_str().unwrap().contains(field));
    }
    // Exports and statistics have no pages: paging parameters are refused, not ignored.
    for q in [
        "/api/v1/export.json?limit=1",
        "/api/v1/export.csv?page=2",
        "/api/v1/report?limit=5",
    ] {
        let g = get(&s, q);
        assert_eq!(g.status, 400, "{q}");
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut res = agent
        .post(format!("{}/api/v1/messages", s.base))
        .send("x")
        .unwrap();
    assert_eq!(res.status().as_u16(), 405);
    let body: Value = serde_json::from_str(&res.body_mut().read_to_string().unwrap()).unwrap();
    assert!(
        body["error"]["message"].is_string(),
        "errors are JSON: {body}"
    );
    let g = get(&s, "/api/v1/nothing");
    assert_eq!(g.status, 404);
    assert!(g.json()["error"]["message"].is_string());
}

#[test]
fn message_detail_raw_lines_and_links() {
    let s = start(Auth::default());
    let id = search(&s, "message_id=case17%40harness.test")["messages"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let d = get(&s, &format!("/api/v1/messages/{id}")).json();
    assert_eq!(d["id"], id.as_str());
    let hist = d["recipients"][0]["history"].as_array().unwrap();
    assert_eq!(hist.first().unwrap()["status"], "deferred");
    assert_eq!(hist.last().unwrap()["status"], "sent");
    let kinds: Vec<&str> = d["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"deferred") && kinds.contains(&"sent"),
        "{kinds:?}"
    );
    let raw = get(&s, &format!("/api/v1/messages/{id}/raw")).json();
    let lines = raw["lines"].as_array().unwrap();
    assert_eq!(lines.len(), d["raw"].as_array().unwrap().len());
    let accepted: Vec<(&str, &str)> = lines
        .iter()
        .filter_map(|l| Some((l["accepted"].as_str()?, l["text"].as_str().unwrap())))
        .collect();
    assert_eq!(accepted.len(), 2, "{accepted:?}");
    assert!(accepted[0].0 == "queued" && accepted[0].1.contains("qmgr"));
    assert!(accepted[1].0 == "sent" && accepted[1].1.contains("status=sent"));

    // A bounced message links to its notification.
    let b = search(&s, "message_id=case09%40harness.test")["messages"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let d = get(&s, &format!("/api/v1/messages/{b}")).json();
    let related = d["related"].as_array().unwrap();
    assert_eq!(related.len(), 1);
    assert_eq!(related[0]["bounce_of"], b.as_str());
    let page = get(&s, &format!("/message/{b}"));
    assert_eq!(page.status, 200);
    let child = related[0]["id"].as_str().unwrap();
    assert!(
        page.body.contains(&format!("href=\"/message/{child}\"")),
        "linked"
    );

    assert_eq!(get(&s, "/api/v1/messages/12345").status, 404);
    let bad = get(&s, "/api/v1/messages/abc");
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["field"], "id");
    assert_eq!(get(&s, "/message/12345").status, 404);
}

#[test]
fn exports_match_the_search_and_are_safe() {
    let s = start(Auth::default());
    let q = "to=%40ok.test&limit=1000";
    let found = search(&s, q);
    let csv = get(&s, "/api/v1/export.csv?to=%40ok.test");
    assert_eq!(csv.status, 200);
    assert!(csv.ctype.starts_with("text/csv"));
    assert!(csv
        .header("content-disposition")
        .unwrap()
        .contains("attachment"));
    let mut r = csv::Reader::from_reader(csv.body.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(&header[..3], ["received_at", "server", "queue_id"]);
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let want: usize = found["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["recipients"].as_array().unwrap().len().max(1))
        .sum();
    assert_eq!(rows.len(), want, "one row per recipient");
    assert!(rows.iter().all(|r| r[0].ends_with('Z')), "UTC");
    let qids: BTreeSet<&str> = rows.iter().map(|r| r.get(2).unwrap()).collect();
    let want_qids: BTreeSet<String> = queue_ids(&found).into_iter().collect();
    assert_eq!(
        qids,
        want_qids
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
    );

    let json = get(&s, "/api/v1/export.json?to=%40ok.test");
    assert_eq!(json.status, 200);
    let arr = json.json();
    assert_eq!(
        arr.as_array().unwrap(),
        found["messages"].as_array().unwrap()
    );
    let empty = get(&s, "/api/v1/export.json?subject=no+such+subject");
    assert_eq!(empty.json(), Value::Array(vec![]));
    let empty = get(&s, "/api/v1/export.csv?subject=no+such+subject");
    assert_eq!(empty.body.lines().count(), 1, "header only");

    // Formulas are defused; hostile text stays data.
    let evil = get(&s, "/api/v1/export.csv?server=evil").body;
    assert!(evil.contains("'=HYPERLINK"), "{evil}");
    assert!(!evil.contains(",=HYPERLINK"));
    assert_eq!(get(&s, "/api/v1/export.csv?since=never").status, 400);
    // A filter only the store refuses is an error answer too, not a cut 200.
    for fmt in ["csv", "json"] {
        let g = get(&s, &format!("/api/v1/export.{fmt}?to=%3C%3E"));
        assert_eq!(g.status, 400, "{fmt}");
        assert_eq!(g.json()["error"]["field"], "to");
    }
}

#[test]
fn authentication_when_configured() {
    let token = "0123456789abcdef-token";
    let hash = mailtrace_serve::hash_password("s3cret pass").unwrap();
    let s = start(Auth::new(Some(token.into()), vec![("ann".into(), hash)]).unwrap());
    let api = get(&s, "/api/v1/messages");
    assert_eq!(api.status, 401);
    assert!(api.json()["error"]["message"].is_string());
    let page = get(&s, "/");
    assert_eq!(page.status, 401);
    assert!(page
        .header("www-authenticate")
        .unwrap()
        .starts_with("Basic"));
    assert_eq!(get(&s, "/static/app.css").status, 401);
    assert_eq!(get(&s, "/api/openapi.json").status, 401);
    let ok = |auth: &str| get_with(&s.base, "/api/v1/messages?limit=1", Some(auth)).status;
    assert_eq!(ok(&format!("Bearer {token}")), 200);
    assert_eq!(ok("Bearer wrong-token-wrong-token"), 401);
    let basic = |u: &str, p: &str| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    };
    assert_eq!(ok(&basic("ann", "s3cret pass")), 200);
    assert_eq!(ok(&basic("ann", "wrong")), 401);
    assert_eq!(ok(&basic("anyone", token)), 200);
    assert_eq!(
        get_with(&s.base, "/", Some(&basic("ann", "s3cret pass"))).status,
        200
    );

    // Beyond loopback, the server refuses to start without credentials.
    let open = |listen: &str, auth: Auth| {
        mailtrace_serve::check(&mailtrace_serve::Config {
            listen: listen.parse().unwrap(),
            auth,
            sources: mailtrace_serve::Sources::default(),
            retention: None,
        })
    };
    assert!(open("0.0.0.0:8025", Auth::default()).is_err());
    assert!(open("[::]:8025", Auth::default()).is_err());
    assert!(open("192.0.2.1:8025", Auth::default())
        .unwrap_err()
        .to_string()
        .contains("without authentication"));
    assert!(open("127.0.0.1:8025", Auth::default()).is_ok());
    assert!(open("[::1]:8025", Auth::default()).is_ok());
    assert!(open(
        "0.0.0.0:8025",
        Auth::new(Some(token.into()), vec![]).unwrap()
    )
    .is_ok());
}

#[test]
fn facets_and_stats() {
    let s = start(Auth::default());
    let f = get(&s, "/api/v1/facets").json();
    let servers: Vec<&str> = f["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(servers, ["mx", "evil"]);
    assert_eq!(f["servers"][0]["messages"], 46);
    assert!(f["sender_domains"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["name"] == "ok.test"));
    let page = get(&s, "/").body;
    assert!(
        page.contains("<option value=\"@ok.test\">"),
        "known sender domains to pick"
    );
    let st = get(&s, "/api/v1/stats").json();
    assert_eq!(st["messages"], 48);
}
