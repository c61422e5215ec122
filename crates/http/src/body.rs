//! Reading the first bytes of a body (for inspection) and sending the whole of it on: the
//! gateway's inspectors and the WAF on both sides use these.

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;

/// Up to `limit` bytes of `body`: those bytes, whether that was all of it, and the rest
/// (still to be read) when it was not.
pub async fn read_up_to(
    mut body: Body,
    limit: usize,
) -> Result<(Bytes, bool, Option<Body>), axum::Error> {
    let mut buf = Vec::new();
    loop {
        if buf.len() >= limit {
            // Over the limit: what was read, then the rest as it comes.
            let extra = buf.split_off(limit);
            let rest = if !extra.is_empty() {
                rejoin(Bytes::from(extra), Some(body))
            } else {
                // Exactly the limit so far: over it only if more comes (black-box pass 13,
                // B13-4: a body of exactly the limit was refused as over it).
                match next_data(&mut body).await? {
                    None => return Ok((Bytes::from(buf), true, None)),
                    Some(more) => rejoin(more, Some(body)),
                }
            };
            return Ok((Bytes::from(buf), false, Some(rest)));
        }
        match body.frame().await {
            None => return Ok((Bytes::from(buf), true, None)),
            Some(Err(e)) => return Err(e),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => buf.extend_from_slice(&data),
                // Trailers end the data; a body with trailers is passed on without them
                // only when an inspector asked to read it.
                Err(_) => return Ok((Bytes::from(buf), true, None)),
            },
        }
    }
}

/// The body's next data (`None` at its end, or at trailers, which end the data); empty
/// data frames are skipped.
async fn next_data(body: &mut Body) -> Result<Option<Bytes>, axum::Error> {
    if axum::body::HttpBody::is_end_stream(body) {
        return Ok(None);
    }
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(e),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) if data.is_empty() => {}
                Ok(data) => return Ok(Some(data)),
                Err(_) => return Ok(None),
            },
        }
    }
}

/// `head` followed by `rest`.
pub fn rejoin(head: Bytes, rest: Option<Body>) -> Body {
    match rest {
        None => Body::from(head),
        Some(rest) => Body::new(Prefixed {
            head: Some(head),
            rest,
        }),
    }
}

/// A body whose first bytes were already read.
struct Prefixed {
    head: Option<Bytes>,
    rest: Body,
}

impl hyper::body::Body for Prefixed {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        if let Some(head) = self.head.take()
            && !head.is_empty()
        {
            return std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(head))));
        }
        std::pin::Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.head.as_ref().is_none_or(Bytes::is_empty) && self.rest.is_end_stream()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A body in pieces, as it would arrive.
    fn streamed(chunks: &[&'static [u8]]) -> Body {
        chunks.iter().rev().fold(Body::empty(), |rest, c| {
            rejoin(Bytes::from_static(c), Some(rest))
        })
    }

    async fn rest_len(rest: Option<Body>) -> usize {
        match rest {
            None => 0,
            Some(b) => b.collect().await.unwrap().to_bytes().len(),
        }
    }

    /// A body of exactly the limit is complete, whole or in pieces; one byte more is not
    /// (black-box pass 13, B13-4).
    #[tokio::test]
    async fn a_body_of_exactly_the_limit_is_complete() {
        for body in [
            Body::from("abcd"),
            streamed(&[b"ab", b"cd"]),
            streamed(&[b"abcd", b""]),
        ] {
            let (head, complete, rest) = read_up_to(body, 4).await.unwrap();
            assert_eq!(&head[..], b"abcd");
            assert!(complete);
            assert_eq!(rest_len(rest).await, 0);
        }
        for body in [
            Body::from("abcde"),
            streamed(&[b"ab", b"cd", b"e"]),
            streamed(&[b"abcd", b"", b"e"]),
        ] {
            let (head, complete, rest) = read_up_to(body, 4).await.unwrap();
            assert_eq!(&head[..], b"abcd");
            assert!(!complete);
            assert_eq!(rest_len(rest).await, 1);
        }
    }
}
