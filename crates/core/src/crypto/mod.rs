//! Cryptographic building blocks: pure functions over bytes, each tested against published
//! vectors where one exists.

pub mod apikey;
pub mod envelope;
pub mod httpsig;
pub mod jwt;
pub mod passwords;
pub mod secretbox;
pub mod shamir;
pub mod tokens;
pub mod totp;
