//! The built-in rules: what each looks for, where, in which decoded form, at which paranoia
//! level and with which severity. Rule ids follow the OWASP CRS file numbering of the attack
//! they detect (913 scanners, 920/921 protocol, 930 LFI, 931 RFI, 932 RCE, 933 PHP, 934
//! generic, 941 XSS, 942 SQLi, 944 Java), so an exclusion reads as CRS users expect; the
//! patterns are Portcullis's own. Level 1 rules must be quiet on ordinary API traffic (the
//! benign corpus in the tests holds them to it); the noisier ones sit at levels 2 to 4.

use crate::request::{DATA, Kind, Kinds};

/// How bad a match is; its anomaly score is CRS's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// 5.
    Critical,
    /// 4.
    Error,
    /// 3.
    Warning,
    /// 2.
    Notice,
}

impl Severity {
    /// The anomaly score.
    pub fn score(self) -> u32 {
        match self {
            Severity::Critical => 5,
            Severity::Error => 4,
            Severity::Warning => 3,
            Severity::Notice => 2,
        }
    }
}

/// The form of a value a rule matches (see [`crate::decode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Form {
    /// As it arrived (after its own syntax's URL decoding).
    Raw,
    /// Every encoding undone.
    Decoded,
    /// Decoded, lower case, whitespace compacted.
    Lower,
    /// Lower with SQL comments folded.
    Sql,
    /// The shell's view.
    Cmd,
    /// Separators and case folded for file paths.
    Path,
    /// Lower without any whitespace (`<f o r m`).
    Compact,
}

/// How a rule matches.
#[derive(Debug, Clone, Copy)]
pub enum Test {
    /// A regular expression (case-insensitive by the form, or by `(?i)` in it).
    Rx(&'static str),
    /// libinjection's SQL injection fingerprints.
    Sqli,
    /// libinjection's XSS parser.
    Xss,
    /// At least this many SQL special characters.
    SpecialChars(usize),
    /// A value that is none of these (compared without case): an allowlist.
    NoneOf(&'static [&'static str]),
}

/// A rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Its id.
    pub id: u32,
    /// The attack class (`sqli`, `xss`, `lfi`, ...).
    pub category: &'static str,
    /// Paranoia level 1-4.
    pub paranoia: u8,
    /// Severity.
    pub severity: Severity,
    /// Where it looks.
    pub kinds: Kinds,
    /// In which form.
    pub form: Form,
    /// What it looks for.
    pub test: Test,
    /// What a match means.
    pub msg: &'static str,
}

const A: Kinds = Kind::Args as u16;
const N: Kinds = Kind::ArgNames as u16;
const P: Kinds = Kind::Path as u16;
const RAW: Kinds = Kind::RawUri as u16;
const UA: Kinds = Kind::UaReferer as u16;
const H: Kinds = Kind::Headers as u16;
const HN: Kinds = Kind::HeaderNames as u16;
const C: Kinds = Kind::Cookies as u16;
const CN: Kinds = Kind::CookieNames as u16;
const F: Kinds = Kind::FileNames as u16;
const B: Kinds = Kind::Body as u16;
const M: Kinds = Kind::Method as u16;
/// Data, the body as a whole, and every header.
const ALL: Kinds = DATA | B | H;

use Form::*;
use Severity::*;
use Test::*;

#[allow(clippy::too_many_arguments)] // one row of the table, in its columns' order
const fn r(
    id: u32,
    category: &'static str,
    paranoia: u8,
    severity: Severity,
    kinds: Kinds,
    form: Form,
    test: Test,
    msg: &'static str,
) -> Rule {
    Rule {
        id,
        category,
        paranoia,
        severity,
        kinds,
        form,
        test,
        msg,
    }
}

/// SQL special characters CRS counts (942430-942432).
pub const SQL_SPECIALS: &[char] = &[
    '~', '!', '@', '#', '$', '%', '^', '&', '*', '(', ')', '-', '+', '=', '{', '}', '[', ']', '|',
    ':', ';', '"', '\'', '´', '’', '‘', '`', '<', '>',
];

mod code;
mod files;
mod protocol;
mod rce;
mod sqli;
mod xss;

/// Every built-in rule, file by file.
pub fn all() -> impl Iterator<Item = &'static Rule> {
    [
        protocol::PROTOCOL,
        files::FILES,
        rce::RCE,
        code::CODE,
        xss::XSS,
        sqli::SQLI,
    ]
    .into_iter()
    .flatten()
}
