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
fn pages_escape_log_content() {
    let s = start(Auth::default());
    let page = get(&s, "/?server=evil");
    assert_eq!(page.status, 200);
    assert!(page.ctype.starts_with("text/html"));
    assert!(
        !page.body.contains("<script>alert"),
        "raw markup from a log"
    );
    assert!(!page.body.contains("<img src=x"));
    assert!(page
        .body
        .contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    assert!(
        page.body.contains("&#34;quoted &#60;b&#62;&#34;@evil.test"),
        "quotes escaped"
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let id = search(&s, "server=evil&subject=script")["messages"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let m = get(&s, &format!("/message/{id}"));
    assert!(!m.body.contains("<script>alert") && !m.body.contains("<img src=x"));
    assert!(m.body.contains("&#60;img src=x onerror=alert(2)&#62;"));
    // A bad filter on the page is a 400 that names the field, with the form kept.
    let bad = get(&s, "/?since=garbage&subject=keep+me");
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("data-field=\"since\""));
    assert!(bad.body.contains("value=\"keep me\""));
    assert!(
        bad.body
            .contains("type=\"text\" name=\"since\" id=\"since\" value=\"garbage\""),
        "the bad value stays visible"
    );
    // Dates in any accepted form come back in the date fields, in the request's zone.
    for q in [
        "since=2026-11-24T18:43:34Z",
        "since=2026-11-24+19:43:34&tz=Europe/Berlin",
    ] {
        let p = get(&s, &format!("/?{q}")).body;
        assert!(p.contains("<option value=\"custom\" selected>"), "{q}");
        let want = if q.contains("Berlin") {
            "2026-11-24T19:43:34"
        } else {
            "2026-11-24T18:43:34"
        };
        assert!(
            p.contains(&format!("name=\"since\" id=\"since\" value=\"{want}\"")),
            "{q}"
        );
    }
    let p = get(&s, "/?since=2026-11-24").body;
    assert!(p.contains("value=\"2026-11-24T00:00:00\""));
    // Past the last page: says so, links to the first page, no "newer" page that is empty too.
    let p = get(&s, "/?page=99").body;
    assert!(p.contains("No messages on page 99; 48 match"), "{p}");
    assert!(p.contains("id=\"first-page\"") && !p.contains("id=\"prev\""));
    assert!(get(&s, "/?message_id=case17%40harness.test")
        .body
        .contains(">1 message<"));
    // The live page lists the newest messages (all 48 here), escaped.
    let live = get(&s, "/live");
    assert_eq!(live.status, 200);
    assert_eq!(live.body.matches("<tr class=\"msg\"").count(), 48);
    assert!(!live.body.contains("<script>alert"));
    // Assets are embedded.
    let js = get(&s, "/static/app.js");
    assert_eq!(js.status, 200);
    assert!(js.ctype.starts_with("text/javascript"));
    assert!(
        !js.body.contains("innerHTML"),
        "the script never writes markup"
    );
    assert_eq!(get(&s, "/static/nothing.js").status, 404);
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

// --- OpenAPI ---------------------------------------------------------------------------

/// Check `v` against the schema `s` of `doc` (the subset of OpenAPI 3.0 the document uses:
/// `$ref`, `allOf`, `type` with `nullable`, `required`, `properties`, `items`, `enum`).
fn conforms(doc: &Value, s: &Value, v: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = s["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return conforms(doc, &doc["components"]["schemas"][name], v, at);
    }
    if let Some(all) = s["allOf"].as_array() {
        for part in all {
            conforms(doc, part, v, at)?;
        }
        return Ok(());
    }
    if v.is_null() {
        return if s["nullable"] == true || s.get("type").is_none() {
            Ok(())
        } else {
            Err(format!("{at}: null where {s} is not nullable"))
        };
    }
    let ok = match s["type"].as_str() {
        Some("object") => v.is_object(),
        Some("array") => v.is_array(),
        Some("string") => v.is_string(),
        Some("integer") => v.is_i64() || v.is_u64(),
        Some("number") => v.is_number(),
        Some("boolean") => v.is_boolean(),
        None => true,
        Some(t) => return Err(format!("{at}: unknown type {t}")),
    };
    if !ok {
        return Err(format!("{at}: {v} is not {}", s["type"]));
    }
    if let Some(e) = s["enum"].as_array() {
        if !e.contains(v) {
            return Err(format!("{at}: {v} not in {e:?}"));
        }
    }
    for r in s["required"].as_array().into_iter().flatten() {
        let k = r.as_str().unwrap();
        if v.get(k).is_none() {
            return Err(format!("{at}: required {k} missing"));
        }
    }
    if let Some(props) = s["properties"].as_object() {
        for (k, ps) in props {
            if let Some(x) = v.get(k) {
                conforms(doc, ps, x, &format!("{at}.{k}"))?;
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            conforms(doc, items, x, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

#[test]
fn openapi_document_matches_the_server() {
    let s = start(Auth::default());
    let doc = get(&s, "/api/openapi.json").json();
    assert_eq!(doc["openapi"], "3.0.3");
    let id = search(&s, "message_id=case17%40harness.test")["messages"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let paths = doc["paths"].as_object().unwrap();
    // Every API route of the router is documented, and nothing else.
    let documented: BTreeSet<&str> = paths.keys().map(String::as_str).collect();
    let served: BTreeSet<&str> = mailtrace_serve::api_paths().into_iter().collect();
    assert_eq!(documented, served);
    let mut checked = 0;
    for (path, item) in paths {
        let op = &item["get"];
        let concrete = path.replace("{id}", &id);
        // Every documented query parameter is accepted.
        let mut query = Vec::new();
        for p in op["parameters"].as_array().into_iter().flatten() {
            if p["in"] == "query" {
                let name = p["name"].as_str().unwrap();
                let value = match name {
                    "limit" | "top" => "5",
                    "page" => "1",
                    "tz" => "Europe/Paris",
                    "when" => "custom",
                    "status" => "delivered",
                    "since" => "2026-01-01",
                    "until" => "2027-01-01",
                    "from" | "to" => "@ok.test",
                    _ => "",
                };
                query.push(format!("{name}={value}"));
            }
        }
        for q in ["".to_string(), query.join("&")] {
            let url = if q.is_empty() {
                concrete.clone()
            } else {
                format!("{concrete}?{q}")
            };
            let g = get(&s, &url);
            assert_eq!(g.status, 200, "{url}: {}", g.body);
            let content = &op["responses"]["200"]["content"];
            let (ctype, media) = content.as_object().unwrap().iter().next().unwrap();
            assert!(
                g.ctype.starts_with(ctype.as_str()),
                "{url}: {} vs {ctype}",
                g.ctype
            );
            if ctype == "application/json" {
                conforms(&doc, &media["schema"], &g.json(), &url).unwrap();
            }
            checked += 1;
        }
        // Documented errors look like the Error schema.
        if op["responses"].get("400").is_some() {
            let bad = if path.contains("{id}") {
                path.replace("{id}", "not-an-id")
            } else {
                format!("{path}?since=never")
            };
            let g = get(&s, &bad);
            assert_eq!(g.status, 400, "{bad}");
            conforms(
                &doc,
                &op["responses"]["400"]["content"]["application/json"]["schema"],
                &g.json(),
                &bad,
            )
            .unwrap();
        }
        if op["responses"].get("404").is_some() {
            let g = get(&s, &path.replace("{id}", "999"));
            assert_eq!(g.status, 404);
            conforms(
                &doc,
                &op["responses"]["404"]["content"]["application/json"]["schema"],
                &g.json(),
                path,
            )
            .unwrap();
        }
    }
    assert_eq!(checked, 2 * served.len());
    // The validator itself rejects what does not match.
    let schema = serde_json::json!({"$ref": "#/components/schemas/SearchResult"});
    assert!(conforms(&doc, &schema, &serde_json::json!({"total": 1}), "x").is_err());
    assert!(conforms(
        &doc,
        &schema,
        &serde_json::json!({"total": "1", "page": 1, "limit": 1, "pages": 1, "messages": []}),
        "x"
    )
    .is_err());
}

#[test]
fn statistics_page_and_report_api() {
    let s = start(Auth::default());
    let range = "since=2026-11-24&until=2026-11-25";
    let r = get(&s, &format!("/api/v1/report?{range}&top=50")).json();
    assert_eq!(
        r["totals"]["received"], 32,
        "the harness log (the hand-written ones are from 1970)"
    );
    assert_eq!(r["totals"]["delivered"], 38);
    let all = get(&s, "/api/v1/report?since=1970-01-01&server=evil").json();
    assert_eq!(all["totals"]["received"], 2);
    let page = get(&s, &format!("/stats?{range}&tz=UTC&top=50"));
    assert_eq!(page.status, 200);
    let body = &page.body;
    // One group per period or ranking row, in each chart.
    let bars_in = |id: &str| -> usize {
        let start = body
            .find(&format!("<svg class=\"chart\" id=\"{id}\""))
            .unwrap_or_else(|| panic!("{id}"));
        let end = start + body[start..].find("</svg>").unwrap();
        body[start..end].matches("<g class=\"bar\"").count()
    };
    assert_eq!(bars_in("chart-hours"), 24);
    assert_eq!(bars_in("chart-weekdays"), 7);
    assert_eq!(bars_in("chart-days-of-month"), 31);
    assert_eq!(bars_in("chart-days"), 1);
    assert_eq!(
        bars_in("chart-destinations"),
        r["destination_domains"].as_array().unwrap().len()
    );
    assert_eq!(
        bars_in("chart-senders"),
        r["top_senders"].as_array().unwrap().len()
    );
    assert_eq!(
        bars_in("chart-rejects"),
        r["reject_classes"].as_array().unwrap().len()
    );
    assert_eq!(bars_in("chart-delays"), 10);
    // The hour of the harness run carries its outcomes.
    let h18 = &r["per_hour"][18];
    let sum: u64 = ["delivered", "deferred", "bounced", "rejected"]
        .iter()
        .map(|k| h18[k].as_u64().unwrap())
        .sum();
    assert!(
        body.contains(&format!("data-label=\"18\" data-value=\"{sum}\"")),
        "hour 18 = {sum}"
    );
    assert!(
        body.contains(">hour of day<") && body.contains(">messages (recipients)<"),
        "axis titles with units"
    );
    assert!(body.contains("id=\"t-received\">32<"));
    // Hostile senders are escaped inside the SVG too.
    let evil = get(
        &s,
        "/stats?since=1970-01-01&until=1970-01-02&server=evil&tz=UTC",
    )
    .body;
    assert!(
        !evil.contains("<b>") && evil.contains("&quot;quoted &lt;b&gt;&quot;@evil.test"),
        "escaped in SVG"
    );
    // A bad filter names the field.
    let bad = get(&s, "/stats?since=soon");
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("invalid since"));
    assert_eq!(
        get(&s, "/api/v1/report?top=0").json()["error"]["field"],
        "top"
    );
}

#[test]
fn raw_log_of_a_day() {
    let s = start(Auth::default());
    let lines = |q: &str| {
        let g = get(&s, &format!("/log?{q}"));
        assert_eq!(g.status, 200, "{q}");
        g.body.matches("<li class=\"line\"").count()
    };
    assert_eq!(lines("day=2026-11-24&tz=UTC"), 351, "the whole harness log");
    assert_eq!(lines("day=2026-11-24&tz=UTC&page=2"), 0);
    // 18:43 UTC is already the next day at UTC+14.
    assert_eq!(lines("day=2026-11-24&tz=Pacific/Kiritimati"), 0);
    assert_eq!(lines("day=2026-11-25&tz=Pacific/Kiritimati"), 351);
    let page = get(&s, "/log?day=2026-11-24&tz=UTC").body;
    assert!(!page.contains("id=\"next\""), "one page");
    assert!(page.contains("postfix/smtpd"));
    assert!(
        page.contains("href=\"/log?day=2026-11-25&amp;page=1&amp;tz=UTC\"")
            || page.contains("href=\"/log?day=2026-11-25&#38;page=1&#38;tz=UTC\""),
        "next day"
    );
    assert_eq!(get(&s, "/log?day=yesterday").status, 400);
    assert_eq!(get(&s, "/log?day=2026-11-24&page=0").status, 400);
    assert_eq!(get(&s, "/log?tz=Mars/Olympus").status, 400);
}

/// The text of every `<td class="c-server">` of a page.
fn server_cells(page: &str) -> Vec<&str> {
    page.split("<td class=\"c-server\">")
        .skip(1)
        .map(|rest| rest.split("</td>").next().unwrap())
        .collect()
}

/// An attribute of the element with `id`, HTML entities of `&"<>'` decoded.
fn attr_of(page: &str, id: &str, name: &str) -> String {
    let at = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let tag_start = page[..at].rfind('<').unwrap();
    let tag = &page[tag_start..tag_start + page[tag_start..].find('>').unwrap()];
    let v = tag
        .split(&format!(" {name}=\""))
        .nth(1)
        .unwrap_or_else(|| panic!("#{id} has no {name}: {tag}"))
        .split('"')
        .next()
        .unwrap();
    v.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
}

/// The `(value, selected, text)` of the options of the `<select id>`.
fn options_of(page: &str, id: &str) -> Vec<(String, bool, String)> {
    let start = page
        .find(&format!("<select name=\"server\" id=\"{id}\""))
        .unwrap_or_else(|| panic!("no select #{id}"));
    let select = &page[start..start + page[start..].find("</select>").unwrap()];
    select
        .split("<option value=\"")
        .skip(1)
        .map(|o| {
            let (value, rest) = o.split_once('"').unwrap();
            let (attrs, rest) = rest.split_once('>').unwrap();
            let text = rest.split("</option>").next().unwrap();
            (value.into(), attrs.contains("selected"), text.into())
        })
        .collect()
}

#[test]
fn live_page_filters_by_server() {
    let s = start(Auth::default());
    let live = |q: &str| {
        let g = get(&s, &format!("/live{q}"));
        assert_eq!(g.status, 200, "/live{q}: {}", g.body);
        g.body
    };
    // Every server: all 48 messages, "All servers" picked, the pick list names both servers.
    let all = live("");
    assert_eq!(all.matches("<tr class=\"msg\"").count(), 48);
    let mut seen: Vec<&str> = server_cells(&all);
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen, ["evil", "mx"]);
    let opts = options_of(&all, "live-server");
    assert_eq!(
        opts,
        [
            ("".into(), true, "All servers".into()),
            ("mx".into(), false, "mx".into()),
            ("evil".into(), false, "evil".into()),
        ],
        "All servers first, then the known servers"
    );
    assert_eq!(attr_of(&all, "live-filter", "action"), "/live");
    assert_eq!(attr_of(&all, "live-filter", "method"), "get");
    assert_eq!(
        attr_of(&all, "live", "data-poll"),
        "/api/v1/messages?limit=100"
    );
    assert_eq!(attr_of(&all, "list-today", "href"), "/?when=today");
    assert_eq!(live("?server=").matches("<tr class=\"msg\"").count(), 48);

    // One server: only its messages, the same as the API's, and the polling asks for them only.
    for (server, n) in [("evil", 2), ("mx", 46)] {
        let page = live(&format!("?server={server}"));
        let cells = server_cells(&page);
        assert_eq!(cells.len(), n, "{server}");
        assert!(cells.iter().all(|c| *c == server), "{server}: {cells:?}");
        let api = search(&s, &format!("server={server}&limit=100"));
        let ids: Vec<&str> = api["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        for id in &ids {
            assert!(page.contains(&format!("<tr class=\"msg\" data-id=\"{id}\">")));
        }
        assert!(page.contains(&format!(
            "<span id=\"live-total\">{n}</span> matching messages"
        )));
        let opts = options_of(&page, "live-server");
        assert_eq!(opts.len(), 3, "{opts:?}");
        assert_eq!(opts[0], ("".into(), false, "All servers".into()));
        let picked: Vec<&str> = opts.iter().filter(|o| o.1).map(|o| o.0.as_str()).collect();
        assert_eq!(picked, [server]);
        let poll = attr_of(&page, "live", "data-poll");
        assert_eq!(poll, format!("/api/v1/messages?limit=100&server={server}"));
        let polled = get(&s, &poll).json();
        assert_eq!(polled["total"], n);
        assert!(polled["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["server"] == server));
        assert_eq!(
            attr_of(&page, "list-today", "href"),
            format!("/?when=today&server={server}")
        );
        assert_eq!(
            attr_of(&page, "list-7d", "href"),
            format!("/?when=7d&server={server}")
        );
    }

    // Other criteria narrow the list too and are kept by the polling and the pick list.
    let page = live("?server=mx&status=bounced&tz=Europe/Berlin");
    let api = search(&s, "server=mx&status=bounced");
    let n = api["total"].as_u64().unwrap();
    assert!(n >= 1);
    assert_eq!(page.matches("<tr class=\"msg\"").count() as u64, n);
    assert_eq!(
        attr_of(&page, "live", "data-poll"),
        "/api/v1/messages?limit=100&status=bounced&server=mx&tz=Europe%2FBerlin"
    );
    assert!(page.contains("<input type=\"hidden\" name=\"status\" value=\"bounced\">"));
    assert!(page.contains("<input type=\"hidden\" name=\"tz\" value=\"Europe/Berlin\">"));
    assert!(!page.contains("type=\"hidden\" name=\"server\""));

    // An unknown server: nothing listed, still shown as picked; its name is escaped everywhere.
    let hostile = "<b>x</b>\"'&";
    let q = serde_urlencoded::to_string([("server", hostile)]).unwrap();
    let page = live(&format!("?{q}"));
    assert_eq!(page.matches("<tr class=\"msg\"").count(), 0);
    assert!(!page.contains("<b>x"), "markup from the URL is escaped");
    let opts = options_of(&page, "live-server");
    assert_eq!(opts[0].0, "");
    let picked: Vec<_> = opts.iter().filter(|o| o.1).collect();
    assert_eq!(picked.len(), 1, "{opts:?}");
    assert!(picked[0].0.contains("&#60;b&#62;x&#60;/b&#62;&#34;"));
    assert_eq!(
        attr_of(&page, "live", "data-poll"),
        format!("/api/v1/messages?limit=100&{q}")
    );

    // Bad parameters are a 400 naming them; the page size is fixed.
    for (q, field) in [
        ("limit=5", "limit"),
        ("page=2", "page"),
        ("since=garbage", "since"),
        ("bogus=1", "bogus"),
    ] {
        let g = get(&s, &format!("/live?{q}"));
        assert_eq!(g.status, 400, "{q}");
        assert!(
            g.body.contains(&format!("invalid {field}")),
            "{q}: {}",
            g.body
        );
    }
}
