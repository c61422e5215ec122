//! Request bodies taken apart into places, by their type: form and JSON (keys and values at
//! any depth), multipart (form-data, mixed, related; nested in turn), XML (text as a DOM
//! reads it, and attributes), protobuf and gRPC messages (read without their schema), and
//! anything else as text with its quoted strings. (Split from `request.rs`, which takes
//! the rest of a request apart.)

use std::borrow::Cow;

use crate::decode;
use crate::multipart;
use crate::request::{Kind, MAX_DEPTH, Taken, argument, form, is_secret, pairs, place};

pub(crate) fn body<'a>(
    t: &mut Taken<'a>,
    content_type: &str,
    body: &'a [u8],
    secret_fields: &[&str],
) {
    let ct = content_type.to_ascii_lowercase();
    let mime = ct.split(';').next().unwrap_or("").trim();
    let text = String::from_utf8_lossy(body);
    if mime == "application/x-www-form-urlencoded"
        || (mime.is_empty() && !text.trim_start().starts_with(['{', '[', '<']))
    {
        match &text {
            Cow::Borrowed(text) => form(t, text, secret_fields),
            // Not UTF-8: the replacement characters are in a copy, which the places own.
            Cow::Owned(text) => {
                for (name, value) in pairs(text) {
                    let (name, value) = (name.into_owned(), value.into_owned());
                    argument(t, name.into(), value.into(), secret_fields);
                }
            }
        }
    } else if mime == "application/json"
        || mime.ends_with("+json")
        || (mime.is_empty() && text.trim_start().starts_with(['{', '[']))
    {
        match serde_json::from_slice::<Doc>(body) {
            Ok(v) => json(t, &mut String::from("json"), v, 0, secret_fields),
            Err(_) => {
                t.malformed_body = !mime.is_empty();
                json_strings(t, &text, secret_fields);
                // Unlabelled and not JSON after all (`{"a":1}` and markup or SQL after it):
                // read whole as text, as a `text/plain` body is (black-box pass 13, B13-7:
                // everything after the first JSON value went unread). JSON lines are
                // JSON: their strings are the arguments.
                if !is_json_text(&text) {
                    for text in crate::protobuf::binary_text(body) {
                        t.push(Kind::Args, "REQUEST_BODY", text);
                    }
                }
                t.push(Kind::Body, "REQUEST_BODY", text);
            }
        }
    } else if mime.starts_with("multipart/") {
        // form-data, and mixed, related or alternative (whose parts an upstream reads too).
        if !multipart_body(t, &ct, body, secret_fields, 0) {
            t.push(Kind::Body, "REQUEST_BODY", text);
        }
    } else if mime.contains("xml") || (mime.is_empty() && text.trim_start().starts_with('<')) {
        // The document as a whole (XXE lives in its prolog), then each text node and
        // attribute value as an argument, entities undone as the parser would.
        let values = xml_values(&text);
        // A document that a browser renders (SVG, XHTML, RSS...) or that says nothing of
        // itself: its markup is what runs, so the text as a whole is an argument too
        // (black-box pass 12, B12-2: `<svg onload=…>` as image/svg+xml passed; pass 13,
        // B13-11: the same as RSS, Atom, MathML or a vendor's `+xml`). Its tags are then
        // tags to the XSS rules, as CRS refuses every XML type but these three outright at
        // paranoia 1 (920420); a route that takes such uploads says so with an exclusion.
        if !matches!(
            mime,
            "application/xml" | "text/xml" | "application/soap+xml"
        ) {
            t.push(Kind::Args, "REQUEST_BODY", text.clone());
        }
        t.push(Kind::Body, "REQUEST_BODY", text);
        for v in values {
            t.push(Kind::Args, "XML:/*", v);
        }
    } else if is_binary_media(mime) {
        // An image, a sound, a video, an archive: read as a protobuf `bytes` field is (text,
        // with odd bytes or not, is read; a file by its magic number is not text; other
        // bytes for their runs of text): JPEGs and gzip files were refused as text full of
        // "attacks" (black-box pass 9, FP-2).
        for text in crate::protobuf::binary_text(body) {
            t.push(Kind::Args, "REQUEST_BODY", text);
        }
    } else if !binary_message(t, mime, body) {
        // Any other type (text/json, NDJSON, GraphQL, YAML, text/plain..., and protobuf or
        // gRPC that is not): an upstream may well parse it as JSON, so its quoted strings
        // are arguments too.
        json_strings(t, &text, secret_fields);
        // Unless it is JSON (a document, or one a line), the text itself is an argument,
        // as an octet stream's is: text/plain, text/html, MessagePack, a made-up type.
        // Handlers read a body whatever its label (Express's text(), Flask's
        // get_json(force=True), webhook receivers), and the label is the sender's to
        // choose: raw SQL and commands under text/plain passed unread (black-box pass 11,
        // B11-4), and then any pair of quotes in such a text let it pass (pass 12, B12-1).
        if !is_json_text(&text) {
            for text in crate::protobuf::binary_text(body) {
                t.push(Kind::Args, "REQUEST_BODY", text);
            }
        }
        t.push(Kind::Body, "REQUEST_BODY", text);
    }
}

