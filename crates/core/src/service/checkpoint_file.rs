//! A checkpoint as a user keeps it in a file, checked against the log in the database.

use super::Services;
use crate::error::Result;
use crate::tlog::{Checkpoint, NoteVerifier};

/// A checkpoint file as saved from `portcullis audit checkpoint` or
/// `GET /api/v1/audit/checkpoint`: the verifier key from a leading `verifier key: ...` line
/// (as the command prints it), and the signed note itself. CRLF line ends and blank lines
/// around the note are tolerated (they are not part of what is signed).
pub fn parse_checkpoint_file(text: &str) -> (Option<String>, String) {
    let text = text.replace("\r\n", "\n");
    let (key, note) = match text.strip_prefix("verifier key:") {
        Some(rest) => {
            let (k, n) = rest.split_once('\n').unwrap_or((rest, ""));
            (Some(k.trim().to_owned()), n)
        }
        None => (None, text.as_str()),
    };
    let note = note.trim_start_matches('\n').trim_end_matches('\n');
    (key, format!("{note}\n"))
}

impl Services {
    /// Checks a signed checkpoint against this log: signed by `verifier_key` (default: this
    /// log's key), of this log's origin, and its root is the root of the first `size`
    /// entries here. `Ok(Err(why))` when it does not hold; `Ok(Ok(size))` when it does.
    pub async fn check_checkpoint(
        &self,
        note: &str,
        verifier_key: Option<&str>,
    ) -> Result<std::result::Result<u64, String>> {
        let key = verifier_key.map_or_else(|| self.checkpoint_verifier_key(), str::to_owned);
        let verifier = match NoteVerifier::parse(&key) {
            Ok(v) => v,
            Err(e) => return Ok(Err(format!("public key: {e}"))),
        };
        let body = match verifier.open(note) {
            Ok(b) => b,
            Err(e) => return Ok(Err(format!("checkpoint: {e}"))),
        };
        let Some(cp) = Checkpoint::parse_body(body) else {
            return Ok(Err("checkpoint: malformed body".into()));
        };
        if cp.origin != self.settings.audit.origin {
            return Ok(Err(format!(
                "the checkpoint is of the log `{}`, this one is `{}`",
                cp.origin, self.settings.audit.origin
            )));
        }
        let size = self.tlog_catch_up().await?;
        if cp.size > size {
            return Ok(Err(format!(
                "the checkpoint covers {} entries but the log has {size}: entries were removed",
                cp.size
            )));
        }
        let here = self.audit_consistency_proof(cp.size, None).await?.from_root;
        if here != hex::encode(cp.root) {
            return Ok(Err(format!(
                "the root of the first {} entries is not the checkpoint's: the log was rewritten",
                cp.size
            )));
        }
        Ok(Ok(cp.size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_form_and_the_bare_note_read_alike() {
        let note = "example.com/log\n3\nAAAA\n\n\u{2014} example.com/log abcd\n";
        let printed = format!("verifier key: example.com/log+01234567+AQID\n{note}");
        let (key, n) = parse_checkpoint_file(&printed);
        assert_eq!(key.as_deref(), Some("example.com/log+01234567+AQID"));
        assert_eq!(n, note);
        assert_eq!(parse_checkpoint_file(note), (None, note.to_owned()));
        let crlf = format!("{}\r\n\r\n", note.trim_end().replace('\n', "\r\n"));
        assert_eq!(parse_checkpoint_file(&crlf).1, note);
    }
}
