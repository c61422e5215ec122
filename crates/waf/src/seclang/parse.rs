//! Reads SecLang (ModSecurity's rule language) into directives: `SecRule VARIABLES
//! "OPERATOR" "ACTIONS"` and `SecAction "ACTIONS"`, with backslash continuations, comments
//! and quoted arguments. Everything else (`SecMarker`, `SecComponentSignature`, ...) is
//! returned as `Other` and ignored by the loader.

/// One directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directive {
    /// `SecRule`.
    Rule {
        /// The variables, as written (`ARGS|!ARGS:x|REQUEST_HEADERS:User-Agent`).
        variables: String,
        /// The operator, as written (`@rx ...`; a bare pattern means `@rx`).
        operator: String,
        /// The actions.
        actions: Vec<(String, String)>,
        /// The line it starts on.
        line: usize,
    },
    /// `SecAction`.
    Action {
        /// The actions.
        actions: Vec<(String, String)>,
    },
    /// Any other directive.
    Other,
}

/// Splits a file into logical lines (continuations joined), with their first line numbers.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_end();
        if cur.is_empty() {
            start = n + 1;
            if trimmed.trim_start().starts_with('#') || trimmed.trim().is_empty() {
                continue;
            }
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
        } else {
            cur.push_str(trimmed);
            out.push((start, std::mem::take(&mut cur)));
        }
    }
    if !cur.trim().is_empty() {
        out.push((start, cur));
    }
    out
}

/// The next argument of a directive: a double-quoted string (with `\"` inside) or a bare
/// word; and the rest.
fn argument(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    if let Some(body) = s.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, '"')) => out.push('"'),
                    Some((_, other)) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => out.push('\\'),
                },
                '"' => return Some((out, body.get(i + 1..).unwrap_or_default())),
                c => out.push(c),
            }
        }
        None
    } else {
        let end = s.find(char::is_whitespace).unwrap_or(s.len());
        Some((s.get(..end)?.to_owned(), s.get(end..).unwrap_or_default()))
    }
}

/// `id:1,phase:2,t:none,msg:'a, b',tag:'x'` into name/value pairs.
pub fn actions(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let name_end = rest.find([':', ',']).unwrap_or(rest.len());
        let name = rest.get(..name_end).unwrap_or_default().trim().to_owned();
        rest = rest.get(name_end..).unwrap_or_default();
        let mut value = String::new();
        if let Some(v) = rest.strip_prefix(':') {
            let v = v.trim_start();
            if let Some(q) = v.strip_prefix('\'') {
                let mut end = None;
                let mut escaped = false;
                for (i, c) in q.char_indices() {
                    match c {
                        '\\' if !escaped => escaped = true,
                        '\'' if !escaped => {
                            end = Some(i);
                            break;
                        }
                        _ => escaped = false,
                    }
                }
                let end = end.unwrap_or(q.len());
                value = q.get(..end).unwrap_or_default().replace("\\'", "'");
                rest = q.get(end + 1..).unwrap_or_default();
            } else {
                let end = v.find(',').unwrap_or(v.len());
                value = v.get(..end).unwrap_or_default().trim().to_owned();
                rest = v.get(end..).unwrap_or_default();
            }
        }
        rest = rest
            .trim_start()
            .strip_prefix(',')
            .unwrap_or(rest)
            .trim_start();
        if !name.is_empty() {
            out.push((name, value));
        }
    }
    out
}

/// The directives of one file.
pub fn directives(text: &str) -> Vec<Directive> {
    logical_lines(text)
        .into_iter()
        .map(|(line, l)| {
            let l = l.trim();
            let (name, rest) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            match name {
                "SecRule" => {
                    let parsed = argument(rest).and_then(|(variables, rest)| {
                        let (operator, rest) = argument(rest)?;
                        let acts = argument(rest).map(|(a, _)| a).unwrap_or_default();
                        Some(Directive::Rule {
                            variables,
                            operator,
                            actions: actions(&acts),
                            line,
                        })
                    });
                    parsed.unwrap_or(Directive::Other)
                }
                "SecAction" => Directive::Action {
                    actions: argument(rest).map(|(a, _)| actions(&a)).unwrap_or_default(),
                },
                _ => Directive::Other,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_with_continuations_quotes_and_actions() {
        let text = r#"
# a comment
SecRule REQUEST_COOKIES|!REQUEST_COOKIES:/__utm/|ARGS_NAMES|ARGS "@rx (?i)a\"b" \
    "id:941100,\
    phase:2,\
    block,\
    t:none,t:utf8toUnicode,\
    msg:'XSS Attack, detected',\
    tag:'paranoia-level/1',\
    severity:'CRITICAL',\
    chain"
    SecRule MATCHED_VARS "@pm x y" "t:lowercase"
SecMarker "END"
SecAction "id:1,pass,nolog"
"#;
        let d = directives(text);
        assert_eq!(d.len(), 4);
        let Directive::Rule {
            variables,
            operator,
            actions,
            line,
        } = &d[0]
        else {
            panic!("{d:?}")
        };
        assert_eq!(
            variables,
            "REQUEST_COOKIES|!REQUEST_COOKIES:/__utm/|ARGS_NAMES|ARGS"
        );
        assert_eq!(operator, "@rx (?i)a\"b");
        assert_eq!(*line, 3);
        assert!(actions.contains(&("msg".into(), "XSS Attack, detected".into())));
        assert!(actions.contains(&("tag".into(), "paranoia-level/1".into())));
        assert!(actions.contains(&("chain".into(), String::new())));
        assert_eq!(
            actions.iter().filter(|(k, _)| k == "t").count(),
            2,
            "{actions:?}"
        );
        assert!(matches!(d[2], Directive::Other));
        assert!(matches!(d[3], Directive::Action { .. }));
    }

    #[test]
    fn broken_input_never_panics() {
        for s in [
            "SecRule",
            "SecRule \"",
            "SecRule A \"@rx",
            "SecRule A B \"id:'x",
            "\\",
            "SecAction \"msg:'",
        ] {
            let _ = directives(s);
        }
    }
}
