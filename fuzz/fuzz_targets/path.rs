//! The request path normaliser: never a panic; what it accepts is normal (normalising it
//! again changes nothing), has no dot-segment, no empty segment, no escape of an unreserved
//! character or of `/`, `\` or a control character; and its decoded form is the decoding of
//! the normal form.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis_http::normalize::normalize;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(n) = normalize(s) else {
        return;
    };
    if s == "*" {
        return;
    }
    let again = normalize(&n.path).expect("a normal path normalises");
    assert_eq!(again, n, "not idempotent: {s:?}");
    assert!(n.path.starts_with('/'));
    assert!(!n.path.contains("//"), "{s:?} -> {:?}", n.path);
    for seg in n.path.split('/') {
        assert!(seg != "." && seg != "..", "{s:?} -> {:?}", n.path);
    }
    assert!(!n.path.contains('\\'));
    let b = n.path.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        assert!(
            c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&c),
            "{s:?} -> {:?}",
            n.path
        );
        if c == b'%' {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            let v = u8::from_str_radix(hex, 16).unwrap();
            assert!(hex.bytes().all(|h| !h.is_ascii_lowercase()), "{hex}");
            assert!(
                !(v.is_ascii_alphanumeric() || b"-._~/\\".contains(&v) || v < 0x20 || v == 0x7f),
                "{s:?} -> {:?}",
                n.path
            );
        }
    }
    for seg in n.decoded.split('/') {
        assert!(seg != "." && seg != "..", "{s:?} -> {:?}", n.decoded);
    }
});
