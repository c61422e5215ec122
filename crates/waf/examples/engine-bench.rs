//! CPU per request of the inspection engine alone, on ordinary requests (a GET with a query
//! and a POST with a JSON body, the shapes of scripts/waf-bench.sh) and on an attack.
//! `cargo run --release -p portcullis-waf --example engine-bench [ITERATIONS] [CRS_RULES_DIR]`
//! (with a CRS rules directory, the same requests with CRS's rules loaded as well; `-` for
//! none). `PORTCULLIS_BENCH_CASE=get|post|attack` times one request only (for `perf`).
#![allow(clippy::expect_used)]
use std::time::Instant;

use portcullis_waf::{Engine, Input, Settings};

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let mut engines = vec![("built-in", Engine::new().expect("the rules compile"))];
    if let Some(dir) = std::env::args().nth(2).filter(|d| d != "-") {
        let (e, stats) = Engine::with_crs(std::path::Path::new(&dir)).expect("CRS rules load");
        println!(
            "crs_dir: {} rules loaded, {} skipped",
            stats.loaded,
            stats.skipped.len()
        );
        engines.push(("built-in + CRS", e));
    }
    let ua: &[u8] = b"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
    let json: &[u8] = br#"{"title":"Quarterly report","comment":"Please select the best option from the list; O'Brien said it is fine.","tags":["finance","q3"],"items":[{"sku":"SKU-123","qty":2,"note":"gift wrap"}],"meta":{"source":"web","ref":"https://example.com/a?b=1"}}"#;
    let cases: [(&str, &str, &str, Option<&[u8]>); 3] = [
        (
            "GET",
            "/get/items?q=union+station+tickets&sort=price&page=2",
            "",
            None,
        ),
        ("POST", "/post/items", "application/json", Some(json)),
        (
            "GET",
            "/get/items?q=1%27%20UNION%20SELECT%20password%20FROM%20users--",
            "",
            None,
        ),
    ];
    let only = std::env::var("PORTCULLIS_BENCH_CASE").ok();
    for (label, engine) in &engines {
        for (case, (method, uri, ct, body)) in ["get", "post", "attack"].into_iter().zip(cases) {
            if only.as_deref().is_some_and(|o| o != case) {
                continue;
            }
            let headers: Vec<(&str, &[u8])> = vec![
                ("host", b"127.0.0.1:8080"),
                ("user-agent", ua),
                ("accept", b"*/*"),
                ("content-type", ct.as_bytes()),
            ];
            let input = Input {
                method,
                uri,
                headers: &headers,
                body,
                secret_fields: &["password"],
            };
            let s = Settings::default();
            let start = Instant::now();
            let mut blocked = 0;
            for _ in 0..n {
                if engine.inspect(&input, &s, &[], Some("r")).exceeded {
                    blocked += 1;
                }
            }
            let per = start.elapsed().as_secs_f64() / f64::from(n) * 1e6;
            println!("{label}: {method} {uri}: {per:.1} us per request (blocked {blocked}/{n})");
        }
    }
}
