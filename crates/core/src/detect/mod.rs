//! Detection: the pure parts of the risk engine. Proof-of-work challenges (ALTCHA), IP
//! sets for deny lists and bans, GeoIP arithmetic, device recognition, and the scoring of
//! sign-ins and request rates. The service layer gathers the facts and acts on the result.

pub mod altcha;
pub mod device;
pub mod geo;
pub mod ipset;
pub mod risk;
