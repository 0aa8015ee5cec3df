//! The OpenAPI document against what the server answers.

use super::*;

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
