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
            let rest = if extra.is_empty() {
                body
            } else {
                rejoin(Bytes::from(extra), Some(body))
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
