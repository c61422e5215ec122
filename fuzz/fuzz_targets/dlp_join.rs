//! DLP's joined reading of an answer that is a stream of events (JSON lines or
//! documents one after the other, server-sent events under another label): any text is
//! read without a panic or a hang, and each secret it reports is one that only the joined
//! view shows, whole, within that view and apart from the others.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use portcullis_http::dlp_join::joined_hits;
use portcullis_waf::dlp::Dlp;

fn dlp() -> &'static Dlp {
    static D: OnceLock<Dlp> = OnceLock::new();
    D.get_or_init(|| Dlp::builtin(&[]).expect("the built-in detectors compile"))
}

fuzz_target!(|data: &[u8]| {
    // First byte: the shape the rest is put in (as it is, as JSON lines of one field, or
    // as events), so that the fuzzer reaches the joins without having to learn the syntax.
    let Some((&shape, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let pieces = text.split('\u{1}');
    let text = match shape % 3 {
        0 => text.into_owned(),
        1 => pieces
            .map(|p| format!("{}\n", serde_json::json!({ "m": { "content": p } })))
            .collect(),
        _ => pieces
            .map(|p| format!("data: {}\n\n", p.replace('\n', " ")))
            .collect(),
    };
    let plain = dlp().scan(&text, &[]);
    for (view, hits) in joined_hits(&text, dlp(), &[], &plain) {
        assert!(!hits.is_empty(), "a view is reported without a secret");
        for h in &hits {
            assert!(
                h.start < h.end && h.end <= view.len(),
                "a hit outside its view"
            );
            assert!(view.is_char_boundary(h.start) && view.is_char_boundary(h.end));
            let secret = h.secret(&view);
            assert!(
                plain.iter().all(|p| p.secret(&text) != secret),
                "a secret the plain scan saw is reported again as joined"
            );
        }
        for (i, a) in hits.iter().enumerate() {
            for b in &hits[i + 1..] {
                assert!(a.start != b.start || a.end != b.end, "a hit reported twice");
            }
        }
    }
});
