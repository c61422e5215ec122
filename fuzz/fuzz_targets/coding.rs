//! Content codings (gzip, deflate as zlib or raw): any bytes decode without a panic or a
//! hang, to the same answer whether fed whole or in pieces of any size; whatever is
//! compressed decodes back to itself.
#![no_main]
use std::io::Write;

use libfuzzer_sys::fuzz_target;
use portcullis_http::coding::{Coding, Decoder, decode_bounded};

const LIMIT: usize = 1 << 22;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let coding = if sel & 1 == 0 {
        Coding::Gzip
    } else {
        Coding::Deflate
    };
    let whole = decode_bounded(&coding, rest, true, LIMIT);
    let mut decoder = Decoder::new(&coding).expect("gzip and deflate are read");
    let mut pieces = Vec::new();
    let mut fed = Ok(());
    for piece in rest.chunks(usize::from(sel >> 1) + 1) {
        fed = decoder.feed(piece, &mut pieces);
        if fed.is_err() || pieces.len() > LIMIT {
            break;
        }
    }
    if pieces.len() <= LIMIT {
        let pieces = fed
            .and_then(|()| decoder.finish(&mut pieces))
            .map(|()| pieces);
        match (&whole, &pieces) {
            (Ok((w, true)), Ok(p)) => assert_eq!(w, p, "whole and in pieces differ"),
            (Ok((_, true)), Err(e)) => panic!("whole decodes, in pieces: {e}"),
            (Err(e), Ok(_)) => panic!("in pieces decodes, whole: {e}"),
            _ => {}
        }
    }
    let compressed = match (sel >> 1) % 3 {
        0 => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(rest).and_then(|()| e.finish())
        }
        1 => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(rest).and_then(|()| e.finish())
        }
        _ => {
            let mut e =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(rest).and_then(|()| e.finish())
        }
    }
    .expect("compresses into memory");
    let coding = if (sel >> 1) % 3 == 0 {
        Coding::Gzip
    } else {
        Coding::Deflate
    };
    let back = decode_bounded(&coding, &compressed, true, rest.len() + 1).expect("decodes");
    assert_eq!(
        back,
        (rest.to_vec(), true),
        "a round trip changed the bytes"
    );
});
