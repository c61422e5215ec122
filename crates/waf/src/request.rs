//! Where input arrives: a request taken apart into the places rules look at, named as
//! ModSecurity names them (`ARGS:q`, `REQUEST_HEADERS:User-Agent`, ...), which is also how
//! exclusions name them. Query and form arguments, JSON keys and values at any depth,
//! multipart field names, values and file names, cookies, the path, and the headers.
//!
//! Work is bounded: at most [`MAX_TARGETS`] places and JSON nested [`MAX_DEPTH`] deep; a
//! request beyond either is reported as [`Taken::overflow`] (and blocked by rule 920390),
//! never inspected in part as if that were all of it.

use std::borrow::Cow;

use crate::decode;
use crate::multipart;

/// Places inspected at most: enough for any body within the default inspection limit (128
/// KiB) short of one made only of one-character values, so ordinary large JSON is inspected
/// whole (2,048, the limit before, refused 128 KiB of ordinary records). The work stays
/// bounded by the body limit: 128 KiB of the cheapest places costs about 25 ms.
pub const MAX_TARGETS: usize = 65_536;
/// JSON nesting inspected at most.
pub const MAX_DEPTH: usize = 64;

/// What kind of place a value came from; rules say which kinds they look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Kind {
    /// An argument's value (query, form, JSON, multipart field).
    Args = 1,
    /// An argument's name (JSON keys included).
    ArgNames = 1 << 1,
    /// The decoded path.
    Path = 1 << 2,
    /// The request target as it arrived (path and query, still encoded).
    RawUri = 1 << 3,
    /// `User-Agent` and `Referer`, where attacks in headers are usually looked for.
    UaReferer = 1 << 4,
    /// Any other header's value (the `Authorization` and `Cookie` headers excepted).
    Headers = 1 << 5,
    /// A header's name.
    HeaderNames = 1 << 6,
    /// A cookie's value.
    Cookies = 1 << 7,
    /// A cookie's name.
    CookieNames = 1 << 8,
    /// An uploaded file's name.
    FileNames = 1 << 9,
    /// A body no parser took apart (XML, text), as a whole.
    Body = 1 << 10,
    /// The method.
    Method = 1 << 11,
}

/// A set of [`Kind`]s.
pub type Kinds = u16;

/// Every kind that carries what the client chose as data.
pub const DATA: Kinds = Kind::Args as u16
    | Kind::ArgNames as u16
    | Kind::Cookies as u16
    | Kind::CookieNames as u16
    | Kind::UaReferer as u16
    | Kind::FileNames as u16;

/// One place and what was in it (already URL-decoded where its syntax encodes). Names
/// and values the request holds as they are (the method, the path, most headers and
/// arguments) are borrowed from it, not copied.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// Its kind.
    pub kind: Kind,
    /// Its name, as exclusions and findings name it: `ARGS:q`, `REQUEST_HEADERS:User-Agent`.
    pub location: Cow<'static, str>,
    /// Its value.
    pub value: Cow<'a, str>,
}

#[cfg(test)]
impl Target<'static> {
    /// A target, for tests.
    pub(crate) fn new(kind: Kind, location: &str, value: &str) -> Self {
        Self {
            kind,
            location: location.to_owned().into(),
            value: value.to_owned().into(),
        }
    }
}

/// A request as it arrives.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The method.
    pub method: &'a str,
    /// The request target: path and query as sent, still percent-encoded.
    pub uri: &'a str,
    /// The headers, names in any case.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// The body (or its first bytes), if one is inspected.
    pub body: Option<&'a [u8]>,
    /// Argument names whose values are secrets (passwords): never inspected as text.
    pub secret_fields: &'a [&'a str],
}

/// A request taken apart.
#[derive(Debug, Default)]
pub struct Taken<'a> {
    /// The places, in order.
    pub targets: Vec<Target<'a>>,
    /// The request had more places or deeper JSON than is inspected.
    pub overflow: bool,
    /// The body claimed a syntax it did not have (JSON that does not parse, multipart
    /// without its boundary).
    pub malformed_body: bool,
}

