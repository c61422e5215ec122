//! CPU per request of the inspection engine alone, with criterion: a clean GET with a query
//! (the shape of `scripts/waf-bench.sh`), JSON POSTs of 2 KiB, 10 KiB and 128 KiB, and an
//! attack; with the built-in rules, and with OWASP CRS's rules as well when the CRS
//! directory is found (`PORTCULLIS_CRS_DIR`, else `../shared/waf/coreruleset/rules` beside
//! the checkout).
//!
//! Verdicts are remembered across requests (`memo.rs`): `get` is a request seen before,
//! `get-new-client` the same GET with a `User-Agent` never seen, `get-new-query` with a
//! search term never seen.
//!
//! `cargo bench -p portcullis-waf` (add a filter, `-- get`, to run one; `-- --profile-time 10
//! get` under `perf record` to profile one).
#![allow(clippy::expect_used, missing_docs)]
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use portcullis_waf::{Engine, Input, Settings};

const UA: &[u8] = b"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

/// One ordinary JSON record of an API (prose with SQL words and an apostrophe, tags, items,
/// a URL), about 260 bytes.
const RECORD: &str = r#"{"title":"Quarterly report","comment":"Please select the best option from the list; O'Brien said it is fine.","tags":["finance","q3"],"items":[{"sku":"SKU-123","qty":2,"note":"gift wrap"}],"meta":{"source":"web","ref":"https://example.com/a?b=1"}}"#;

/// A JSON array of records of about `bytes` bytes, each with values of its own.
fn json_of(bytes: usize) -> Vec<u8> {
    let mut out = String::from("[");
    let mut n = 0;
    while out.len() + RECORD.len() + 8 < bytes {
        if out.len() > 1 {
            out.push(',');
        }
        n += 1;
        out.push_str(
            &RECORD
                .replace("123", &n.to_string())
                .replace("q3", &format!("q{}", n % 4 + 1))
                .replace("b=1", &format!("b={n}")),
        );
    }
    out.push(']');
    out.into_bytes()
}

fn crs_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("PORTCULLIS_CRS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/waf/coreruleset/rules")
        });
    dir.is_dir().then_some(dir)
}

fn inspection(c: &mut Criterion) {
    let mut engines = vec![("built-in", Engine::new().expect("the rules compile"))];
    match crs_dir() {
        Some(dir) => {
            let (e, _) = Engine::with_crs(&dir).expect("CRS rules load");
            engines.push(("built-in+crs", e));
        }
        None => eprintln!("no CRS rules directory: timing the built-in rules only"),
    }
    let bodies = [
        ("2k", json_of(2 << 10)),
        ("10k", json_of(10 << 10)),
        ("128k", json_of(128 << 10)),
    ];
    let mut cases: Vec<(String, &str, &str, Option<&[u8]>)> = vec![
        (
            "get".into(),
            "/get/items?q=union+station+tickets&sort=price&page=2",
            "",
            None,
        ),
        (
            "attack".into(),
            "/get/items?q=1%27%20UNION%20SELECT%20password%20FROM%20users--",
            "",
            None,
        ),
    ];
    for (size, body) in &bodies {
        cases.push((
            format!("post-json-{size}"),
            "/post/items",
            "application/json",
            Some(body),
        ));
    }
    let settings = Settings::default();
    for (label, engine) in &engines {
        let mut group = c.benchmark_group(*label);
        for (name, uri, ct, body) in &cases {
            let headers: Vec<(&str, &[u8])> = vec![
                ("host", b"127.0.0.1:8080"),
                ("user-agent", UA),
                ("accept", b"*/*"),
                ("content-type", ct.as_bytes()),
            ];
            let input = Input {
                method: if body.is_some() { "POST" } else { "GET" },
                uri,
                headers: &headers,
                body: *body,
                secret_fields: &["password"],
            };
            let blocked = engine.inspect(&input, &settings, &[], Some("r")).exceeded;
            assert_eq!(blocked, name == "attack", "{label} {name}");
            group.throughput(Throughput::Bytes(
                (uri.len() + body.map_or(0, <[u8]>::len)) as u64,
            ));
            group.bench_function(name.as_str(), |b| {
                b.iter(|| engine.inspect(black_box(&input), &settings, &[], Some("r")))
            });
            // Header verdicts are remembered across requests (a client sends the same ones
            // each time); the same GET from a client never seen before: a User-Agent of
            // its own each time.
            if name == "get" {
                let mut n = 0u64;
                group.bench_function("get-new-client", |b| {
                    b.iter(|| {
                        n += 1;
                        let ua = format!(
                            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/{n}"
                        );
                        let mut headers = headers.clone();
                        if let Some(h) = headers.get_mut(1) {
                            *h = ("user-agent", ua.as_bytes());
                        }
                        let input = Input {
                            headers: &headers,
                            ..input
                        };
                        engine.inspect(black_box(&input), &settings, &[], Some("r"))
                    })
                });
                // Values are remembered too (an API's requests repeat their paths and most
                // arguments): the same GET with a search term never seen before.
                let mut n = 0u64;
                group.bench_function("get-new-query", |b| {
                    b.iter(|| {
                        n += 1;
                        let uri =
                            format!("/get/items?q=union+station+tickets+{n}&sort=price&page=2");
                        let input = Input { uri: &uri, ..input };
                        engine.inspect(black_box(&input), &settings, &[], Some("r"))
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_secs(1));
    targets = inspection
}
criterion_main!(benches);
