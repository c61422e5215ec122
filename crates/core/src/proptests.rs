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
