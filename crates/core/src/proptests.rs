//! Property tests: parsers never panic on arbitrary input, and encodings round-trip.

use proptest::prelude::*;

use crate::audit::canonical_json;
use crate::crypto::{apikey, httpsig};
use crate::email::Email;
use crate::tlog::{self, Checkpoint, Frontier};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn api_key_parsing_never_panics(s in ".{0,64}") {
        let _ = apikey::parse(&s);
    }

    #[test]
    fn api_key_typos_are_caught(pos in 4usize..42, replacement in "[0-9A-Za-z]") {
        let key = apikey::generate(&crate::rand::OsRng);
        let key = secrecy::ExposeSecret::expose_secret(&key).to_owned();
        let mut bytes = key.clone().into_bytes();
        let r = replacement.as_bytes()[0];
        prop_assume!(bytes[pos] != r);
        bytes[pos] = r;
        let typo = String::from_utf8(bytes).unwrap_or_default();
        // CRC-32 catches every single-character change.
        prop_assert!(apikey::parse(&typo).is_none());
        prop_assert!(apikey::parse(&key).is_some());
    }

    #[test]
    fn signature_headers_never_panic(input in ".{0,200}", sig in ".{0,200}") {
        if let Ok(sigs) = httpsig::parse(&input, &sig) {
            let req = httpsig::RequestParts {
                method: "GET".into(),
                scheme: "https".into(),
                authority: "example.com".into(),
                path: "/".into(),
                query: None,
                headers: vec![],
            };
            for s in &sigs {
                let _ = httpsig::signature_base(&req, s);
            }
        }
        let _ = httpsig::check_content_digest(&input, sig.as_bytes());
    }

    #[test]
    fn merkle_proofs_verify_for_any_tree(n in 1u64..200, seed in any::<u64>()) {
        let mut f = Frontier::default();
        let mut nodes = std::collections::HashMap::new();
        let leaves: Vec<tlog::Hash> =
            (0..n).map(|i| tlog::leaf_hash(&(seed ^ i).to_be_bytes())).collect();
        for l in &leaves {
            for (lv, i, h) in f.push(*l) {
                nodes.insert((lv, i), h);
            }
        }
        let root = tlog::root(&mut nodes, n).unwrap_or_default();
        prop_assert_eq!(root, f.root());
        let i = seed % n;
        let proof = tlog::inclusion_proof(&mut nodes, i, n).unwrap_or_default();
        prop_assert!(tlog::verify_inclusion(i, n, &leaves[i as usize], &proof, &root));
        let m = 1 + seed % n;
        let old = tlog::root(&mut nodes, m).unwrap_or_default();
        let c = tlog::consistency_proof(&mut nodes, m, n).unwrap_or_default();
        prop_assert!(tlog::verify_consistency(m, n, &old, &root, &c));
        if let Some(first) = proof.first() {
            let mut bad = proof.clone();
            bad[0] = tlog::node_hash(first, first);
            prop_assert!(!tlog::verify_inclusion(i, n, &leaves[i as usize], &bad, &root));
        }
    }

    #[test]
    fn checkpoint_bodies_round_trip(origin in "[a-z0-9./-]{1,40}", size in any::<u64>(), root in any::<[u8; 32]>()) {
        let cp = Checkpoint { origin, size, root };
        prop_assert_eq!(Checkpoint::parse_body(&cp.body()), Some(cp));
    }

    #[test]
    fn checkpoint_parsing_never_panics(s in ".{0,200}") {
        let _ = Checkpoint::parse_body(&s);
        let _ = tlog::NoteVerifier::parse(&s);
    }

    #[test]
    fn canonical_json_is_stable(v in json_value()) {
        let once = canonical_json(&v);
        let reparsed: serde_json::Value = serde_json::from_str(&once).unwrap_or_default();
        prop_assert_eq!(canonical_json(&reparsed), once);
    }

    #[test]
    fn email_parsing_never_panics_and_is_idempotent(s in ".{0,80}") {
        if let Ok(e) = Email::parse(&s) {
            let again = Email::parse(e.as_str());
            prop_assert_eq!(again.ok().map(|x| x.as_str().to_owned()), Some(e.as_str().to_owned()));
        }
    }
}

/// Fullwidth forms of ASCII letters and digits: NFKC folds them back.
fn fullwidth(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Issue 16 item 5: every spelling of one mailbox (case, width, U-label or A-label,
    /// surrounding space) canonicalises to one address, and the canonical form is a fixpoint.
    #[test]
    fn equivalent_email_spellings_are_one_address(
        local in "[a-z0-9][a-z0-9._+-]{0,15}",
        labels in prop::collection::vec("[a-zäöüéñ]{1,10}", 1..3),
        tld in "[a-z]{2,6}",
        variant in 0u8..5,
    ) {
        let domain = format!("{}.{tld}", labels.join("."));
        let base = Email::parse(&format!("{local}@{domain}"));
        prop_assume!(base.is_ok());
        let base = base.map(|e| e.as_str().to_owned()).unwrap_or_default();
        let a_label = idna::domain_to_ascii(&domain).unwrap_or_default();
        let spelling = match variant {
            0 => format!("{local}@{a_label}"),
            1 => format!("{}@{}", local.to_uppercase(), domain.to_uppercase()),
            2 => format!("{}@{}", fullwidth(&local), fullwidth(&domain)),
            3 => format!("  {local}@{}\t", a_label.to_uppercase()),
            _ => format!("{local}@{domain}"),
        };
        let other = Email::parse(&spelling).map(|e| e.as_str().to_owned());
        prop_assert_eq!(other.as_deref(), Ok(base.as_str()), "{}", spelling);
        let again = Email::parse(&base).map(|e| e.as_str().to_owned());
        prop_assert_eq!(again.as_deref(), Ok(base.as_str()));
        // The canonical domain is ASCII: one string per mailbox's domain.
        prop_assert!(base.rsplit_once('@').is_some_and(|(_, d)| d.is_ascii()));
    }

    /// Invisible characters anywhere make the address refused, never a second account.
    #[test]
    fn emails_with_invisible_characters_are_refused(
        local in "[a-z]{1,10}",
        pos in 0usize..11,
        invisible in prop::sample::select(vec!['\u{200B}', '\u{200C}', '\u{200D}', '\u{200E}', '\u{202E}', '\u{2066}', '\u{2060}', '\u{FEFF}', '\u{00AD}']),
    ) {
        let mut l: Vec<char> = local.chars().collect();
        let at = pos.min(l.len());
        l.insert(at, invisible);
        let raw = format!("{}@example.com", l.into_iter().collect::<String>());
        prop_assert!(Email::parse(&raw).is_err(), "{:?}", raw);
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}
