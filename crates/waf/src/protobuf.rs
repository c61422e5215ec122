//! Protocol Buffers read without their schema, as `protoc --decode_raw` reads them: the
//! body of `application/protobuf` requests and each message of a gRPC call. Numbers carry
//! no attack; every length-delimited field is text, bytes or a nested message, and the
//! wire format does not say which:
//!
//! - **Printable UTF-8** (control characters other than tab and line breaks excepted) is a
//!   string: inspected as an argument. A nested message hidden in it is inspected with it,
//!   since protobuf writes a nested message's strings as they are.
//! - **Anything else that parses whole as a message** is one, read in turn, at most
//!   [`MAX_DEPTH`] deep (each level reads its bytes once more: the work stays within
//!   `MAX_DEPTH` times the message).
//! - **Text with a few odd bytes** (control characters, invalid UTF-8: at most two, or one
//!   in ten) is a string too, as a parser that does not check hands it to the application
//!   (proto3 accepts control characters in strings; proto2 and `bytes` fields take any
//!   byte) and as SQL or HTML read past them: one `\0` after `admin'--` hid it.
//! - **Other bytes** (binary) are read for the runs of text in them ([`text_runs`]): an
//!   attack wrapped in binary bytes is still seen, and random bytes (a file's chunk, an
//!   image) are not read as text full of invalid characters.
//!
//! A body that is not the wire format at all is left to the caller, which inspects it as
//! text.

/// Nested messages read at most.
pub const MAX_DEPTH: usize = 12;

/// The length-delimited fields of a message, as (field number, bytes); `None` when `b` is
/// not a whole protobuf message.
pub fn fields(b: &[u8]) -> Option<Vec<(u32, &[u8])>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let key = varint(b, &mut i)?;
        let number = u32::try_from(key >> 3)
            .ok()
            .filter(|&n| (1..=0x1fff_ffff).contains(&n))?;
        let skip = |i: usize, n: usize| i.checked_add(n).filter(|&j| j <= b.len());
        match key & 7 {
            0 => {
                varint(b, &mut i)?;
            }
            1 => i = skip(i, 8)?,
            2 => {
                let len = usize::try_from(varint(b, &mut i)?).ok()?;
                let end = skip(i, len)?;
                out.push((number, b.get(i..end)?));
                i = end;
            }
            // Group start and end (proto2): the group's fields follow inline.
            3 | 4 => {}
            5 => i = skip(i, 4)?,
            _ => return None,
        }
    }
    Some(out)
}