impl<'a> Taken<'a> {
    fn push(
        &mut self,
        kind: Kind,
        location: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'a, str>>,
    ) {
        if self.targets.len() >= MAX_TARGETS {
            self.overflow = true;
            return;
        }
        self.targets.push(Target {
            kind,
            location: location.into(),
            value: value.into(),
        });
    }
}

/// Headers never inspected as text: credentials, and the cookie header (its cookies are).
fn skipped_header(name: &str) -> bool {
    [
        "authorization",
        "cookie",
        "dpop",
        "signature",
        "signature-input",
        "proxy-authorization",
    ]
    .iter()
    .any(|h| h.eq_ignore_ascii_case(name))
}

/// Takes `input` apart.
pub fn take_apart<'a>(input: &Input<'a>) -> Taken<'a> {
    let mut t = Taken::default();
    t.push(Kind::Method, "REQUEST_METHOD", input.method);
    t.push(Kind::RawUri, "REQUEST_URI_RAW", input.uri);
    let (path, query) = input.uri.split_once('?').unwrap_or((input.uri, ""));
    t.push(
        Kind::Path,
        "REQUEST_FILENAME",
        decode::url_decode(path, false),
    );
    form(&mut t, query, input.secret_fields);
    let mut content_type = "";
    for &(name, raw) in input.headers {
        let value = String::from_utf8_lossy(raw);
        t.push(Kind::HeaderNames, "REQUEST_HEADERS_NAMES", name);
        if name.eq_ignore_ascii_case("cookie") {
            cookies(&mut t, &value);
            continue;
        }
        if name.eq_ignore_ascii_case("content-type") {
            content_type = std::str::from_utf8(raw).unwrap_or("");
        }
        if skipped_header(name) {
            continue;
        }
        let kind =
            if name.eq_ignore_ascii_case("user-agent") || name.eq_ignore_ascii_case("referer") {
                Kind::UaReferer
            } else {
                Kind::Headers
            };
        t.push(kind, place("REQUEST_HEADERS:", name), value);
    }
    if let Some(body) = input.body.filter(|b| !b.is_empty()) {
        self::body(&mut t, content_type, body, input.secret_fields);
    }
    t
}

/// Whether `name` is a secret field (compared without case, and by the last segment of a
/// JSON path).
fn is_secret(name: &str, secret_fields: &[&str]) -> bool {
    let last = name
        .rsplit(['.', '['])
        .next()
        .unwrap_or(name)
        .trim_end_matches(']');
    secret_fields.iter().any(|f| f.eq_ignore_ascii_case(last))
}

/// `a=1&b=2` (query or form), `+` as a space; names and values without an escape are
/// borrowed.
fn form<'a>(t: &mut Taken<'a>, s: &'a str, secret_fields: &[&str]) {
    for (name, value) in pairs(s) {
        argument(t, name, value, secret_fields);
    }
}

/// The decoded names and values of `a=1&b=2`.
fn pairs(s: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    s.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (
            decode::url_decode(name, true),
            decode::url_decode(value, true),
        )
    })
}

/// An argument's name, and its value unless it is a secret field.
fn argument<'a>(t: &mut Taken<'a>, name: Cow<'a, str>, value: Cow<'a, str>, secret: &[&str]) {
    let location = place("ARGS_NAMES:", &name);
    let args = (!is_secret(&name, secret)).then(|| place("ARGS:", &name));
    t.push(Kind::ArgNames, location, name);
    if let Some(args) = args {
        t.push(Kind::Args, args, value);
    }
}

/// `a=1; b=2`.
fn cookies(t: &mut Taken<'_>, header: &str) {
    for c in header.split(';') {
        let c = c.trim();
        if c.is_empty() {
            continue;
        }
        let (name, value) = c.split_once('=').unwrap_or((c, ""));
        t.push(
            Kind::CookieNames,
            place("REQUEST_COOKIES_NAMES:", name),
            name.to_owned(),
        );
        t.push(
            Kind::Cookies,
            place("REQUEST_COOKIES:", name),
            decode::url_decode(value, false).into_owned(),
        );
    }
}

