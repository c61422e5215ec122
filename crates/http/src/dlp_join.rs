//! How DLP reads a stream of events as its client puts it together: the events' data
//! joined, and each string field of JSON events (a token stream's `delta.content`) joined
//! with the same field of the events before, so that a secret split across events is seen
//! whole ([`Joins`]); for event streams as they stream (`dlp_sse`) and for answers read
//! whole that are such streams under another label ([`joined_hits`]).

use portcullis_waf::dlp::Hit;

/// How much of the events before is scanned again with the next one.
const TAIL: usize = 512;

/// How far a secret that starts an event glued to the word before it is read again: longer
/// than any detector's secret but a PEM block's (which starts with `-----`, no word).
const GLUED_WINDOW: usize = 1024;

/// How many string fields of JSON events are joined, each apart.
const MAX_FIELDS: usize = 64;

/// The joined views of a stream of events: their data as it came, and each string field of
/// JSON events by its path ([`MAX_FIELDS`] of them apart, the others together).
#[derive(Default)]
pub(crate) struct Joins {
    data: Join,
    fields: Vec<(String, Join)>,
    overflow: Join,
}

impl Joins {
    /// Joins the next events' `data` and `fields` to the views, and returns each view that
    /// shows secrets across events that their own text did not (`known`).
    pub(crate) fn feed(
        &mut self,
        data: Vec<String>,
        fields: Vec<(String, Vec<String>)>,
        scanner: &portcullis_waf::dlp::Dlp,
        allow: &[String],
        known: &dyn Fn(&str) -> bool,
    ) -> Vec<(String, Vec<Hit>)> {
        let mut found = Vec::new();
        found.extend(self.data.feed(data, scanner, allow, known));
        for (path, parts) in fields {
            let join = match self.fields.iter().position(|(p, _)| *p == path) {
                Some(at) => self.fields.get_mut(at).map(|(_, j)| j),
                None if self.fields.len() < MAX_FIELDS => {
                    self.fields.push((path, Join::default()));
                    self.fields.last_mut().map(|(_, j)| j)
                }
                // A bounded number of fields: the ones beyond it are joined together.
                None => Some(&mut self.overflow),
            };
            if let Some(join) = join {
                found.extend(join.feed(parts, scanner, allow, known));
            }
        }
        found
    }
}

/// A whole answer that is a stream of events under another label (JSON lines served as
/// `application/json` or `text/plain`, as some model servers and SDK proxies do, or
/// server-sent events as `text/plain`), read as a client that puts it together does: the
/// secrets its events show joined and not within one, each view with its own. Text that
/// is not such a stream (one JSON document, pretty-printed or not; prose) gives none.
pub fn joined_hits(
    text: &str,
    scanner: &portcullis_waf::dlp::Dlp,
    allow: &[String],
    plain: &[Hit],
) -> Vec<(String, Vec<Hit>)> {
    let start = text.trim_start_matches(SPACE);
    let first = start.split('\n').next().unwrap_or_default();
    let events = ["data:", "event:", "id:", "retry:", ":"]
        .iter()
        .any(|f| first.starts_with(f));
    let (data, fields) = if events {
        if !text.trim_end().contains('\n') {
            return Vec::new();
        }
        event_data(text)
    } else {
        // JSON documents one after the other (a line each, indented or not, or none
        // between them), at least two of them, and their fields only: lines of prose or
        // one pretty-printed document are not pieces of one answer. One document alone is
        // the common answer: its end is found without building it.
        if !start.starts_with(['{', '[', '"']) {
            return Vec::new();
        }
        let mut one =
            serde_json::Deserializer::from_str(start).into_iter::<serde::de::IgnoredAny>();
        if !matches!(one.next(), Some(Ok(_)))
            || start
                .get(one.byte_offset()..)
                .unwrap_or_default()
                .trim_start_matches(SPACE)
                .is_empty()
        {
            return Vec::new();
        }
        let documents = json_values(start);
        if documents.len() < 2 {
            return Vec::new();
        }
        (Vec::new(), value_fields(documents))
    };
    let known = |secret: &str| plain.iter().any(|p| p.secret(text) == secret);
    Joins::default().feed(data, fields, scanner, allow, &known)
}

/// One joined view of the events: the end of what came before ([`TAIL`] bytes), and where
/// each event's part starts in it.
#[derive(Default)]
struct Join {
    tail: String,
    starts: Vec<usize>,
}