/// Whether `text` is JSON: one document (pretty-printed or not), or one on each line that
/// is not blank.
fn is_json_text(text: &str) -> bool {
    let json = |s: &str| serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok();
    let start = text.trim_start();
    if !start.starts_with(['{', '[', '"']) {
        return false;
    }
    json(text) || text.lines().filter(|l| !l.trim().is_empty()).all(json)
}

/// Whether a media type names bytes that are not text: images, sounds, videos, fonts,
/// archives and compressed files, and plain octets.
fn is_binary_media(mime: &str) -> bool {
    ["image/", "audio/", "video/", "font/"]
        .iter()
        .any(|p| mime.starts_with(p) && !mime.ends_with("+xml"))
        || matches!(
            mime,
            "application/octet-stream"
                | "application/gzip"
                | "application/x-gzip"
                | "application/zip"
                | "application/x-zip-compressed"
                | "application/x-7z-compressed"
                | "application/zstd"
                | "application/x-tar"
                | "application/x-bzip2"
                | "application/x-xz"
                | "application/pdf"
                | "application/wasm"
        )
}

/// Multipart nested at most this deep (a part that is itself `multipart/...`).
const MAX_MULTIPART_DEPTH: usize = 4;

/// A multipart body's parts (`ct`, lower-cased, names the boundary): field names, values
/// and file names; a part that is itself multipart, its parts in turn; a JSON part's
/// strings as arguments too. False when the body did not parse whole (the caller then
/// inspects it as text as well).
fn multipart_body(
    t: &mut Taken<'_>,
    ct: &str,
    body: &[u8],
    secret_fields: &[&str],
    depth: usize,
) -> bool {
    let boundary = multipart::boundary(ct);
    let parsed = boundary.as_deref().and_then(|b| multipart::parse(body, b));
    if parsed.is_none() {
        t.malformed_body = true;
    }
    // A body that does not parse whole (cut at the limit, or broken): its parts as far
    // as they go.
    let whole = parsed.is_some();
    let parts = parsed
        .or_else(|| boundary.map(|b| multipart::parse_prefix(body, &b)))
        .unwrap_or_default();
    for p in parts {
        // Headers parsers read differently: refused, not guessed at (ModSecurity's
        // MULTIPART_STRICT_ERROR); the part is still inspected as read here.
        t.malformed_body |= p.irregular;
        let part_ct = p.content_type.as_deref().unwrap_or_default();
        // A part that is itself multipart: its parts in turn; and, unless it is a file, its
        // whole text as the field's value below, since a parser that does not go into
        // nested multipart (most form parsers) hands the application exactly that.
        if part_ct.starts_with("multipart/") && depth < MAX_MULTIPART_DEPTH {
            let whole = multipart_body(t, part_ct, &p.body, secret_fields, depth + 1);
            if !whole {
                t.push(
                    Kind::Body,
                    "REQUEST_BODY",
                    String::from_utf8_lossy(&p.body).into_owned(),
                );
            }
        }
        let name = p.name.unwrap_or_default();
        // Part headers CRS refuses at paranoia 1: a transfer encoding (922120), a charset
        // other than the ones the rules read (922110) or named by a `_charset_` field
        // (922100), a header name with odd characters (922130). Parsers that decode them
        // hand the application what was not inspected.
        let refused = [
            (922120, p.transfer_encoding),
            (922110, crate::charset_refused(part_ct.as_bytes())),
            (
                922100,
                name == "_charset_" && !crate::charset_allowed(&String::from_utf8_lossy(&p.body)),
            ),
            (922130, p.odd_header_name),
        ];
        for (id, _) in refused.into_iter().filter(|(_, hit)| *hit) {
            t.multipart_refused
                .push((id, place("MULTIPART_PART_HEADERS:", &name)));
        }
        t.push(Kind::ArgNames, place("ARGS_NAMES:", &name), name.clone());
        // An empty file name (a file input left empty, or a part some parsers read as a
        // field): its content is inspected as a field's.
        for f in [p.plain_filename, p.continued_filename, p.encoded_filename]
            .into_iter()
            .flatten()
            .filter(|f| !f.is_empty())
        {
            t.push(Kind::FileNames, place("FILES:", &name), f);
        }
        if let Some(n) = p.continued_name {
            t.push(Kind::ArgNames, place("ARGS_NAMES:", &name), n);
        }
        if let Some(f) = p.filename.filter(|f| !f.is_empty()) {
            t.push(Kind::FileNames, place("FILES:", &name), f);
        } else if !is_secret(&name, secret_fields) {
            let value = String::from_utf8_lossy(&p.body).into_owned();
            if part_ct.contains("json") {
                json_strings(t, &value, secret_fields);
            }
            t.push(Kind::Args, place("ARGS:", &name), value);
        }
    }
    whole
}

