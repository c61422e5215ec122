//! A client of ClamAV's daemon for uploaded files: `zINSTREAM` over TCP or a Unix socket
//! (the stream in chunks, each with its 4-byte big-endian length, then a zero length), and
//! its one-line verdict. Anything but a clear answer within the deadline is `Unavailable`,
//! which inspection treats as a finding (fail closed), never as clean.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// What clamd said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No signature matched.
    Clean,
    /// A signature matched: its name.
    Found(String),
    /// No clear answer: why.
    Unavailable(String),
}

/// Chunk size of the stream.
const CHUNK: usize = 64 * 1024;

/// Scans `data` with the clamd at `address` (`host:port` or `unix:/path`).
pub async fn scan(address: &str, data: &[u8], deadline: Duration) -> Verdict {
    let run = async {
        if let Some(path) = address.strip_prefix("unix:") {
            let s = tokio::net::UnixStream::connect(path)
                .await
                .map_err(|e| format!("connect {address}: {e}"))?;
            exchange(s, data).await
        } else {
            let s = tokio::net::TcpStream::connect(address)
                .await
                .map_err(|e| format!("connect {address}: {e}"))?;
            exchange(s, data).await
        }
    };
    match tokio::time::timeout(deadline, run).await {
        Ok(Ok(reply)) => parse(&reply),
        Ok(Err(e)) => Verdict::Unavailable(e),
        Err(_) => Verdict::Unavailable(format!("no answer from {address} within {deadline:?}")),
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    data: &[u8],
) -> Result<String, String> {
    let io = |e: std::io::Error| e.to_string();
    s.write_all(b"zINSTREAM\0").await.map_err(io)?;
    for chunk in data.chunks(CHUNK) {
        let len = u32::try_from(chunk.len()).map_err(|e| e.to_string())?;
        s.write_all(&len.to_be_bytes()).await.map_err(io)?;
        s.write_all(chunk).await.map_err(io)?;
    }
    s.write_all(&0u32.to_be_bytes()).await.map_err(io)?;
    s.flush().await.map_err(io)?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = s.read(&mut buf).await.map_err(io)?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(buf.get(..n).unwrap_or_default());
        if reply.contains(&0) || reply.len() > 4096 {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&reply)
        .trim_end_matches(['\0', '\n'])
        .to_owned())
}

/// `stream: OK`, `stream: <signature> FOUND`, or an error line.
fn parse(reply: &str) -> Verdict {
    let body = reply.strip_prefix("stream:").map(str::trim);
    match body {
        Some("OK") => Verdict::Clean,
        Some(b) if b.ends_with(" FOUND") => {
            Verdict::Found(b.trim_end_matches(" FOUND").trim().to_owned())
        }
        _ => Verdict::Unavailable(format!("clamd answered {reply:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_read_strictly() {
        assert_eq!(parse("stream: OK"), Verdict::Clean);
        assert_eq!(
            parse("stream: Eicar-Test-Signature FOUND"),
            Verdict::Found("Eicar-Test-Signature".into())
        );
        assert!(matches!(
            parse("INSTREAM size limit exceeded. ERROR"),
            Verdict::Unavailable(_)
        ));
        assert!(matches!(parse(""), Verdict::Unavailable(_)));
    }

    #[tokio::test]
    async fn an_unreachable_daemon_is_unavailable_not_clean() {
        let v = scan("127.0.0.1:1", b"data", Duration::from_secs(2)).await;
        assert!(matches!(v, Verdict::Unavailable(_)), "{v:?}");
    }
}