impl Join {
    /// Joins `parts` (one per event) to the view, and returns it with the secrets it shows
    /// across parts that the events' own text did not (`known`), if any.
    fn feed(
        &mut self,
        parts: Vec<String>,
        scanner: &portcullis_waf::dlp::Dlp,
        allow: &[String],
        known: &dyn Fn(&str) -> bool,
    ) -> Option<(String, Vec<Hit>)> {
        if parts.is_empty() {
            return None;
        }
        let carried = self.tail.len();
        let mut joined = std::mem::take(&mut self.tail);
        let mut starts = std::mem::take(&mut self.starts);
        for part in parts {
            starts.push(joined.len());
            joined.push_str(&part);
        }
        // A part that is a number of four digits or more, or digits with separators between
        // them (a row's id or code, a date, a price, a phone number), is a value of its
        // own, not a piece of a token stream (tokenisers cut numbers at three digits and
        // keep separators apart): numbers joined across rows are no card (black-box pass
        // 9, FP-1; pass 10, B10-4: dates and prices).
        let number_part = |h: &Hit| {
            starts.iter().enumerate().any(|(i, &at)| {
                let end = starts.get(i + 1).copied().unwrap_or(joined.len());
                at < h.end && end > h.start && own_value(joined.get(at..end).unwrap_or_default())
            })
        };
        let fresh = |h: &Hit| h.end > carried && !known(h.secret(&joined)) && !number_part(h);
        let mut across: Vec<Hit> = scanner
            .scan(&joined, allow)
            .into_iter()
            .filter(|h| fresh(h))
            .collect();
        // Joined, an event that starts a secret is glued to the word before it (`hello` +
        // `pcl_...`), and the detectors' word boundary no longer holds: from each such start
        // on, read again as a client that shows the events apart would: the next
        // [`GLUED_WINDOW`] bytes, as far as a secret that starts there reaches (the rest of
        // the view from each start was quadratic: a long answer of tiny events took
        // seconds).
        for &at in &starts {
            let glued = joined
                .get(..at)
                .and_then(|b| b.chars().next_back())
                .is_some_and(char::is_alphanumeric);
            if !glued {
                continue;
            }
            let mut end = (at + GLUED_WINDOW).min(joined.len());
            while !joined.is_char_boundary(end) {
                end -= 1;
            }
            let Some(rest) = joined.get(at..end) else {
                continue;
            };
            for h in scanner.scan(rest, allow) {
                let h = Hit {
                    start: h.start + at,
                    end: h.end + at,
                    ..h
                };
                if fresh(&h) && !across.iter().any(|a| a.start == h.start && a.end == h.end) {
                    across.push(h);
                }
            }
        }
        let mut from = joined.len().saturating_sub(TAIL);
        while !joined.is_char_boundary(from) {
            from += 1;
        }
        self.tail = joined.get(from..).unwrap_or_default().to_owned();
        self.starts = starts
            .into_iter()
            .filter(|&at| at >= from)
            .map(|at| at - from)
            .collect();
        (!across.is_empty()).then_some((joined, across))
    }
}

/// Whether `part` is a number that stands for itself: four digits or more without spaces,
/// digits with a separator between them (`2024-01-01`, `9.99`, `+1 555-0100`), or eight
/// digits or more grouped with spaces (a phone number, a code); and nothing else. Digits
/// cut with spaces into fewer are a token stream's pieces (`411`, `1 111`).
fn own_value(part: &str) -> bool {
    let p = part.trim().as_bytes();
    let numeric = |b: &u8| b.is_ascii_digit() || b" -./:,+()".contains(b);
    let digits = p.iter().filter(|b| b.is_ascii_digit()).count();
    let separated = p.windows(3).any(|w| {
        matches!(w, [a, s, b] if a.is_ascii_digit() && b"-./:,+()".contains(s) && b.is_ascii_digit())
    });
    let spaced = p.contains(&b' ');
    !p.is_empty() && p.iter().all(numeric) && (separated || digits >= 8 || (digits >= 4 && !spaced))
}

