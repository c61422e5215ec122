//! The compliance report as a standalone HTML page (no script, inline SVG charts) and as a
//! PDF written by hand (PDF 1.4: Helvetica text and filled rectangles; nothing else is
//! needed, so no PDF library is worth its build time).

use crate::service::report::{Bar, Report, Status};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn svg_bars(title: &str, bars: &[Bar]) -> String {
    let mut out = format!(
        r#"<figure><figcaption>{}</figcaption><svg viewBox="0 0 520 {}" role="img" aria-label="{}">"#,
        esc(title),
        24 * bars.len().max(1) + 8,
        esc(title)
    );
    for (i, b) in bars.iter().enumerate() {
        let y = 8 + i * 24;
        let w = if b.of == 0 {
            0.0
        } else {
            300.0 * b.value as f64 / b.of as f64
        };
        out.push_str(&format!(
            r##"<text x="0" y="{}" font-size="12">{}</text><rect x="200" y="{}" width="300" height="16" fill="#e5e7eb"/><rect x="200" y="{}" width="{w:.1}" height="16" fill="#2563eb"/><text x="505" y="{}" font-size="12" text-anchor="end">{}/{}</text>"##,
            y + 12,
            esc(&b.label),
            y,
            y,
            y + 12,
            b.value,
            b.of
        ));
    }
    if bars.is_empty() {
        out.push_str(r#"<text x="0" y="20" font-size="12">none</text>"#);
    }
    out.push_str("</svg></figure>");
    out
}

/// The report as one self-contained HTML page.
pub fn html(r: &Report) -> String {
    let mut rows = String::new();
    for c in &r.controls {
        let class = match c.status {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::NoEvidence => "none",
        };
        rows.push_str(&format!(
            r#"<tr><th scope="row">{}</th><td>{}</td><td class="{class}">{}</td><td><ul>{}</ul></td></tr>"#,
            esc(&c.title),
            esc(&c.refs.join(", ")),
            c.status.label(),
            c.evidence
                .iter()
                .map(|e| format!("<li>{}</li>", esc(e)))
                .collect::<String>()
        ));
    }
    let count = |s: Status| r.controls.iter().filter(|c| c.status == s).count();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Portcullis compliance report</title>
<style>body{{font:14px/1.5 system-ui,sans-serif;margin:2rem;color:#111}}table{{border-collapse:collapse;width:100%}}
th,td{{border:1px solid #ccc;padding:.4rem;text-align:left;vertical-align:top}}td.pass{{color:#166534;font-weight:700}}
td.fail{{color:#b91c1c;font-weight:700}}td.none{{color:#92400e;font-weight:700}}figure{{margin:1rem 0;max-width:40rem}}
pre{{background:#f3f4f6;padding:.5rem;overflow-x:auto}}</style></head>
<body><h1>Compliance report</h1>
<p>Measured on <strong>{issuer}</strong> at {at}. SOC 2 (CC6, CC7), ISO/IEC 27001:2022 Annex A, PCI DSS 4.0 (requirements 3, 7, 8, 10).</p>
<p id="summary">{pass} controls pass, {fail} fail, {none} without evidence.</p>
{mfa}{alerts}
<table><thead><tr><th scope="col">Control</th><th scope="col">Maps to</th><th scope="col">Result</th><th scope="col">Evidence</th></tr></thead><tbody>{rows}</tbody></table>
<h2>Signed audit checkpoint</h2><pre>{cp}</pre>
</body></html>"#,
        issuer = esc(&r.issuer),
        at = esc(&r.generated_at),
        pass = count(Status::Pass),
        fail = count(Status::Fail),
        none = count(Status::NoEvidence),
        mfa = svg_bars("Second-factor coverage by role", &r.mfa_chart),
        alerts = svg_bars("Open alerts by severity", &r.alerts_chart),
        cp = esc(r.checkpoint.as_deref().unwrap_or("no checkpoint yet")),
    )
}

/// A PDF page being drawn (points; origin bottom left; A4).
struct Canvas {
    pages: Vec<String>,
    ops: String,
    y: f64,
}

const W: f64 = 595.0;
const H: f64 = 842.0;
const MARGIN: f64 = 50.0;

/// Text as a PDF string literal in WinAnsi: ASCII kept, anything else a `?`.
fn pdf_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('(');
    for c in s.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            '\u{2014}' | '\u{2013}' => out.push('-'),
            _ => out.push('?'),
        }
    }
    out.push(')');
    out
}

impl Canvas {
    fn new() -> Self {
        Self {
            pages: Vec::new(),
            ops: String::new(),
            y: H - MARGIN,
        }
    }

    fn room(&mut self, need: f64) {
        if self.y - need < MARGIN {
            self.pages.push(std::mem::take(&mut self.ops));
            self.y = H - MARGIN;
        }
    }

    fn text(&mut self, x: f64, size: f64, bold: bool, s: &str) {
        self.ops.push_str(&format!(
            "BT /{} {size} Tf {x:.1} {:.1} Td {} Tj ET\n",
            if bold { "F2" } else { "F1" },
            self.y,
            pdf_str(s)
        ));
    }

    /// Writes `s` wrapped to the width, a line at a time.
    fn para(&mut self, x: f64, size: f64, bold: bool, s: &str) {
        let per_line = ((W - MARGIN - x) / (size * 0.5)).max(20.0) as usize;
        let mut line = String::new();
        for word in s.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > per_line {
                self.room(size * 1.4);
                self.text(x, size, bold, &line);
                self.y -= size * 1.4;
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            self.room(size * 1.4);
            self.text(x, size, bold, &line);
            self.y -= size * 1.4;
        }
    }

    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, rgb: (f64, f64, f64)) {
        self.ops.push_str(&format!(
            "{:.2} {:.2} {:.2} rg {x:.1} {y:.1} {w:.1} {h:.1} re f\n",
            rgb.0, rgb.1, rgb.2
        ));
    }

    fn bars(&mut self, title: &str, bars: &[Bar]) {
        self.room(20.0 + 18.0 * bars.len() as f64);
        self.para(MARGIN, 12.0, true, title);
        for b in bars {
            self.text(MARGIN, 9.0, false, &b.label);
            self.rect(250.0, self.y - 2.0, 250.0, 10.0, (0.9, 0.91, 0.92));
            let w = if b.of == 0 {
                0.0
            } else {
                250.0 * b.value as f64 / b.of as f64
            };
            self.rect(250.0, self.y - 2.0, w, 10.0, (0.15, 0.39, 0.92));
            self.ops.push_str("0 0 0 rg\n");
            self.text(510.0, 9.0, false, &format!("{}/{}", b.value, b.of));
            self.y -= 16.0;
        }
        self.y -= 8.0;
    }
}

/// The report as a PDF document.
pub fn pdf(r: &Report) -> Vec<u8> {
    let mut c = Canvas::new();
    c.para(MARGIN, 20.0, true, "Compliance report");
    c.para(
        MARGIN,
        10.0,
        false,
        &format!("Measured on {} at {}.", r.issuer, r.generated_at),
    );
    c.para(
        MARGIN,
        10.0,
        false,
        "SOC 2 (CC6, CC7), ISO/IEC 27001:2022 Annex A, PCI DSS 4.0 (requirements 3, 7, 8, 10).",
    );
    let count = |s: Status| r.controls.iter().filter(|c| c.status == s).count();
    c.para(
        MARGIN,
        11.0,
        true,
        &format!(
            "{} controls pass, {} fail, {} without evidence.",
            count(Status::Pass),
            count(Status::Fail),
            count(Status::NoEvidence)
        ),
    );
    c.y -= 8.0;
    c.bars("Second-factor coverage by role", &r.mfa_chart);
    c.bars("Open alerts by severity", &r.alerts_chart);
    for ctl in &r.controls {
        c.room(60.0);
        let colour = match ctl.status {
            Status::Pass => (0.09, 0.4, 0.2),
            Status::Fail => (0.73, 0.11, 0.11),
            Status::NoEvidence => (0.57, 0.25, 0.05),
        };
        c.rect(MARGIN, c.y - 3.0, 70.0, 14.0, colour);
        c.ops.push_str("1 1 1 rg\n");
        c.text(MARGIN + 4.0, 9.0, true, &ctl.status.label().to_uppercase());
        c.ops.push_str("0 0 0 rg\n");
        c.para(MARGIN + 80.0, 11.0, true, &ctl.title);
        c.para(MARGIN + 80.0, 8.0, false, &ctl.refs.join(", "));
        for e in &ctl.evidence {
            c.para(MARGIN + 90.0, 9.0, false, &format!("- {e}"));
        }
        c.y -= 6.0;
    }
    if let Some(cp) = &r.checkpoint {
        c.room(80.0);
        c.para(MARGIN, 12.0, true, "Signed audit checkpoint");
        for line in cp.lines() {
            c.para(MARGIN, 8.0, false, line);
        }
    }
    c.pages.push(std::mem::take(&mut c.ops));
    write_pdf(&c.pages)
}

fn write_pdf(pages: &[String]) -> Vec<u8> {
    // Objects: 1 catalog, 2 pages, 3 Helvetica, 4 Helvetica-Bold, then per page: the page
    // and its content stream.
    let mut objs: Vec<String> = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".into(),
        String::new(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".into(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
            .into(),
    ];
    let mut kids = Vec::new();
    for content in pages {
        let page_id = objs.len() + 1;
        kids.push(format!("{page_id} 0 R"));
        objs.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {W} {H}] /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {} 0 R >>",
            page_id + 1
        ));
        objs.push(format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        ));
    }
    if let Some(o) = objs.get_mut(1) {
        *o = format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            pages.len()
        );
    }
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes());
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::report::Control;

    fn sample() -> Report {
        Report {
            generated_at: "2026-12-06T00:00:00Z".into(),
            issuer: "https://id.example".into(),
            controls: (0..30)
                .map(|i| Control {
                    title: format!("Control <{i}> (with parens) \\ and \u{e9}"),
                    refs: vec!["PCI DSS 8.4.1"],
                    status: if i % 3 == 0 {
                        Status::Pass
                    } else if i % 3 == 1 {
                        Status::Fail
                    } else {
                        Status::NoEvidence
                    },
                    evidence: vec!["a fairly long line of evidence that will need to wrap across the width of the page at least once or twice".into()],
                })
                .collect(),
            mfa_chart: vec![Bar {
                label: "admins".into(),
                value: 1,
                of: 2,
            }],
            alerts_chart: Vec::new(),
            checkpoint: Some("origin\n1\nroot=\n\n\u{2014} origin sig\n".into()),
        }
    }

    #[test]
    fn html_escapes_everything_shown() {
        let h = html(&sample());
        assert!(h.contains("Control &lt;0&gt;"));
        assert!(!h.contains("<0>"));
        assert!(h.contains("10 controls pass, 10 fail, 10 without evidence."));
    }

    #[test]
    fn the_pdf_is_well_formed_with_a_correct_xref() {
        let p = pdf(&sample());
        let text = String::from_utf8_lossy(&p);
        assert!(text.starts_with("%PDF-1.4"));
        assert!(text.ends_with("%%EOF\n"));
        // Several pages, each object where the cross-reference table says it is.
        let count: usize = text
            .split("/Count ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert!(count >= 2, "{count} pages");
        // Offsets are bytes (the header's binary comment is not UTF-8): read them as bytes.
        let tail = std::str::from_utf8(&p[p.len() - 40..]).unwrap();
        let xref_at: usize = tail
            .rsplit("startxref\n")
            .next()
            .and_then(|s| s.lines().next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        let table = std::str::from_utf8(&p[xref_at..]).unwrap();
        assert!(table.starts_with("xref"));
        for (i, line) in table.lines().skip(3).take(5).enumerate() {
            let off: usize = line[..10].parse().unwrap();
            assert!(
                p[off..].starts_with(format!("{} 0 obj", i + 1).as_bytes()),
                "object {}",
                i + 1
            );
        }
        // Parentheses and backslashes are escaped, non-ASCII replaced.
        assert!(text.contains("\\(with parens\\) \\\\ and ?"));
    }
}