/// One base-128 varint at `i` (at most ten bytes), moving `i` past it.
fn varint(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in 0..10 {
        let byte = *b.get(*i)?;
        *i += 1;
        v |= u64::from(byte & 0x7f) << (7 * shift);
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Text a person or a program wrote: UTF-8 without control characters but tab and line
/// breaks.
fn printable(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b).ok().filter(|s| {
        !s.chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    })
}

/// Every string of `message` with its place (`pb.1.3`: field 3 of the message in field 1),
/// or `None` when `message` is not the wire format.
pub fn strings(message: &[u8]) -> Option<Vec<(String, std::borrow::Cow<'_, str>)>> {
    let top = fields(message)?;
    let mut out = Vec::new();
    let mut path = String::from("pb");
    walk(top, 1, &mut path, &mut out);
    Some(out)
}

fn walk<'a>(
    fields: Vec<(u32, &'a [u8])>,
    depth: usize,
    path: &mut String,
    out: &mut Vec<(String, std::borrow::Cow<'a, str>)>,
) {
    for (number, bytes) in fields {
        let len = path.len();
        path.push('.');
        path.push_str(&number.to_string());
        if let Some(text) = printable(bytes) {
            if !text.is_empty() {
                out.push((path.clone(), text.into()));
            }
        } else if let Some(nested) = (depth < MAX_DEPTH)
            .then(|| fields_nonempty(bytes))
            .flatten()
        {
            walk(nested, depth + 1, path, out);
        } else {
            for text in binary_text(bytes) {
                out.push((path.clone(), text));
            }
        }
        path.truncate(len);
    }
}

/// The shortest run of text read out of binary bytes: an attack is longer, and random bytes
/// (an image, a file's chunk, an encrypted blob) rarely hold one this long (none in the
/// test's 64 KiB of noise; four runs of 12), so they are not read as text full of "invalid
/// characters".
pub const MIN_RUN: usize = 16;

/// The runs of text in bytes that are not text as a whole (`strings`, in effect): valid
/// UTF-8 without control characters but tab and line breaks, at least [`MIN_RUN`] long.
pub fn text_runs(b: &[u8]) -> Vec<&str> {
    let mut out = Vec::new();
    for chunk in b.utf8_chunks() {
        for run in chunk
            .valid()
            .split(|c: char| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        {
            if run.len() >= MIN_RUN {
                out.push(run);
            }
        }
    }
    out
}

/// What bytes that are not clean text read as:
/// - text with odd bytes (control characters, invalid UTF-8) around it, and at most two,
///   or one in ten, within: that text, as a parser that does not check hands it to the
///   application and as SQL or HTML read it (any number of NULs after `admin'--`);
/// - text with more odd bytes within, three in four characters text: the text without them;
/// - a file (an image, an archive, a video, by its magic number): nothing, as a multipart
///   file part (its XMP metadata is XML that is no attack) -- a magic number before an
///   attack is text as above, and read;
/// - anything else: the runs of text in it ([`text_runs`]).
pub fn binary_text(b: &[u8]) -> Vec<std::borrow::Cow<'_, str>> {
    let odd = |c: char| c == '\u{FFFD}' || (c.is_control() && !matches!(c, '\t' | '\n' | '\r'));
    let text = String::from_utf8_lossy(b);
    let core = text.trim_matches(odd);
    let chars = core.chars().count();
    let within = core.chars().filter(|&c| odd(c)).count();
    if !core.is_empty() && within <= 2.max(chars / 10) {
        return vec![std::borrow::Cow::Owned(core.to_owned())];
    }
    // Three in four characters text, odd bytes among them (`1' OR/*\0\0\0*/'1'='1`): the
    // text with them taken out. Random bytes are about two in five.
    if chars >= 4 && (chars - within) * 4 >= chars * 3 {
        return vec![std::borrow::Cow::Owned(
            core.chars().filter(|&c| !odd(c)).collect(),
        )];
    }
    // A file (its magic number first, and not text as above): its runs of text as any
    // bytes', but its XMP metadata (the XML packet images carry) as an XML parser reads
    // it, its text and attribute values: the markup is no attack (W1).
    let file = is_file(b);
    let mut out: Vec<std::borrow::Cow<'_, str>> = Vec::new();
    for run in text_runs(b) {
        if file && (run.contains("<x:xmpmeta") || run.contains("<?xpacket")) {
            out.extend(crate::bodies::xml_values(run).into_iter().map(Into::into));
        } else {
            out.push(run.into());
        }
    }
    // Shorter text at either end, after a file's header or a blob, or before a blob (a
    // parser that takes the field as a string hands the application that text with the
    // bytes as its neighbours; black-box pass 10, B10-6). A file's first bytes are its
    // magic number.
    let mut ends = text.split(odd);
    let head = ends.next().filter(|_| !file);
    let tail = text.rsplit(odd).next();
    for end in [head, tail].into_iter().flatten() {
        if end.chars().count() >= MIN_END && !out.iter().any(|o| o.contains(end)) {
            out.push(std::borrow::Cow::Owned(end.to_owned()));
        }
    }
    out
}

/// The shortest text at either end of bytes that is read (`' OR 1--`).
const MIN_END: usize = 4;

/// Whether `b` starts as a file of a kind that is not text: PNG, JPEG, GIF, WebP/WAV/AVI
/// (RIFF), ZIP (and Office, JAR, APK), gzip, zstd, 7-Zip, MP4/MOV/HEIC (`ftyp`).
fn is_file(b: &[u8]) -> bool {
    const MAGIC: [&[u8]; 9] = [
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff",
        b"GIF87a",
        b"GIF89a",
        b"RIFF",
        b"PK\x03\x04",
        b"\x1f\x8b",
        b"\x28\xb5\x2f\xfd",
        b"7z\xbc\xaf\x27\x1c",
    ];
    MAGIC.iter().any(|m| b.starts_with(m)) || b.get(4..8) == Some(b"ftyp")
}

/// The fields of a nested message that has any (an empty or all-number message is not
/// worth a level; its bytes are read as text instead, which costs no more).
fn fields_nonempty(b: &[u8]) -> Option<Vec<(u32, &[u8])>> {
    fields(b).filter(|f| !f.is_empty())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn ld(number: u32, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut key = u64::from(number) << 3 | 2;
        let mut len = bytes.len() as u64;
        for v in [&mut key, &mut len] {
            loop {
                let b = (*v & 0x7f) as u8;
                *v >>= 7;
                if *v == 0 {
                    out.push(b);
                    break;
                }
                out.push(b | 0x80);
            }
        }
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn strings_are_found_at_any_depth_with_their_place() {
        // message { 1: "alice", 2: { 3: "1' OR '1'='1", 4: 150 (varint) }, 5: fixed32 }
        let inner = [ld(3, b"1' OR '1'='1"), vec![0x20, 0x96, 0x01]].concat();
        let outer = [ld(1, b"alice"), ld(2, &inner), vec![0x2d, 1, 2, 3, 4]].concat();
        let got = strings(&outer).unwrap();
        let got: Vec<(&str, &str)> = got.iter().map(|(p, s)| (p.as_str(), &**s)).collect();
        assert_eq!(got, [("pb.1", "alice"), ("pb.2.3", "1' OR '1'='1")]);
    }

    #[test]
    fn bytes_that_are_not_text_or_a_message_are_read_for_their_text() {
        let m = ld(7, b"\xff\xfe<script>alert(1)</script>\x00\x01");
        let got = strings(&m).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, "<script>alert(1)</script>", "{got:?}");
        // Random bytes: hardly any run long enough to read.
        let noise = crate::tests::noise(&mut 99, 65536);
        assert!(text_runs(&noise).is_empty(), "{:?}", text_runs(&noise));
    }

    #[test]
    fn text_with_a_few_odd_bytes_is_read_whole() {
        // Black-box pass 7, R1: one control character or invalid byte hid a short attack.
        for value in [
            &b"admin'--\x00"[..],
            b"' OR '1'='1\x01",
            b"<svg onload=x>\x7f",
            b"1' OR 1=1--\xff",
            b"\xc0{{7*7}}",
        ] {
            let m = ld(1, value);
            let got = strings(&m).unwrap();
            assert_eq!(got.len(), 1, "{value:?}: {got:?}");
            // The text, without the odd bytes around it.
            assert!(
                got[0].1.len() >= 7 && String::from_utf8_lossy(value).contains(&*got[0].1),
                "{value:?}: {got:?}"
            );
        }
        // Any number of odd bytes around the text (black-box pass 8, R1's residual).
        for value in [
            &b"admin'--\x00\x00\x00"[..],
            b"\x00\x00\x00\x00<svg onload=x>\x01\x01\x01",
            b"' OR 1=1#\xf0\x90\x80",
        ] {
            let m = ld(1, value);
            let got = strings(&m).unwrap();
            assert_eq!(got.len(), 1, "{value:?}: {got:?}");
            assert!(got[0].1.len() >= 8 && !got[0].1.contains('\0'), "{got:?}");
        }
        // A magic number before an attack does not hide it (black-box pass 9, W1-E), nor
        // odd bytes within (R1').
        for value in [
            &b"PK\x03\x04<script>alert(1)</script>"[..],
            b"\x00\x00\x00\x18ftypisom1' UNION SELECT password FROM users--",
            b"\x89PNG\r\n\x1a\n' OR '1'='1",
            b"1' OR/*\x00\x00\x00*/'1'='1",
        ] {
            let got = binary_text(value);
            assert_eq!(got.len(), 1, "{value:?}: {got:?}");
            assert!(
                got[0].contains("script") || got[0].contains('\''),
                "{got:?}"
            );
        }
        // A file header, or a blob, before or after an attack (B10-6).
        let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
        let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00\x1f\xf3\xffa";
        let blob = crate::tests::noise(&mut 11, 40);
        for attack in [&b";cat /etc/passwd"[..], b"' OR 1=1--", b"<svg onload=x>"] {
            for value in [
                [&zip[..], attack].concat(),
                [&zip[..10], attack].concat(),
                [&png[..], attack].concat(),
                [&blob[..], attack].concat(),
                [attack, &blob[..]].concat(),
            ] {
                let got = binary_text(&value);
                let want = String::from_utf8_lossy(attack);
                assert!(got.iter().any(|g| g.contains(&*want)), "{value:?}: {got:?}");
            }
        }
        // A file (a PNG with XMP metadata): its XMP read as XML values, no markup (W1).
        let mut x: u32 = 5;
        let mut noise = |n: usize| crate::tests::noise(&mut x, n);
        let png = [
            &b"\x89PNG\r\n\x1a\n"[..],
            &noise(256),
            b"<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF/></x:xmpmeta>",
            &noise(256),
        ]
        .concat();
        let got = binary_text(&png);
        assert!(got.iter().all(|g| !g.contains('<')), "{got:?}");
        // Binary (a hash, random bytes) is not read whole.
        let hash: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(97) ^ 0xa5).collect();
        assert!(binary_text(&hash).is_empty(), "{:?}", binary_text(&hash));
    }

    #[test]
    fn what_is_not_the_wire_format_is_refused() {
        for bad in [
            &b"{\"a\":1}"[..], // field 15, wire type 3... then garbage
            b"\x0a\x05ab",     // length past the end
            b"\x0f",           // wire type 7
            b"\x00\x01",       // field number 0
            b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", // an 11-byte varint
        ] {
            assert!(strings(bad).is_none(), "{bad:?}");
        }
        assert_eq!(strings(b"").unwrap(), vec![]);
    }

    #[test]
    fn nesting_is_bounded() {
        let mut m = ld(1, b"\x01deep' UNION SELECT 1--");
        for _ in 0..100 {
            m = ld(1, &m);
        }
        let got = strings(&m).unwrap();
        assert!(
            got.iter().any(|(_, s)| s.contains("UNION SELECT")),
            "{got:?}"
        );
        assert!(got.iter().all(|(p, _)| p.matches('.').count() == MAX_DEPTH));
    }

    /// Any bytes: no panic, and the work stays bounded.
    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut x: u32 = 7;
        for len in 0..400 {
            let bytes = crate::tests::noise(&mut x, len);
            let _ = strings(&bytes);
        }
    }
}
