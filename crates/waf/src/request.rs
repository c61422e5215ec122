//! Where input arrives: a request taken apart into the places rules look at, named as
//! ModSecurity names them (`ARGS:q`, `REQUEST_HEADERS:User-Agent`, ...), which is also how
//! exclusions name them. Query and form arguments, cookies, the path and the headers here;
//! the body by its type in `bodies.rs` (JSON keys and values at any depth, multipart field
//! names, values and file names, XML, protobuf and gRPC messages).
//!
//! Work is bounded: at most [`MAX_TARGETS`] places and JSON nested [`MAX_DEPTH`] deep; a
//! request beyond either is reported as [`Taken::overflow`] (and blocked by rule 920390),
//! never inspected in part as if that were all of it.

use std::borrow::Cow;

use crate::decode;

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
    /// Multipart parts whose headers CRS refuses (922100-922130), by rule id, with the
    /// part's place.
    pub multipart_refused: Vec<(u32, String)>,
}

impl<'a> Taken<'a> {
    pub(crate) fn push(
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
        crate::bodies::body(&mut t, content_type, body, input.secret_fields);
    }
    t
}

/// Whether `name` is a secret field (compared without case, and by the last segment of a
/// JSON path).
pub(crate) fn is_secret(name: &str, secret_fields: &[&str]) -> bool {
    let last = name
        .rsplit(['.', '['])
        .next()
        .unwrap_or(name)
        .trim_end_matches(']');
    secret_fields.iter().any(|f| f.eq_ignore_ascii_case(last))
}

/// `a=1&b=2` (query or form), `+` as a space; names and values without an escape are
/// borrowed.
pub(crate) fn form<'a>(t: &mut Taken<'a>, s: &'a str, secret_fields: &[&str]) {
    for (name, value) in pairs(s) {
        argument(t, name, value, secret_fields);
    }
}

/// The decoded names and values of `a=1&b=2`.
pub(crate) fn pairs(s: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    s.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (
            decode::url_decode(name, true),
            decode::url_decode(value, true),
        )
    })
}

/// An argument's name, and its value unless it is a secret field.
pub(crate) fn argument<'a>(
    t: &mut Taken<'a>,
    name: Cow<'a, str>,
    value: Cow<'a, str>,
    secret: &[&str],
) {
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

/// A place's name: `prefix` and `name` (`ARGS:` and `q`), without `format!`'s machinery
/// (taking a large JSON body apart names tens of thousands of places).
pub(crate) fn place(prefix: &str, name: &str) -> String {
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
