//! `path-bench`: what the edge guard's path normalisation costs per request, for a path
//! already in normal form (the common case: one scan, no allocation) and for paths that
//! need rewriting, against copying the path into a `String` (what any proxy does at least).
//!
//! `cargo run --release -p portcullis-testkit --example path-bench`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Instant;

use portcullis_http::normalize::normalize_cow;

fn bench(name: &str, path: &str, n: u32) {
    let t = Instant::now();
    for _ in 0..n {
        black_box(normalize_cow(black_box(path)).unwrap());
    }
    let ns = t.elapsed().as_nanos() as f64 / f64::from(n);
    let t = Instant::now();
    for _ in 0..n {
        black_box(black_box(path).to_owned());
    }
    let copy = t.elapsed().as_nanos() as f64 / f64::from(n);
    println!("{name:<28} {ns:>7.1} ns/path   (a String copy: {copy:.1} ns)   {path}");
}

fn main() {
    let n = 2_000_000;
    bench("normal (plain)", "/api/v1/orders/12345/items", n);
    bench(
        "normal, long",
        "/mandates/2026/12/01/customers/abcdef0123456789/invoices/99/lines",
        n,
    );
    bench("dot-segments", "/public/./a/../orders//12345/items", n);
    bench("escapes", "/orders/%31%32%33/%7euser/caf%C3%A9", n);
}