/// A protobuf body or gRPC messages, taken apart; false when the type says neither or the
/// body is not what it says.
fn binary_message<'a>(t: &mut Taken<'a>, mime: &str, body: &'a [u8]) -> bool {
    if is_protobuf(mime) {
        // Not the wire format (another codec, junk after a message): its bytes as a
        // string field's, every rule for arguments reading them, as its text too below.
        if !protobuf(t, body) {
            for text in crate::protobuf::binary_text(body) {
                t.push(Kind::Args, "ARGS:pb", text);
            }
            return false;
        }
        return true;
    }
    is_grpc(mime) && grpc(t, body)
}

fn is_protobuf(mime: &str) -> bool {
    matches!(
        mime,
        "application/protobuf" | "application/x-protobuf" | "application/vnd.google.protobuf"
    )
}

/// `application/grpc`, `application/grpc+proto`, gRPC-Web (not its base64 text form).
fn is_grpc(mime: &str) -> bool {
    matches!(
        mime,
        "application/grpc"
            | "application/grpc+proto"
            | "application/grpc-web"
            | "application/grpc-web+proto"
    )
}

/// A protobuf message's strings as arguments (`ARGS:pb.1.3`); false when the body is not
/// the wire format (it is then inspected as text).
fn protobuf<'a>(t: &mut Taken<'a>, body: &'a [u8]) -> bool {
    let Some(strings) = crate::protobuf::strings(body) else {
        return false;
    };
    for (path, value) in strings {
        t.push(Kind::Args, format!("ARGS:{path}"), value);
    }
    true
}

