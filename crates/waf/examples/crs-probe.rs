//! Prints what the engine (built-in rules, plus CRS's from a directory) finds in one
//! request: `cargo run -p portcullis-waf --example crs-probe -- CRS_RULES_DIR URI [BODY]`
//! (`-` for the directory: the built-in rules alone).
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(uri)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: crs-probe CRS_RULES_DIR URI [BODY]");
        std::process::exit(2);
    };
    // `-`: the built-in rules alone.
    let built = if dir == "-" {
        portcullis_waf::Engine::new().map(|e| (e, None))
    } else {
        portcullis_waf::Engine::with_crs(std::path::Path::new(dir)).map(|(e, s)| (e, Some(s)))
    };
    let (engine, stats) = match built {
        Ok(x) => x,
        Err(e) => {
            eprintln!("crs-probe: {e}");
            std::process::exit(1);
        }
    };
    if let Some(stats) = stats {
        eprintln!(
            "{} CRS rules loaded, {} skipped",
            stats.loaded,
            stats.skipped.len()
        );
    }
    let headers: Vec<(&str, &[u8])> = vec![
        ("host", b"127.0.0.1:8080"),
        (
            "user-agent",
            b"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
        ),
        ("accept", b"*/*"),
        ("content-type", b"application/x-www-form-urlencoded"),
    ];
    let body = args.get(3).map(String::as_bytes);
    let input = portcullis_waf::Input {
        method: if body.is_some() { "POST" } else { "GET" },
        uri,
        headers: &headers,
        body,
        secret_fields: &[],
    };
    let r = engine.inspect(&input, &portcullis_waf::Settings::default(), &[], None);
    for f in &r.findings {
        println!(
            "{} PL{} counted={} {:?} {}",
            f.rule, f.paranoia, f.counted, f.locations, f.msg
        );
    }
    println!("score {} exceeded {}", r.score, r.exceeded);
}