/// The data of each event in `text` (its `data:` fields' values, joined), as a client
/// that puts a streamed answer together reads them; and of the events whose data is JSON,
/// each string field by its path (`choices.0.delta.content`), one part per event.
pub(crate) fn event_data(text: &str) -> (Vec<String>, Vec<(String, Vec<String>)>) {
    let mut out = Vec::new();
    let mut data = String::new();
    let mut seen = false;
    let text = text.replace("\r\n", "\n");
    for line in text.split(['\n', '\r']) {
        // A stream may start with a BOM, which EventSource drops.
        let line = line.strip_prefix('\u{FEFF}').unwrap_or(line);
        if line.is_empty() {
            if seen {
                out.push(std::mem::take(&mut data));
                seen = false;
            }
            continue;
        }
        if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
            seen = true;
        }
    }
    if seen {
        out.push(data);
    }
    let fields = json_fields(&out);
    (out, fields)
}

/// The lines of a stream of JSON documents, one a line (a JSON text sequence's record
/// separators dropped), and each document's string fields by their paths.
pub(crate) fn line_data(text: &str) -> (Vec<String>, Vec<(String, Vec<String>)>) {
    let lines: Vec<String> = text
        .split('\n')
        .map(|l| l.trim_matches(SPACE))
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let fields = json_fields(&lines);
    (lines, fields)
}

/// Each string field of the JSON documents among `docs`, by its path, one part a document.
/// A doc may hold several documents one after the other (`{..}{..}`, as concatenated JSON
/// streams are written), each a part; a document that is a string is the field `""`.
fn json_fields(docs: &[String]) -> Vec<(String, Vec<String>)> {
    value_fields(docs.iter().flat_map(|d| json_values(d)))
}

/// Each string field of `values`, by its path, one part a value.
fn value_fields(values: impl IntoIterator<Item = serde_json::Value>) -> Vec<(String, Vec<String>)> {
    let mut fields: Vec<(String, Vec<String>)> = Vec::new();
    for value in values {
        let mut strings = Vec::new();
        string_fields(&value, &mut String::new(), 0, &mut strings);
        for (path, s) in strings {
            // Also with every array position as `*`: the elements of one array read in
            // order, as an SDK joins Gemini's `parts[].text`.
            let wild: String = path
                .split('.')
                .map(|c| {
                    if !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()) {
                        "*"
                    } else {
                        c
                    }
                })
                .collect::<Vec<_>>()
                .join(".");
            if wild != path {
                push_part(&mut fields, wild, s.clone());
            }
            push_part(&mut fields, path, s);
        }
    }
    fields
}

/// The JSON documents `data` starts with, one after the other (whitespace, record
/// separators and BOMs between them), up to the first that does not parse.
fn json_values(data: &str) -> Vec<serde_json::Value> {
    let data = data.trim_start_matches(SPACE);
    if !data.starts_with(['{', '[', '"']) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
        match values.next() {
            Some(Ok(value)) => out.push(value),
            _ => break,
        }
        rest = rest
            .get(values.byte_offset()..)
            .unwrap_or_default()
            .trim_start_matches(SPACE);
    }
    out
}

/// What separates JSON documents in a stream: whitespace, JSON text sequences' record
/// separator, and a BOM.
const SPACE: &[char] = &[' ', '\t', '\r', '\n', '\u{1E}', '\u{FEFF}'];

/// An element's `index` as clients read it: `0`, `0.0`, `-0.0`, `1e-400` and `"0"` are all
/// choice 0 to the JS and Python SDKs (black-box pass 9, A1-E).
fn index_of(v: &serde_json::Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    if let Some(s) = v.as_str() {
        return s.trim().parse().ok();
    }
    let f = v.as_f64()?;
    let f = if f == 0.0 { 0.0 } else { f };
    // Whole, and within what an index can be.
    (f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 1e15).then_some(f as u64)
}

fn push_part(fields: &mut Vec<(String, Vec<String>)>, path: String, s: String) {
    match fields.iter_mut().find(|(p, _)| *p == path) {
        Some((_, parts)) => parts.push(s),
        None => fields.push((path, vec![s])),
    }
}

