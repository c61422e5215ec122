//! Disposable (throwaway) mail providers: the `mailchecker` crate's list of about 56,000
//! domains, looked up by every suffix of the address's domain (`x.mailinator.com` is
//! `mailinator.com`'s) in a set built once.

use std::collections::HashSet;
use std::sync::OnceLock;

fn domains() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| mailchecker::blacklist().into_iter().collect())
}

/// The listed domain an address belongs to, when it is a disposable provider's.
pub fn disposable_domain(email: &str) -> Option<&'static str> {
    let domain = email
        .rsplit_once('@')?
        .1
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let set = domains();
    let mut rest = domain.as_str();
    loop {
        if let Some(hit) = set.get(rest) {
            return Some(hit);
        }
        rest = rest.split_once('.')?.1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_and_their_subdomains_are_known() {
        assert_eq!(
            disposable_domain("a@mailinator.com"),
            Some("mailinator.com")
        );
        assert_eq!(
            disposable_domain("a@Sub.Mailinator.COM"),
            Some("mailinator.com")
        );
        assert_eq!(disposable_domain("a@example.com"), None);
        assert_eq!(disposable_domain("a@gmail.com"), None);
        assert_eq!(disposable_domain("no-at-sign"), None);
    }
}
