//! The HTML pages: escaping of log content, statistics, the raw log and the live page.

use super::*;

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
