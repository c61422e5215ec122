//! The decoded forms of one value, and the match of a rule that is not an expression
//! (libinjection, character counts) against them.

use crate::{Compiled, decode, rules};

/// The decoded forms of one value, computed when a rule first asks. A form that changes
/// nothing of the one it is made from is not copied: it reads that one.
pub(crate) struct Forms<'a> {
    raw: &'a str,
    /// Per form: not computed yet (`None`), the same as its base (`Some(None)`), or its own.
    cache: [Option<Option<String>>; 7],
}

impl<'a> Forms<'a> {
    pub(crate) fn new(raw: &'a str) -> Self {
        Self {
            raw,
            cache: Default::default(),
        }
    }

    /// The form each form is made from.
    fn base(form: rules::Form) -> rules::Form {
        use rules::Form;
        match form {
            Form::Raw | Form::Decoded => Form::Raw,
            Form::Lower | Form::Cmd | Form::Path => Form::Decoded,
            Form::Sql | Form::Compact => Form::Lower,
        }
    }

    pub(crate) fn get(&mut self, form: rules::Form) -> &str {
        self.fill(form);
        self.read(form)
    }

    fn fill(&mut self, form: rules::Form) {
        use rules::Form;
        let slot = form as usize;
        if form == Form::Raw || self.cache.get(slot).is_some_and(Option::is_some) {
            return;
        }
        let base = Self::base(form);
        self.fill(base);
        let from = self.read(base);
        let v = match form {
            Form::Raw => std::borrow::Cow::Borrowed(from),
            Form::Decoded => decode::full(from),
            Form::Lower => decode::lower_compact(from),
            Form::Sql => decode::sql_fold(from),
            Form::Cmd => decode::cmd_line(from),
            Form::Path => decode::path_fold(from),
            Form::Compact if from.contains(' ') => from.replace(' ', "").into(),
            Form::Compact => std::borrow::Cow::Borrowed(from),
        };
        let v = match v {
            std::borrow::Cow::Borrowed(_) => None,
            std::borrow::Cow::Owned(s) => Some(s),
        };
        if let Some(c) = self.cache.get_mut(slot) {
            *c = Some(v);
        }
    }

    /// A form already filled.
    fn read(&self, form: rules::Form) -> &str {
        if form == rules::Form::Raw {
            return self.raw;
        }
        match self.cache.get(form as usize) {
            Some(Some(Some(own))) => own,
            Some(Some(None)) => self.read(Self::base(form)),
            _ => "",
        }
    }
}

/// Whether rule `c` (not an expression rule) matches the value `forms` holds.
pub(crate) fn matches(c: &Compiled, forms: &mut Forms<'_>) -> bool {
    let v = forms.get(c.rule.form);
    if v.is_empty() {
        return false;
    }
    match c.rule.test {
        // Expression rules are matched through their form's set, never one by one.
        rules::Test::Rx(_) => false,
        // libinjection needs more than one token for SQL, and markup, a quote, an
        // assignment or a scheme for XSS: a single word or number is neither.
        rules::Test::Sqli => {
            let sqli = |v: &[u8]| {
                v.iter()
                    .any(|&b| !b.is_ascii_alphanumeric() && b != b'_' && b != b'.')
                    && libinjectionrs::detect_sqli(v).is_injection()
            };
            // MySQL starts a `--` comment at any control character after it, libinjection
            // only at some (`admin'--\x01` is `admin'--`): read again without them, and with
            // them as spaces.
            let odd = |b: u8| {
                b.is_ascii_control() && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0)
            };
            sqli(v.as_bytes())
                || (v.bytes().any(odd) && {
                    let without: Vec<u8> = v.bytes().filter(|&b| !odd(b)).collect();
                    let spaced: Vec<u8> =
                        v.bytes().map(|b| if odd(b) { b' ' } else { b }).collect();
                    sqli(&without) || sqli(&spaced)
                })
        }
        rules::Test::Xss => {
            v.bytes().any(|b| {
                matches!(
                    b,
                    b'<' | b'>' | b'"' | b'\'' | b'=' | b'`' | b':' | b'(' | b'&' | b'+'
                )
            }) && libinjectionrs::detect_xss(v.as_bytes()).is_injection()
        }
        // With case, as CRS's `@within`: methods are case-sensitive (RFC 9110 section 9.1),
        // and `get` is not GET to every upstream.
        rules::Test::NoneOf(allowed) => !allowed.contains(&v),
        rules::Test::SpecialChars(n) => {
            v.chars()
                .filter(|ch| rules::SQL_SPECIALS.contains(ch))
                .count()
                >= n
        }
    }
}