fn body<'a>(t: &mut Taken<'a>, content_type: &str, body: &'a [u8], secret_fields: &[&str]) {
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
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(v) => json(t, &mut String::from("json"), v, 0, secret_fields),
            Err(_) => {
                t.malformed_body = !mime.is_empty();
                json_strings(t, &text, secret_fields);
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
        t.push(Kind::Body, "REQUEST_BODY", text);
        for v in values {
            t.push(Kind::Args, "XML:/*", v);
        }
    } else if !binary_message(t, mime, body) {
        // Any other type (text/json, NDJSON, GraphQL, YAML, text/plain..., and protobuf or
        // gRPC that is not): an upstream may well parse it as JSON, so its quoted strings
        // are arguments too.
        json_strings(t, &text, secret_fields);
        t.push(Kind::Body, "REQUEST_BODY", text);
    }
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
        if part_ct.starts_with("multipart/") && depth < MAX_MULTIPART_DEPTH {
            if !multipart_body(t, part_ct, &p.body, secret_fields, depth + 1) {
                t.push(
                    Kind::Body,
                    "REQUEST_BODY",
                    String::from_utf8_lossy(&p.body).into_owned(),
                );
            }
            continue;
        }
        let name = p.name.unwrap_or_default();
        t.push(Kind::ArgNames, place("ARGS_NAMES:", &name), name.clone());
        // An empty file name (a file input left empty, or a part some parsers read as a
        // field): its content is inspected as a field's.
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
    (is_protobuf(mime) && protobuf(t, body)) || (is_grpc(mime) && grpc(t, body))
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
            // Read as a string field would be: every rule for arguments looks at it.
            t.push(Kind::Args, "ARGS:pb", String::from_utf8_lossy(payload));
        }
    }
    true
}

/// The text and attribute values of an XML document as its parser reads them, leniently (a
/// broken document still yields what can be read): the character data between two element
/// tags as one value, CDATA sections unwrapped into it and processing instructions and
/// comments taken out of it (`SE<?pi?>LECT` is `SELECT` to a DOM's text content), entities
/// undone outside CDATA; and each attribute value, entities undone.
fn xml_values(doc: &str) -> Vec<String> {
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

/// JSON keys (as argument names) and scalar values (as arguments), named by their path.
///
/// `path` is the place's path so far (`json.a[0]`), grown and cut back in place as the walk
/// goes; the document is consumed, so its strings become the targets' values uncopied.
fn json(
    t: &mut Taken<'_>,
    path: &mut String,
    v: serde_json::Value,
    depth: usize,
    secret_fields: &[&str],
) {
    if depth > MAX_DEPTH {
        t.overflow = true;
        return;
    }
    let at = path.len();
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                path.push('.');
                path.push_str(&k);
                let secret = is_secret(&k, secret_fields);
                t.push(Kind::ArgNames, place("ARGS_NAMES:", path), k);
                if !secret {
                    json(t, path, v, depth + 1, secret_fields);
                }
                path.truncate(at);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, v) in a.into_iter().enumerate() {
                path.push('[');
                path.push_str(&i.to_string());
                path.push(']');
                json(t, path, v, depth + 1, secret_fields);
                path.truncate(at);
            }
        }
        serde_json::Value::String(s) => t.push(Kind::Args, place("ARGS:", path), s),
        serde_json::Value::Number(n) => t.push(Kind::Args, place("ARGS:", path), n.to_string()),
        serde_json::Value::Bool(_) | serde_json::Value::Null => {}
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