/// gRPC's length-prefixed messages, each read as protobuf; a compressed one (the gateway
/// decompresses messages before they come here), or one that is not protobuf, as text.
/// False when the body is not gRPC framing at all.
fn grpc<'a>(t: &mut Taken<'a>, body: &'a [u8]) -> bool {
    let mut messages = Vec::new();
    let mut rest = body;
    let mut cut = false;
    while let Some(&[flags, a, b, c, d]) = rest.get(..5) {
        let len = usize::try_from(u32::from_be_bytes([a, b, c, d])).unwrap_or(usize::MAX);
        let Some(payload) = 5usize.checked_add(len).and_then(|end| rest.get(5..end)) else {
            // Cut at the inspection limit: the part that came.
            messages.push((flags, rest.get(5..).unwrap_or_default()));
            rest = &[];
            cut = true;
            break;
        };
        messages.push((flags, payload));
        rest = rest.get(5 + len..).unwrap_or_default();
    }
    if !rest.is_empty() || messages.iter().any(|(flags, _)| flags & !0x81 != 0) {
        return false;
    }
    let last = messages.len().saturating_sub(1);
    for (i, (flags, payload)) in messages.into_iter().enumerate() {
        // The last message, cut at the inspection limit, may parse as far as it came.
        if flags & 0x81 != 0 || !protobuf(t, payload) || (i == last && cut) {
            // Its text, as a string field's would be: every rule for arguments looks at it.
            for text in crate::protobuf::binary_text(payload) {
                t.push(Kind::Args, "ARGS:pb", text);
            }
        }
    }
    true
}

/// The text and attribute values of an XML document as its parser reads them, leniently (a
/// broken document still yields what can be read): the character data between two element
/// tags as one value, CDATA sections unwrapped into it and processing instructions and
/// comments taken out of it (`SE<?pi?>LECT` is `SELECT` to a DOM's text content), entities
/// undone outside CDATA; and each attribute value, entities undone.
pub(crate) fn xml_values(doc: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut Vec<String>| {
        if !run.trim().is_empty() {
            out.push(std::mem::take(run));
        }
        run.clear();
    };
    let mut rest = doc;
    while let Some(lt) = rest.find('<') {
        run.push_str(&decode::html_entities(rest.get(..lt).unwrap_or_default()));
        let at = rest.get(lt..).unwrap_or_default();
        // Markup that does not end the text: what it holds joins it, or nothing does.
        let inside = [
            ("<![CDATA[", "]]>", true),
            ("<!--", "-->", false),
            ("<?", "?>", false),
        ]
        .into_iter()
        .find(|(open, _, _)| at.starts_with(open));
        if let Some((open, close, keep)) = inside {
            let body = at.get(open.len()..).unwrap_or_default();
            let end = body.find(close).unwrap_or(body.len());
            if keep {
                run.push_str(body.get(..end).unwrap_or_default());
            }
            rest = body.get(end + close.len()..).unwrap_or_default();
            continue;
        }
        flush(&mut run, &mut out);
        let Some(tag_len) = at.find('>') else {
            rest = "";
            break;
        };
        let mut attrs = at.get(1..tag_len).unwrap_or_default();
        while let Some(q) = attrs.find(['"', '\'']) {
            let quote = attrs.get(q..=q).unwrap_or("\"");
            let after = attrs.get(q + 1..).unwrap_or_default();
            let Some(end) = after.find(quote) else { break };
            let value = after.get(..end).unwrap_or_default();
            out.push(decode::html_entities(value).into_owned());
            attrs = after.get(end + 1..).unwrap_or_default();
        }
        rest = at.get(tag_len + 1..).unwrap_or_default();
    }
    run.push_str(&decode::html_entities(rest));
    flush(&mut run, &mut out);
    out
}

/// A JSON document as it is written: each object's members in order, a duplicate key's
/// every value kept. serde_json's map keeps the last value of a duplicate key, and readers
/// that take the first (Go's gjson and fastjson, streaming parsers) were handed what the
/// inspection never read (black-box pass 11, B11-1: `{"a":"<attack>","a":"ok"}`).
enum Doc {
    Object(Vec<(String, Doc)>),
    Array(Vec<Doc>),
    String(String),
    Number(String),
    Other,
}

impl<'de> serde::Deserialize<'de> for Doc {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DocVisitor)
    }
}

struct DocVisitor;

