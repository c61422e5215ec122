//! CRS's transformations (`t:lowercase`, `t:urlDecodeUni`, `t:cmdLine`, ...), applied to
//! a value before a rule's operator looks at it.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transform {
    Lower,
    UrlDecode,
    Html,
    Js,
    CmdLine,
    Compress,
    RemoveWs,
    RemoveNulls,
    ReplaceNulls,
    ReplaceComments,
    RemoveCommentChars,
    NormalizePath,
    NormalizePathWin,
    Trim,
    Base64,
}

pub(super) fn transform(name: &str) -> Result<Option<Transform>, String> {
    use Transform::*;
    Ok(Some(match name {
        "none" | "utf8toUnicode" | "" => return Ok(None),
        "lowercase" => Lower,
        "urlDecode" | "urlDecodeUni" => UrlDecode,
        "htmlEntityDecode" => Html,
        "jsDecode" | "cssDecode" | "escapeSeqDecode" => Js,
        "cmdLine" => CmdLine,
        "compressWhitespace" => Compress,
        "removeWhitespace" => RemoveWs,
        "removeNulls" => RemoveNulls,
        "replaceNulls" => ReplaceNulls,
        "replaceComments" => ReplaceComments,
        "removeCommentsChar" | "removeComments" => RemoveCommentChars,
        "normalizePath" | "normalisePath" => NormalizePath,
        "normalizePathWin" | "normalisePathWin" => NormalizePathWin,
        "trim" | "trimLeft" | "trimRight" => Trim,
        "base64Decode" | "base64decode" => Base64,
        other => return Err(format!("transformation {other}")),
    }))
}

pub(super) fn apply(t: Transform, v: &str) -> String {
    use Transform::*;
    match t {
        Lower => v.to_lowercase(),
        UrlDecode => crate::decode::url_decode(v, false).into_owned(),
        Html => crate::decode::html_entities(v).into_owned(),
        Js => crate::decode::js_escapes(v).into_owned(),
        CmdLine => crate::decode::cmd_line(v).into_owned(),
        Compress => v.split_whitespace().collect::<Vec<_>>().join(" "),
        RemoveWs => v.chars().filter(|c| !c.is_whitespace()).collect(),
        RemoveNulls => v.replace('\0', ""),
        ReplaceNulls => v.replace('\0', " "),
        ReplaceComments => {
            let mut out = String::with_capacity(v.len());
            let mut rest = v;
            while let Some(i) = rest.find("/*") {
                out.push_str(rest.get(..i).unwrap_or_default());
                out.push(' ');
                rest = match rest.get(i + 2..).and_then(|r| r.find("*/").map(|j| (r, j))) {
                    Some((r, j)) => r.get(j + 2..).unwrap_or_default(),
                    None => "",
                };
            }
            out.push_str(rest);
            out
        }
        RemoveCommentChars => v
            .replace("/*", "")
            .replace("*/", "")
            .replace("--", "")
            .replace('#', ""),
        NormalizePath => normalize_path(v),
        NormalizePathWin => normalize_path(&v.replace('\\', "/")),
        Trim => v.trim().to_owned(),
        Base64 => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        }
    }
}

/// `a/./b//c/../d` as `a/b/d` (ModSecurity's normalizePath: a leading `..` is kept).
pub(super) fn normalize_path(v: &str) -> String {
    let absolute = v.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in v.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let mut out = if absolute {
        String::from("/")
    } else {
        String::new()
    };
    out.push_str(&parts.join("/"));
    if v.ends_with('/') && !out.ends_with('/') {
        out.push('/');
    }
    out
}