/// A place's name: `prefix` and `name` (`ARGS:` and `q`), without `format!`'s machinery
/// (taking a large JSON body apart names tens of thousands of places).
fn place(prefix: &str, name: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + name.len());
    s.push_str(prefix);
    s.push_str(name);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(t: &Taken) -> Vec<String> {
        t.targets
            .iter()
            .map(|x| format!("{}={}", x.location, x.value))
            .collect()
    }

    #[test]
    fn query_form_cookies_and_headers_are_named() {
        let headers: &[(&str, &[u8])] = &[
            ("User-Agent", b"curl"),
            ("Cookie", b"sid=a%20b; theme=dark"),
            ("Authorization", b"Bearer x"),
            ("Content-Type", b"application/x-www-form-urlencoded"),
        ];
        let t = take_apart(&Input {
            method: "POST",
            uri: "/a%2fb?q=x+y&flag",
            headers,
            body: Some(b"name=O%27Brien&password=secret"),
            secret_fields: &["password"],
        });
        let n = names(&t);
        for want in [
            "REQUEST_FILENAME=/a/b",
            "ARGS:q=x y",
            "ARGS:flag=",
            "REQUEST_HEADERS:User-Agent=curl",
            "REQUEST_COOKIES:sid=a b",
            "ARGS:name=O'Brien",
            "ARGS_NAMES:password=password",
        ] {
            assert!(n.contains(&want.to_owned()), "{want} in {n:?}");
        }
        assert!(
            !n.iter()
                .any(|x| x.contains("secret") || x.contains("Bearer"))
        );
    }

    #[test]
    fn json_that_does_not_parse_gives_its_strings() {
        let headers: &[(&str, &[u8])] = &[("content-type", b"application/json")];
        let body = br#"{"q": "<script>\u0061lert(1)</script>", "password" : "hunter2", "n": [1, "x\"y"], "t": "cut sho"#;
        let t = take_apart(&Input {
            method: "POST",
            uri: "/",
            headers,
            body: Some(body),
            secret_fields: &["password"],
        });
        assert!(t.malformed_body);
        let n = names(&t);
        for want in [
            "ARGS_NAMES:json=q",
            "ARGS:json=<script>alert(1)</script>",
            "ARGS_NAMES:json=password",
            "ARGS:json=x\"y",
            "ARGS:json=cut sho",
        ] {
            assert!(n.contains(&want.to_owned()), "{want} in {n:?}");
        }
        assert!(
            !n.iter()
                .any(|x| x.starts_with("ARGS:") && x.contains("hunter2")),
            "{n:?}"
        );
        // Cut inside an escape or a character: no panic, what there is.
        for body in [
            &br#"{"a": "b\"#[..],
            "{\"a\": \"é".as_bytes(),
            b"\"",
            b"{\"\\",
        ] {
            let _ = take_apart(&Input {
                method: "POST",
                uri: "/",
                headers,
                body: Some(body),
                secret_fields: &[],
            });
        }
    }

    #[test]
    fn json_is_walked_to_any_depth_and_secret_fields_are_skipped() {
        let headers: &[(&str, &[u8])] = &[("content-type", b"application/json")];
        let t = take_apart(&Input {
            method: "POST",
            uri: "/",
            headers,
            body: Some(br#"{"a":{"b":["x",{"$ne":1}]},"new_password":"hunter2"}"#),
            secret_fields: &["new_password"],
        });
        let n = names(&t);
        assert!(n.contains(&"ARGS:json.a.b[0]=x".to_owned()), "{n:?}");
        assert!(
            n.contains(&"ARGS_NAMES:json.a.b[1].$ne=$ne".to_owned()),
            "{n:?}"
        );
        assert!(!n.iter().any(|x| x.contains("hunter2")));
    }

    #[test]
    fn deep_json_overflows_instead_of_being_skipped() {
        let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        let headers: &[(&str, &[u8])] = &[("content-type", b"application/json")];
        let t = take_apart(&Input {
            method: "POST",
            uri: "/",
            headers,
            body: Some(deep.as_bytes()),
            secret_fields: &[],
        });
        assert!(t.overflow);
    }

    #[test]
    fn too_many_arguments_overflow() {
        let q = format!("/?{}", "a=1&".repeat(MAX_TARGETS + 10));
        let t = take_apart(&Input {
            method: "GET",
            uri: &q,
            headers: &[],
            body: None,
            secret_fields: &[],
        });
        assert!(t.overflow);
        assert!(t.targets.len() <= MAX_TARGETS);
    }
}
