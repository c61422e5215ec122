//! Uploaded files scanned by ClamAV (`clamd_address`): each file part of a multipart body is
//! streamed to clamd, and what it says becomes a finding of the request's report. (Split
//! from `waf.rs`.)

use axum::http::request::Parts;
use portcullis_waf::Report;

use crate::waf::{REDACTED_NAME, plain_name};

/// Each file of a multipart body, scanned by clamd: a signature is finding 922500 (critical),
/// no clear answer is finding 922510 (critical: an upload that could not be scanned does not
/// pass a blocking WAF).
pub(crate) async fn scan_uploads(
    addr: &str,
    parts: &Parts,
    body: &[u8],
    threshold: u32,
    report: &mut Report,
) {
    let ct = parts
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !ct.starts_with("multipart/form-data") {
        return;
    }
    let Some(files) = portcullis_waf::multipart::boundary(&ct)
        .and_then(|b| portcullis_waf::multipart::parse(body, &b))
    else {
        return;
    };
    for f in files.iter().filter(|p| p.filename.is_some()) {
        let name = f.name.as_deref().unwrap_or("");
        let place = format!(
            "FILES:{}",
            if plain_name(name) {
                name
            } else {
                REDACTED_NAME
            }
        );
        let (rule, msg, place) =
            match crate::clamd::scan(addr, &f.body, std::time::Duration::from_secs(10)).await {
                crate::clamd::Verdict::Clean => continue,
                crate::clamd::Verdict::Found(sig) => (
                    922500,
                    "Malware in an uploaded file (clamd)",
                    format!("{place} ({sig})"),
                ),
                crate::clamd::Verdict::Unavailable(why) => {
                    tracing::error!(error = %why, "an uploaded file could not be scanned");
                    (
                        922510,
                        "An uploaded file could not be scanned (clamd unavailable)",
                        place,
                    )
                }
            };
        report.add_external(
            portcullis_waf::Finding {
                rule,
                category: "malware",
                paranoia: 1,
                severity: portcullis_waf::Severity::Critical,
                msg: msg.into(),
                locations: vec![place],
                counted: true,
            },
            threshold,
        );
    }
}
