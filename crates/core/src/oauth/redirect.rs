//! Redirect URIs: what a client may register, and whether a request's `redirect_uri` is one
//! of them. Matching is by exact string (RFC 9700 §4.1.3), with one exception: for an
//! `http` loopback IP literal (a native app's local listener) the port may vary (RFC 8252
//! §7.3). No normalisation happens before comparing, so `/cb/../x`, `%2e`, a changed case
//! or a default port never match a URI they would be normalised to.

/// Longest redirect URI accepted.
pub const MAX_LEN: usize = 2000;

/// Why a redirect URI cannot be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedirectError {
    /// Not an absolute URI, too long, or with characters outside RFC 3986.
    #[error("not an absolute URI")]
    Malformed,
    /// A fragment (RFC 6749 §3.1.2).
    #[error("a redirect URI must not have a fragment")]
    Fragment,
    /// `user:pass@` in the authority.
    #[error("a redirect URI must not carry userinfo")]
    Userinfo,
    /// `http` to anything but a loopback host, or a scheme that runs code or reads files
    /// (`javascript:`, `data:`, `file:`, ...).
    #[error("use https, http on a loopback address, or a private-use scheme (com.example.app:/cb)")]
    Scheme,
    /// A wildcard: patterns are never matched.
    #[error("wildcards are not allowed in redirect URIs")]
    Wildcard,
}

/// Checks a redirect URI a client registers (RFC 6749 §3.1.2, RFC 8252 §7, RFC 9700 §2.1).
pub fn validate(uri: &str) -> Result<(), RedirectError> {
    if uri.is_empty()
        || uri.len() > MAX_LEN
        || !uri.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(
                    b,
                    b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
                )
        })
    {
        return Err(RedirectError::Malformed);
    }
    if uri.contains('*') {
        return Err(RedirectError::Wildcard);
    }
    if uri.contains('#') {
        return Err(RedirectError::Fragment);
    }
    let parsed = url::Url::parse(uri).map_err(|_| RedirectError::Malformed)?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(RedirectError::Userinfo);
    }
    match parsed.scheme() {
        "https" => {
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(RedirectError::Malformed);
            }
            Ok(())
        }
        "http" => match parsed.host() {
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => Ok(()),
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => Ok(()),
            Some(url::Host::Domain("localhost")) => Ok(()),
            _ => Err(RedirectError::Scheme),
        },
        // RFC 8252 §7.1: a private-use scheme is a reverse domain name, so it has a dot.
        s if s.contains('.') => Ok(()),
        _ => Err(RedirectError::Scheme),
    }
}

/// The parts of an `http` loopback IP-literal URI: the scheme and host, and what follows
/// the port. `None` for any other URI.
fn loopback_parts(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let host_len = if rest.starts_with("127.0.0.1") {
        "127.0.0.1".len()
    } else if rest.starts_with("[::1]") {
        "[::1]".len()
    } else {
        return None;
    };
    let (host, after_host) = rest.split_at(host_len);
    let tail = match after_host.strip_prefix(':') {
        Some(p) => {
            let digits = p.bytes().take_while(u8::is_ascii_digit).count();
            let (port, tail) = p.split_at(digits);
            if !(1..=5).contains(&port.len()) || !port.parse::<u16>().is_ok_and(|n| n != 0) {
                return None;
            }
            tail
        }
        None => after_host,
    };
    if !(tail.is_empty() || tail.starts_with('/') || tail.starts_with('?')) {
        return None;
    }
    Some((host, tail))
}

/// Whether `requested` is one of `registered`: byte for byte, or an `http` loopback IP
/// literal that differs only in its port.
pub fn matches<'a>(registered: impl IntoIterator<Item = &'a str>, requested: &str) -> bool {
    let loopback = loopback_parts(requested);
    registered.into_iter().any(|r| {
        r == requested || matches!((loopback_parts(r), loopback), (Some(a), Some(b)) if a == b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_accepts_what_clients_use() {
        for ok in [
            "https://app.example.com/callback",
            "https://app.example.com/cb?tenant=1",
            "http://127.0.0.1/callback",
            "http://127.0.0.1:8765/callback",
            "http://[::1]:8765/callback",
            "http://localhost:3000/callback",
            "com.example.app:/oauth2redirect",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn registration_refuses_dangerous_uris() {
        for (bad, why) in [
            ("", RedirectError::Malformed),
            ("/callback", RedirectError::Malformed),
            ("https://app.example.com/cb#frag", RedirectError::Fragment),
            (
                "https://user:pw@app.example.com/cb",
                RedirectError::Userinfo,
            ),
            ("http://app.example.com/cb", RedirectError::Scheme),
            ("http://10.0.0.1/cb", RedirectError::Scheme),
            ("javascript:alert(1)", RedirectError::Scheme),
            ("data:text/html,hi", RedirectError::Scheme),
            ("file:///etc/passwd", RedirectError::Scheme),
            ("https://*.example.com/cb", RedirectError::Wildcard),
            ("https://app.example.com/c b", RedirectError::Malformed),
            ("https://app.example.com/\u{e9}", RedirectError::Malformed),
        ] {
            assert_eq!(validate(bad), Err(why), "{bad:?}");
        }
        assert_eq!(
            validate(&format!("https://a.example/{}", "x".repeat(MAX_LEN))),
            Err(RedirectError::Malformed)
        );
    }

    #[test]
    fn matching_is_exact() {
        let reg = ["https://app.example.com/callback"];
        assert!(matches(reg, "https://app.example.com/callback"));
        for attempt in [
            "https://app.example.com/callback/",
            "https://app.example.com/callback?x=1",
            "https://APP.example.com/callback",
            "https://app.example.com:443/callback",
            "https://app.example.com/callback/../callback",
            "https://app.example.com/%63allback",
            "https://app.example.com.evil.test/callback",
            "https://evil.test/?https://app.example.com/callback",
            "https://app.example.com/callback#x",
            "https://app.example.com@evil.test/callback",
            "",
        ] {
            assert!(!matches(reg, attempt), "{attempt:?}");
        }
    }

    #[test]
    fn loopback_port_may_vary_and_nothing_else() {
        let reg = ["http://127.0.0.1/callback", "http://[::1]:9000/cb"];
        assert!(matches(reg, "http://127.0.0.1/callback"));
        assert!(matches(reg, "http://127.0.0.1:51234/callback"));
        assert!(matches(reg, "http://[::1]/cb"));
        assert!(matches(reg, "http://[::1]:1/cb"));
        for attempt in [
            "http://127.0.0.1:0/callback",
            "http://127.0.0.1:65536/callback",
            "http://127.0.0.1:123456/callback",
            "http://127.0.0.1:/callback",
            "http://127.0.0.1:80x/callback",
            "http://127.0.0.1:8080/callback2",
            "http://127.0.0.1:8080/Callback",
            "http://127.0.0.1.evil.test/callback",
            "http://127.0.0.1@evil.test/callback",
            "https://127.0.0.1:8080/callback",
            "http://127.0.0.2:8080/callback",
            "http://[::1]:9000/cb/x",
        ] {
            assert!(!matches(reg, attempt), "{attempt:?}");
        }
        // localhost is matched exactly (RFC 8252 §8.3 advises against it; no port leeway).
        let reg = ["http://localhost:3000/cb"];
        assert!(matches(reg, "http://localhost:3000/cb"));
        assert!(!matches(reg, "http://localhost:3001/cb"));
    }
}
