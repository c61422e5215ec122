//! Server-rendered pages for people (sign-in, second factor, consent, logout, errors).
//! Everything is compiled into the binary: the markup here, the stylesheet and script in
//! `assets/`, each served with its SHA-384 as Subresource Integrity. Every page has its own
//! CSP nonce, `frame-ancestors 'none'`, and is never cached; every value shown is escaped.

use std::sync::LazyLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::Digest;

/// Where the assets are served.
pub const ASSETS: &str = "/oauth2/assets";

/// One compiled-in asset with its integrity hash.
pub struct Asset {
    /// The bytes.
    pub body: &'static [u8],
    /// Its media type.
    pub content_type: &'static str,
    /// `sha384-...`.
    pub integrity: String,
}

/// An asset of `body` with its integrity hash.
pub fn asset(body: &'static [u8], content_type: &'static str) -> Asset {
    Asset {
        body,
        content_type,
        integrity: format!("sha384-{}", STANDARD.encode(sha2::Sha384::digest(body))),
    }
}

/// The stylesheet.
pub static CSS: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        include_bytes!("assets/portcullis.css"),
        "text/css; charset=utf-8",
    )
});
/// The sign-in script (proof-of-work, passkeys).
pub static SIGNIN_JS: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        include_bytes!("assets/signin.js"),
        "text/javascript; charset=utf-8",
    )
});

/// Escapes text for HTML content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => {}
            c => out.push(c),
        }
    }
    out
}

/// The CSP `form-action` source of where a form's answer may redirect (the client's
/// redirect URI): its origin, or its scheme for a native app's private-use scheme.
pub fn redirect_source(uri: &str) -> Option<String> {
    let u = url::Url::parse(uri).ok()?;
    match u.scheme() {
        "http" | "https" => {
            let origin = u.origin().ascii_serialization();
            (origin != "null").then_some(origin)
        }
        s if s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) =>
        {
            Some(format!("{s}:"))
        }
        _ => None,
    }
}

/// A page being built.
pub struct Page {
    title: String,
    body: String,
    status: StatusCode,
    nonce: String,
    script: bool,
    form_targets: Vec<String>,
    cookies: Vec<String>,
}

impl Page {
    /// A page titled `title` with the per-response `nonce`.
    pub fn new(title: &str, nonce: String) -> Self {
        Self {
            title: title.to_owned(),
            body: String::new(),
            status: StatusCode::OK,
            nonce,
            script: false,
            form_targets: Vec::new(),
            cookies: Vec::new(),
        }
    }

    /// Appends markup (already escaped by the caller).
    pub fn html(mut self, markup: &str) -> Self {
        self.body.push_str(markup);
        self
    }

    /// The HTTP status.
    pub fn status(mut self, s: StatusCode) -> Self {
        self.status = s;
        self
    }

    /// Loads the sign-in script.
    pub fn with_script(mut self) -> Self {
        self.script = true;
        self
    }

    /// Lets the page's forms end at `uri`'s origin (a redirect to the client).
    pub fn form_target(mut self, uri: &str) -> Self {
        if let Some(s) = redirect_source(uri) {
            self.form_targets.push(s);
        }
        self
    }

    /// Sets a cookie (a full `Set-Cookie` value).
    pub fn cookie(mut self, c: String) -> Self {
        self.cookies.push(c);
        self
    }

    /// Sets these cookies (none, for `None`).
    pub fn cookies(mut self, c: impl IntoIterator<Item = String>) -> Self {
        self.cookies.extend(c);
        self
    }

    /// The response.
    pub fn render(self) -> Response {
        let css = &*CSS;
        let script = if self.script {
            format!(
                r#"<script src="{ASSETS}/signin.js" integrity="{}" nonce="{}" defer></script>"#,
                SIGNIN_JS.integrity, self.nonce
            )
        } else {
            String::new()
        };
        let html = format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin"><title>{title} · Portcullis</title>
<link rel="stylesheet" href="{ASSETS}/portcullis.css" integrity="{css}">{script}</head>
<body><main><p class="brand">Portcullis</p><h1>{title}</h1>
{body}</main></body></html>"#,
            title = esc(&self.title),
            css = css.integrity,
            body = self.body,
        );
        let mut form_action = String::from("'self'");
        for t in &self.form_targets {
            form_action.push(' ');
            form_action.push_str(t);
        }
        let csp = format!(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'nonce-{n}'; \
             connect-src 'self'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'",
            n = self.nonce
        );
        let mut res = (self.status, html).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        if let Ok(v) = HeaderValue::from_str(&csp) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        // Forms post with their Origin (checked), and nothing leaks to other sites.
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
        for c in self.cookies {
            if let Ok(v) = HeaderValue::from_str(&c) {
                h.append(header::SET_COOKIE, v);
            }
        }
        res
    }
}

/// A 303 to `location` (after a form, or to the client), never cached, with cookies.
pub fn see_other(location: &str, cookies: Vec<String>) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    res
}

/// An asset response (cacheable: its integrity hash pins it).
pub fn serve(a: &Asset) -> Response {
    let mut res = a.body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_shown_is_escaped() {
        assert_eq!(
            esc(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
        assert_eq!(esc("a\u{0}b\u{1b}c"), "abc");
    }

    #[test]
    fn form_targets_are_origins() {
        assert_eq!(
            redirect_source("https://app.example:8443/cb?x=1").as_deref(),
            Some("https://app.example:8443")
        );
        assert_eq!(
            redirect_source("com.example.app:/cb").as_deref(),
            Some("com.example.app:")
        );
        assert_eq!(redirect_source("not a url"), None);
    }

    #[test]
    fn integrity_is_sha384_of_the_bytes() {
        assert!(CSS.integrity.starts_with("sha384-"));
        assert_eq!(CSS.integrity.len(), "sha384-".len() + 64);
    }
}
