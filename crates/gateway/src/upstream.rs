//! An upstream of a route: its URL and protocol, and what `/metrics` shows of it.

use super::*;

/// One upstream of a route.
#[derive(Debug)]
pub(super) struct Upstream {
    /// `http://` or `https://` with the base path (an `h2c://` upstream is `http://` here).
    pub(super) uri: Uri,
    /// HTTP/2 with prior knowledge, without TLS (`h2c://`).
    pub(super) h2c: bool,
}

impl Upstream {
    pub(super) fn parse(text: &str) -> Result<Self, String> {
        let (text, h2c) = match text.strip_prefix("h2c://") {
            Some(rest) => (format!("http://{rest}"), true),
            None => (text.to_owned(), false),
        };
        let uri = text
            .trim_end_matches('/')
            .parse::<Uri>()
            .map_err(|e| e.to_string())?;
        Ok(Self { uri, h2c })
    }

    /// The version a request to this upstream is sent as (the client's own version is the
    /// client's business: an HTTP/2 client can reach an HTTP/1.1 upstream and back).
    pub(super) fn version(&self) -> axum::http::Version {
        if self.h2c {
            axum::http::Version::HTTP_2
        } else {
            axum::http::Version::HTTP_11
        }
    }
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.h2c {
            let rest = self.uri.to_string();
            let rest = rest.strip_prefix("http://").unwrap_or(&rest);
            write!(f, "h2c://{rest}")
        } else {
            write!(f, "{}", self.uri)
        }
    }
}