impl<'de> serde::de::Visitor<'de> for DocVisitor {
    type Value = Doc;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Doc, E> {
        Ok(Doc::Other)
    }
    fn visit_unit<E>(self) -> Result<Doc, E> {
        Ok(Doc::Other)
    }
    fn visit_i64<E>(self, n: i64) -> Result<Doc, E> {
        Ok(Doc::Number(n.to_string()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Doc, E> {
        Ok(Doc::Number(n.to_string()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Doc, E> {
        Ok(Doc::Number(
            serde_json::Number::from_f64(n).map_or_else(|| n.to_string(), |n| n.to_string()),
        ))
    }
    fn visit_str<E>(self, s: &str) -> Result<Doc, E> {
        Ok(Doc::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Doc, E> {
        Ok(Doc::String(s))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Doc, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(Doc::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Doc, A::Error> {
        let mut members = Vec::new();
        while let Some(member) = map.next_entry::<String, Doc>()? {
            members.push(member);
        }
        Ok(Doc::Object(members))
    }
}

/// JSON keys (as argument names) and scalar values (as arguments), named by their path.
///
/// `path` is the place's path so far (`json.a[0]`), grown and cut back in place as the walk
/// goes; the document is consumed, so its strings become the targets' values uncopied.
fn json(t: &mut Taken<'_>, path: &mut String, v: Doc, depth: usize, secret_fields: &[&str]) {
    if depth > MAX_DEPTH {
        t.overflow = true;
        return;
    }
    let at = path.len();
    match v {
        Doc::Object(m) => {
            for (k, v) in m {
                path.push('.');
                path.push_str(&k);
                let secret = is_secret(&k, secret_fields);
                // A key under `constructor` is read with it too, as CRS reads a JSON key by
                // its path: `{"constructor":{"prototype":…}}` is lodash's prototype
                // pollution (black-box pass 13, B13-18).
                if path.get(..at).is_some_and(|p| p.ends_with(".constructor")) {
                    t.push(
                        Kind::ArgNames,
                        place("ARGS_NAMES:", path),
                        format!("constructor.{k}"),
                    );
                }
                t.push(Kind::ArgNames, place("ARGS_NAMES:", path), k);
                if !secret {
                    json(t, path, v, depth + 1, secret_fields);
                }
                path.truncate(at);
            }
        }
        Doc::Array(a) => {
            for (i, v) in a.into_iter().enumerate() {
                path.push('[');
                path.push_str(&i.to_string());
                path.push(']');
                json(t, path, v, depth + 1, secret_fields);
                path.truncate(at);
            }
        }
        Doc::String(s) => t.push(Kind::Args, place("ARGS:", path), s),
        Doc::Number(n) => t.push(Kind::Args, place("ARGS:", path), n),
        Doc::Other => {}
    }
}

/// The strings of a JSON text that does not parse (the first bytes of a longer body, or a
/// broken one): each key and each value not under a secret key, as an argument, so what a
/// lenient parser upstream would read is inspected all the same.
fn json_strings(t: &mut Taken<'_>, text: &str, secret_fields: &[&str]) {
    let b = text.as_bytes();
    let mut i = 0;
    let mut secret_value = false;
    while let Some(&c) = b.get(i) {
        match c {
            b'"' => {
                let start = i;
                i += 1;
                while let Some(&c) = b.get(i) {
                    if c == b'"' {
                        break;
                    }
                    i += if c == b'\\' { 2 } else { 1 };
                }
                let end = i.min(b.len());
                // Closed: decoded as JSON; cut short (or not decodable): as it is.
                let s = text
                    .get(start..=i)
                    .filter(|_| i < b.len())
                    .and_then(|quoted| serde_json::from_str::<String>(quoted).ok())
                    .or_else(|| text.get(start + 1..end).map(str::to_owned))
                    .unwrap_or_default();
                i += 1;
                let after = b.get(i..).unwrap_or_default();
                let key = after
                    .iter()
                    .find(|c| !c.is_ascii_whitespace())
                    .is_some_and(|c| *c == b':');
                if key {
                    secret_value = is_secret(&s, secret_fields);
                    t.push(Kind::ArgNames, "ARGS_NAMES:json", s);
                } else {
                    if !secret_value {
                        t.push(Kind::Args, "ARGS:json", s);
                    }
                    secret_value = false;
                }
            }
            b',' | b'{' | b'[' => {
                secret_value = false;
                i += 1;
            }
            _ => i += 1,
        }
    }
}
