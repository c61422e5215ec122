//! The shell's view of a command line: what `t:cmdLine` makes of a value, and more of
//! what the shell undoes before it runs a word.

use std::borrow::Cow;

/// The shell's view of a command line (CRS's `t:cmdLine`): backslashes, quotes and carets
/// removed, `,` as a space, whitespace runs as one space, no space before `/` or `(`, lower
/// case. Unlike CRS's `t:cmdLine`, `;` stays: rules look for it as a command separator, and
/// a line break becomes one (the shell ends a command there). `$IFS`, `${IFS}` and `$@`
/// (empty words to the shell) are removed too.
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
            .into()
    } else {
        s.into()
    };
    let s = if s.contains("```") {
        markdown_fences(&s).into()
    } else {
        s
    };
    if s.is_ascii() {
        return cmd_line_ascii(&s);
    }
    cmd_line_chars(&s)
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
    }
}
