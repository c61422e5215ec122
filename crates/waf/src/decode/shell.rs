//! The shell's view of a command line: what `t:cmdLine` makes of a value, and more of
//! what the shell undoes before it runs a word.

use std::borrow::Cow;

/// The shell's view of a command line (CRS's `t:cmdLine`): backslashes, quotes and carets
/// removed, `,` as a space, whitespace runs as one space, no space before `/` or `(`, lower
/// case. Unlike CRS's `t:cmdLine`, `;` stays: rules look for it as a command separator, and
/// a line break becomes one (the shell ends a command there). `$IFS`, `${IFS}`, `$@`, `$()`
/// and two backticks (empty words to the shell) are removed too, and bash's ANSI-C quoting
/// is read as what it spells (`$'\x69\x64'` is `id`).
pub fn cmd_line(s: &str) -> Cow<'_, str> {
    // Nothing the shell's view changes: ASCII, lower case, single spaces, none of the
    // characters removed or replaced, no space before `/` or `(`.
    if s.is_ascii()
        && !s.contains("  ")
        && !s.contains(" /")
        && !s.contains(" (")
        && !s.bytes().any(|b| {
            b.is_ascii_uppercase()
                || matches!(b, b'$' | b'\\' | b'"' | b'\'' | b'^' | b',' | b'`')
                || b != b' ' && (b.is_ascii_whitespace() || b == 0x0b)
        })
    {
        return Cow::Borrowed(s);
    }
    Cow::Owned(cmd_line_always(s))
}

/// [`cmd_line`] without its shortcut for values it leaves as they are.
pub(super) fn cmd_line_always(s: &str) -> String {
    let s: std::borrow::Cow<'_, str> = if s.contains('$') {
        s.replace("${ifs}", " ")
            .replace("${IFS}", " ")
            .replace("$IFS", " ")
            .replace("$ifs", " ")
            .replace("$@", "")
            .replace("$()", "")
            // `$"..."`: a string the locale translates, to the shell as it is.
            .replace("$\"", "\"")
            .into()
    } else {
        s.into()
    };
    let s = if s.contains("$'") {
        ansi_c_quotes(&s).into()
    } else {
        s
    };
    let s = if s.contains("```") {
        markdown_fences(&s).into()
    } else {
        s
    };
    // Two backticks: an empty command substitution (three or more were a code fence).
    let s = if s.contains("``") {
        s.replace("``", "").into()
    } else {
        s
    };
    if s.is_ascii() {
        return cmd_line_ascii(&s);
    }
    cmd_line_chars(&s)
}

/// Each `$'...'` (bash's ANSI-C quoting) as the text it spells, without its quotes:
/// `\xHH`, `\uHHHH`, `\UHHHHHHHH` and octal `\NNN` as their characters, `\n` and `\t`
/// as spaces, `\'` as a quote, other escapes as the character escaped. An unclosed one
/// reads to the end. (Its quotes gone, the other quotes are removed as ever.)
fn ansi_c_quotes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' || chars.peek() != Some(&'\'') {
            out.push(c);
            continue;
        }
        chars.next();
        while let Some(c) = chars.next() {
            match c {
                '\'' => break,
                '\\' => match chars.next() {
                    Some(e @ ('x' | 'u' | 'U')) => {
                        let max = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut code = 0u32;
                        let mut digits = 0;
                        while digits < max
                            && let Some(d) = chars.peek().and_then(|d| d.to_digit(16))
                        {
                            code = code * 16 + d;
                            digits += 1;
                            chars.next();
                        }
                        if digits == 0 {
                            out.push(e);
                        } else {
                            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                        }
                    }
                    Some(d @ '0'..='7') => {
                        let mut code = d.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            match chars.peek().and_then(|d| d.to_digit(8)) {
                                Some(d) => {
                                    code = code * 8 + d;
                                    chars.next();
                                }
                                None => break,
                            }
                        }
                        out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                    }
                    Some('n' | 't' | 'r' | 'v' | 'f') => out.push(' '),
                    Some(other) => out.push(other),
                    None => {}
                },
                c => out.push(c),
            }
        }
    }
    out
}

/// Runs of three or more backticks, with the info string after them (` ```bash `), as a
/// space: a Markdown code fence, which ordinary text holds and the shell has no use for.
/// (A backtick alone or two stay: command substitution.)
fn markdown_fences(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '`' {
            out.push(c);
            continue;
        }
        let mut run = 1;
        while chars.next_if_eq(&'`').is_some() {
            run += 1;
        }
        if run < 3 {
            out.extend(std::iter::repeat_n('`', run));
            continue;
        }
        while chars
            .next_if(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
            .is_some()
        {}
        out.push(' ');
    }
    out
}

/// [`cmd_line_always`] on ASCII, a byte at a time (most values; the same result as
/// [`cmd_line_chars`], which the tests check).
pub(super) fn cmd_line_ascii(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'\\' | b'"' | b'\'' | b'^' => {}
            // A line break ends a command as `;` does.
            b'\n' | b'\r' => push_separator(&mut out),
            // `char::is_whitespace` on ASCII: tab to carriage return, and space.
            b',' | b'\t'..=b'\r' | b' ' => push_space(&mut out),
            b'/' | b'(' => {
                if out.ends_with(' ') {
                    out.pop();
                }
                out.push(char::from(b));
            }
            b => out.push(char::from(b.to_ascii_lowercase())),
        }
    }
    out
}

/// [`cmd_line_always`] on any text.
pub(super) fn cmd_line_chars(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '"' | '\'' | '^' => {}
            '\n' | '\r' => push_separator(&mut out),
            ',' => push_space(&mut out),
            c if c.is_whitespace() => push_space(&mut out),
            '/' | '(' => {
                if out.ends_with(' ') {
                    out.pop();
                }
                out.push(c);
            }
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// A line break, to the shell: the end of a command (`;`), after which spaces are skipped.
fn push_separator(out: &mut String) {
    if out.ends_with(' ') {
        out.pop();
    }
    if !out.ends_with(';') {
        out.push(';');
    }
}

fn push_space(out: &mut String) {
    if !out.ends_with(' ') {
        out.push(' ');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_fold_as_the_shell_reads_them() {
        assert_eq!(cmd_line("c\\a\"t /et'c'/pa''sswd"), "cat/etc/passwd");
        assert_eq!(cmd_line("cat${IFS}/etc/passwd"), "cat/etc/passwd");
        assert_eq!(cmd_line("w^h^o^a^m^i"), "whoami");
        assert_eq!(cmd_line("ls;id"), "ls;id");
        assert_eq!(cmd_line("a,b"), "a b");
        // ANSI-C quoting and empty substitutions (what CRS's t:cmdLine leaves).
        assert_eq!(cmd_line(";$'\\x69\\x64'"), ";id");
        assert_eq!(cmd_line(";$'\\151\\144' -a"), ";id -a");
        assert_eq!(cmd_line("$'\\u0063at' /etc/passwd"), "cat/etc/passwd");
        assert_eq!(cmd_line("$'c\\'a't"), "cat");
        assert_eq!(cmd_line("who$()ami"), "whoami");
        assert_eq!(cmd_line("who``ami"), "whoami");
        assert_eq!(cmd_line("w$''h$\"\"oami"), "whoami");
        assert_eq!(cmd_line("```bash\nls\n```"), ";ls; ");
        // Unclosed, or escapes cut short: read to the end, no panic.
        for s in ["$'", "$'\\", "$'\\x", "$'\\u{", "$'\\U110000", "$'\\777"] {
            let _ = cmd_line(s);
        }
    }
}
