//! Where a command's data lives: the database and the master key, said out loud (a command
//! run from the wrong directory must not quietly start a new, empty installation), and
//! checked to exist before a command that only reads opens them.

use std::path::{Path, PathBuf};

use portcullis_core::config::{Config, KeySource};
use secrecy::ExposeSecret;

/// The file of a SQLite database URL; `None` for another database or an in-memory one.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() || path.starts_with(":memory:") {
        return None;
    }
    Some(PathBuf::from(path))
}

/// `path` made absolute against the working directory, for messages.
fn shown(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

/// The database URL without its password.
fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{scheme}://{user}:***@{host}")
            }
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// The database, in words: the absolute file of SQLite, the URL (without password) else.
pub fn database(config: &Config) -> String {
    let url = config.database.url.expose_secret();
    match sqlite_path(url) {
        Some(p) => format!("SQLite database {}", shown(&p)),
        None => format!("database {}", redacted(url)),
    }
}

/// The master key file, absolute.
pub fn key_file(config: &Config) -> String {
    shown(&config.keys.master_key_file)
}

/// Where the master key comes from, in words.
pub fn master_key(config: &Config) -> String {
    let k = &config.keys;
    match k.source {
        KeySource::File => format!("master key file {}", key_file(config)),
        KeySource::Env => format!(
            "master key from the environment variable {}",
            k.master_key_env
        ),
        KeySource::Pkcs11 => format!(
            "master key on the PKCS#11 token {}",
            k.pkcs11_token_label.as_deref().unwrap_or("(unnamed)")
        ),
        KeySource::Shamir => "master key from Shamir shares".to_owned(),
    }
}

/// One line for stderr: what this command uses.
pub fn describe(config: &Config) -> String {
    format!(
        "using the {} and the {}",
        database(config),
        master_key(config)
    )
}

/// For commands that only read: the database file (SQLite) and, with `with_key`, the
/// master key file must exist already; the error names the path looked at. Nothing is
/// created.
pub fn require_existing(config: &Config, with_key: bool) -> Result<(), String> {
    let hint = "this command only reads and creates nothing: run it from the directory the \
                relative paths start from, or pass --config with database.url and \
                keys.master_key_file";
    if let Some(p) = sqlite_path(config.database.url.expose_secret())
        && !p.is_file()
    {
        return Err(format!("no database at {}; {hint}", shown(&p)));
    }
    if with_key && config.keys.source == KeySource::File && !config.keys.master_key_file.is_file() {
        return Err(format!(
            "no master key file at {}; {hint}",
            key_file(config)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_passwords() {
        assert_eq!(
            redacted("postgres://app:s3cret@db.example:5432/portcullis"),
            "postgres://app:***@db.example:5432/portcullis"
        );
        assert_eq!(redacted("postgres://db/x"), "postgres://db/x");
        assert_eq!(
            sqlite_path("sqlite://./d/p.db?mode=rwc"),
            Some(PathBuf::from("./d/p.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x"), None);
    }
}