/// The string values in `value`, each with its path (object keys and array positions, or
/// an element's own `index` as `#n`, joined with `.`), at most 16 levels deep.
fn string_fields(
    value: &serde_json::Value,
    path: &mut String,
    depth: usize,
    out: &mut Vec<(String, String)>,
) {
    use serde_json::Value;
    if depth > 16 {
        return;
    }
    let mut child = |key: &str, v: &Value, out: &mut Vec<(String, String)>| {
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
        string_fields(v, path, depth + 1, out);
        path.truncate(len);
    };
    match value {
        Value::String(s) => out.push((path.clone(), s.clone())),
        Value::Object(map) => {
            for (k, v) in map {
                child(k, v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                // An element that says which it is (`choices[].index`, `tool_calls[].index`:
                // OpenAI sends each of `n` choices at `choices[0]`) is joined by that.
                let key = v
                    .get("index")
                    .and_then(index_of)
                    .map_or_else(|| i.to_string(), |n| format!("#{n}"));
                child(&key, v, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dlp_sse::{Framing, framing};

    #[test]
    fn event_data_is_joined() {
        assert_eq!(
            event_data("event: x\ndata: pcl_ab\n\ndata:cd\r\nid: 1\r\n\r\n").0,
            ["pcl_ab", "cd"]
        );
        assert_eq!(event_data("\u{FEFF}data: ab\ndata: cd\n\n").0, ["abcd"]);
    }

    #[test]
    fn json_lines_are_joined_field_by_field() {
        let (lines, fields) = line_data(
            "{\"message\":{\"content\":\"pcl_\"}}\r\n\u{1E}{\"message\":{\"content\":\"ab\"}}\n\n",
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(
            fields,
            [(
                "message.content".to_owned(),
                vec!["pcl_".to_owned(), "ab".to_owned()]
            )]
        );
        assert_eq!(
            framing(Some("application/x-ndjson; charset=utf-8")),
            Some(Framing::Lines)
        );
        assert_eq!(framing(Some("text/event-stream")), Some(Framing::Events));
        assert_eq!(framing(Some("application/json")), None);
    }

    /// A whole answer of JSON lines or events under another label is read joined; one
    /// document, prose, and lines whose parts are numbers of their own are not.
    /// An event that starts a secret glued to the word before it is read apart, as far as
    /// a secret reaches: fifty thousand tiny events are read in a moment, not quadratically.
    #[test]
    fn glued_starts_are_read_apart() {
        let dlp = portcullis_waf::dlp::Dlp::builtin(&["aws_access_key".into()]).unwrap();
        let parts = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let found = Join::default()
            .feed(
                parts(&["hello", "AKIAIOSFODNN7EXAMPLE", " and more"]),
                &dlp,
                &[],
                &|_| false,
            )
            .map(|(view, hits)| {
                hits.iter()
                    .map(|h| h.secret(&view).to_owned())
                    .collect::<Vec<_>>()
            });
        assert_eq!(found, Some(vec!["AKIAIOSFODNN7EXAMPLE".to_owned()]));
        // Fifty thousand tiny events, each glued to the one before: nothing.
        let many = vec!["a".to_owned(); 50_000];
        assert!(Join::default().feed(many, &dlp, &[], &|_| false).is_none());
    }

    #[test]
    fn streams_under_other_labels_are_read_joined() {
        let dlp =
            portcullis_waf::dlp::Dlp::builtin(&["aws_access_key".into(), "card".into()]).unwrap();
        let found = |text: &str| {
            let plain = dlp.scan(text, &[]);
            joined_hits(text, &dlp, &[], &plain)
                .iter()
                .flat_map(|(view, hits)| hits.iter().map(|h| h.secret(view).to_owned()))
                .collect::<Vec<_>>()
        };
        let key = "AKIAIOSFODNN7EXAMPLE";
        let lines = format!(
            "{{\"m\":{{\"content\":\"key \"}}}}\n{{\"m\":{{\"content\":\"{}\"}}}}\n{{\"m\":{{\"content\":\"{}\"}}}}\n",
            &key[..8],
            &key[8..]
        );
        assert_eq!(found(&lines), [key]);
        let events = format!("data: {}\n\ndata: {}\n\n", &key[..8], &key[8..]);
        assert_eq!(found(&events), [key]);
        // Indented lines, documents with nothing between them, documents that are strings
        // (black-box pass 10, B10-3).
        let (a, b) = (&key[..8], &key[8..]);
        for shape in [
            format!(" {{\"t\": \"{a}\"}}\n\t{{\"t\": \"{b}\"}}\n"),
            format!("{{\"t\": \"{a}\"}}{{\"t\": \"{b}\"}}"),
            format!("{{\"t\": \"{a}\"}} {{\"t\": \"{b}\"}}"),
            format!("\"{a}\"\n\"{b}\"\n"),
        ] {
            assert_eq!(found(&shape), [key], "{shape}");
        }
        // Within one line it is the plain scan's, not a join's.
        assert!(found(&format!("{{\"a\":\"{key}\"}}\n{{\"a\":\"b\"}}\n")).is_empty());
        for benign in [
            "{\n  \"a\": \"AKIAIOSF\",\n  \"b\": \"ODNN7EXAMPLE\"\n}\n",
            "AKIAIOSF\nODNN7EXAMPLE\n",
            "{\"n\":\"4111\"}\n{\"n\":\"1111\"}\n{\"n\":\"1111\"}\n{\"n\":\"1111\"}\n",
            "{\"a\":\"AKIAIOSF\"}",
            // Columns of dates, prices and phone numbers (B10-4).
            "{\"date\":\"2024-01-01\"}\n{\"date\":\"2024-01-02\"}\n{\"date\":\"2024-01-03\"}\n{\"date\":\"2024-01-04\"}\n{\"date\":\"2024-01-05\"}\n",
            "{\"p\":\"4.11\"}\n{\"p\":\"1.11\"}\n{\"p\":\"1.11\"}\n{\"p\":\"1.11\"}\n{\"p\":\"1.11\"}\n{\"p\":\"1.11\"}\n",
            "{\"t\":\"411-11\"}\n{\"t\":\"111-11\"}\n{\"t\":\"111-11\"}\n{\"t\":\"111-11\"}\n",
        ] {
            assert!(found(benign).is_empty(), "{benign}");
        }
    }

    #[test]
    fn json_events_are_joined_field_by_field() {
        let text = concat!(
            "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"pcl_\"}}]}\n\n",
            "data: not json\n\n",
            "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"abc\"}}]}\n\n",
            "data: [DONE]\n\n",
        );
        let (_, mut fields) = event_data(text);
        // Keys come in document order or sorted, as serde_json's features have it.
        fields.sort();
        let parts = |fields: &[(String, Vec<String>)], path: &str| {
            fields
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, v)| v.join("|"))
        };
        assert_eq!(
            parts(&fields, "choices.0.delta.content").as_deref(),
            Some("pcl_|abc")
        );
        assert_eq!(
            parts(&fields, "choices.*.delta.content").as_deref(),
            Some("pcl_|abc")
        );
        assert_eq!(parts(&fields, "id").as_deref(), Some("c1|c1"));
        // OpenAI's `n` choices each come at `choices[0]` with their own `index`: joined by
        // that (black-box pass 8, A1).
        let text = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"pcl_\"}}]}\n\n",
            "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"zz\"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"abc\"}}]}\n\n",
        );
        let (_, fields) = event_data(text);
        assert_eq!(
            parts(&fields, "choices.#0.delta.content").as_deref(),
            Some("pcl_|abc")
        );
        assert_eq!(
            parts(&fields, "choices.#1.delta.content").as_deref(),
            Some("zz")
        );
        for zero in ["\"0\"", "0.0", "-0.0", "1e-400"] {
            assert_eq!(
                index_of(&serde_json::from_str(zero).unwrap()),
                Some(0),
                "{zero}"
            );
        }
        // Gemini's `parts[]` of one answer, read in order (A4).
        let text = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"pcl_\"},{\"text\":\"abc\"}]}}]}\n\n";
        let (_, fields) = event_data(text);
        assert_eq!(
            parts(&fields, "candidates.*.content.parts.*.text").as_deref(),
            Some("pcl_|abc")
        );
    }

    #[test]
    fn numbers_joined_across_rows_are_no_card() {
        let dlp = portcullis_waf::dlp::Dlp::builtin(&[]).unwrap();
        let parts = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        // Four-digit ids, row after row (black-box pass 9, FP-1): no card.
        let mut join = Join::default();
        assert!(
            join.feed(parts(&["4111", "1111", "1111", "1111"]), &dlp, &[], &|_| {
                false
            })
            .is_none()
        );
        // A card a tokeniser cut in three-digit pieces: found.
        let mut join = Join::default();
        let found = join.feed(
            parts(&["411", "1 111", "1 11", "11 1111"]),
            &dlp,
            &[],
            &|_| false,
        );
        assert!(found.is_some_and(|(_, hits)| hits.iter().any(|h| h.detector == "card")));
    }
}
