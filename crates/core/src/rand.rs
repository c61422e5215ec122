//! Randomness as a port, so that tests can be deterministic where they need to be.

/// A cryptographically secure source of random bytes.
pub trait Rng: Send + Sync + 'static {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);
}

/// The operating system's CSPRNG (getrandom).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRng;

impl Rng for OsRng {
    fn fill(&self, buf: &mut [u8]) {
        // getrandom only fails when the OS has no entropy source at all; a server that cannot
        // get randomness must not continue issuing secrets.
        if getrandom::fill(buf).is_err() {
            std::process::abort();
        }
    }
}

/// Returns `N` random bytes.
pub fn bytes<const N: usize>(rng: &dyn Rng) -> [u8; N] {
    let mut b = [0u8; N];
    rng.fill(&mut b);
    b
}
