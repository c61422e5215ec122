//! Layered configuration: built-in defaults, then the TOML file, then
//! `PORTCULLIS_<SECTION>__<KEY>` environment variables, then command-line flags. The merged
//! document is deserialised into [`Config`] once; any unknown key or bad value stops start-up
//! with an error naming it.

use std::path::Path;

use portcullis_core::config::Config;
use toml::{Table, Value};

/// Prefix of configuration environment variables.
pub const ENV_PREFIX: &str = "PORTCULLIS_";

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("configuration file {path} is not valid TOML: {message}")]
    Syntax {
        /// The path.
        path: String,
        /// Parser message, with line and column.
        message: String,
    },
    /// A key is unknown or a value has the wrong type.
    #[error("invalid configuration `{key}`: {message}")]
    Key {
        /// Dotted key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// Sets `value` at a dotted path in `table`, creating tables on the way.
pub fn set_path(table: &mut Table, path: &[String], value: Value) -> Result<(), LoadError> {
    let Some((last, parents)) = path.split_last() else {
        return Ok(());
    };
    let mut cur = table;
    for (i, p) in parents.iter().enumerate() {
        let entry = cur
            .entry(p.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        cur = entry.as_table_mut().ok_or_else(|| LoadError::Key {
            key: path.get(..=i).unwrap_or_default().join("."),
            message: "is not a table".into(),
        })?;
    }
    cur.insert(last.clone(), value);
    Ok(())
}

fn merge(base: &mut Table, over: Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Interprets an environment value: TOML syntax when it parses (`8080`, `true`,
/// `["a", "b"]`), a plain string otherwise.
fn env_value(raw: &str) -> Value {
    match toml::from_str::<Table>(&format!("v = {raw}")) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| Value::String(raw.to_owned())),
        Err(_) => Value::String(raw.to_owned()),
    }
}

/// Configuration overrides from environment variables of the form
/// `PORTCULLIS_SECTION__KEY` (nested sections with more `__`). Variables without `__` are
/// not configuration (e.g. `PORTCULLIS_MASTER_KEY`) and are left alone.
pub fn env_overrides(vars: impl IntoIterator<Item = (String, String)>) -> Result<Table, LoadError> {
    let mut t = Table::new();
    for (name, raw) in vars {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if !rest.contains("__") {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if path.iter().any(String::is_empty) {
            return Err(LoadError::Key {
                key: name,
                message: "malformed variable name".into(),
            });
        }
        set_path(&mut t, &path, env_value(&raw))?;
    }
    Ok(t)
}

/// Loads the configuration: file (if any), environment, then `flags`.
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    flags: Table,
) -> Result<Config, LoadError> {
    let mut doc = Table::new();
    if let Some(path) = file {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: shown.clone(),
            source,
        })?;
        let parsed: Table = toml::from_str(&text).map_err(|e| LoadError::Syntax {
            path: shown,
            message: e.to_string(),
        })?;
        merge(&mut doc, parsed);
    }
    merge(&mut doc, env_overrides(env)?);
    merge(&mut doc, flags);
    let mut config: Config = serde_path_to_error::deserialize(Value::Table(doc)).map_err(|e| {
        let path = e.path().to_string();
        let message = e
            .inner()
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        // serde_path_to_error's path already ends in the unknown field's name, except at the
        // top level, where it is `.`.
        let key = match message
            .strip_prefix("unknown field `")
            .and_then(|m| m.split('`').next())
        {
            Some(field) if path == "." => field.to_owned(),
            _ => path,
        };
        LoadError::Key { key, message }
    })?;
    config.normalize();
    config.validate().map_err(|e| LoadError::Key {
        key: e.key,
        message: e.message,
    })?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = std::env::temp_dir().join(format!("pcl-cfg-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join("c.toml");
        let _ = std::fs::write(
            &file,
            "[server]\nlisten = \"127.0.0.1:9000\"\n[auth]\nmax_sessions_per_user = 3\n",
        );
        let mut flags = Table::new();
        let _ = set_path(
            &mut flags,
            &["server".into(), "listen".into()],
            Value::String("127.0.0.1:9100".into()),
        );
        let c = load(
            Some(&file),
            env(&[
                ("PORTCULLIS_AUTH__MAX_SESSIONS_PER_USER", "4"),
                ("PORTCULLIS_AUTH__PASSWORD__MIN_LENGTH", "14"),
                ("PORTCULLIS_MASTER_KEY", "x"),
            ]),
            flags,
        );
        let c = c.map_err(|e| e.to_string());
        assert_eq!(c.as_ref().map(|c| c.server.listen.port()), Ok(9100));
        assert_eq!(c.as_ref().map(|c| c.auth.max_sessions_per_user), Ok(4));
        assert_eq!(c.as_ref().map(|c| c.auth.password.min_length), Ok(14));
    }

    /// The configuration snippets of the contract (`api-v1.md`), as written there, load.
    #[test]
    fn contract_examples_load() {
        let dir = std::env::temp_dir().join(format!("pcl-cfg-contract-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join("c.toml");
        let text = r#"
[server]
listen = "127.0.0.1:8080"
public_url = "http://127.0.0.1:8080"
trusted_proxies = []
max_body_bytes = 1048576

[server.tls]
cert = "server.crt"
key = "server.key"
client_ca = "ca.crt"
client_auth = "none"

[auth]
self_registration = false
access_token_ttl_seconds = 900
refresh_token_ttl_seconds = 604800
max_sessions_per_user = 10
mfa_required_for_roles = []
step_up_max_age_seconds = 600

[auth.password]
min_length = 12
max_length = 128
min_strength = 3
argon2_memory_kib = 19456
argon2_iterations = 2
argon2_parallelism = 1

[admin]
allowed_ips = ["127.0.0.1/32", "::1/128"]

[security_txt]
contact = ["mailto:security@example.com"]
expires_days = 180

[cluster]
redis_url = "redis://127.0.0.1:6379"

[[routes]]
id = "mandates"
prefix = "/mandates"
upstreams = ["http://127.0.0.1:9000"]
strip_prefix = false
auth = "user"
roles = []
scopes = []
require_signature = false
allowed_ips = []
denied_ips = []
methods = []
max_body_bytes = 1048576
timeout_seconds = 30
policy = ""

[routes.rate_limit]
requests = 100
window_seconds = 60
key = "principal"

[audit]
checkpoint_every_entries = 1000
checkpoint_every_seconds = 10

[[audit.sinks]]
type = "webhook"
url = "https://siem.example/hook"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
format = "ocsf"

[[audit.sinks]]
type = "syslog"
address = "127.0.0.1:6514"
transport = "tls"
format = "ocsf"

[[audit.sinks]]
type = "file"
path = "/var/log/portcullis/audit.jsonl"
format = "native"
"#;
        let _ = std::fs::write(&file, text);
        let c = load(Some(&file), env(&[]), Table::new()).map_err(|e| e.to_string());
        let c = match c {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(c.routes.first().map(|r| r.name.as_str()), Some("mandates"));
        assert!(c.cluster.redis_url.is_some());
        assert_eq!(c.audit.sinks.len(), 3);
        assert!(c.audit.sinks.get(1).is_some_and(|s| s.tls));
        let names: Vec<&str> = c.audit.sinks.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["webhook-0", "syslog-1", "file-2"]);
        assert_eq!(
            c.server.tls.as_ref().map(|t| t.client_auth),
            Some(portcullis_core::config::ClientAuth::None)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = load(None, env(&[("PORTCULLIS_AUTH__NOPE", "1")]), Table::new())
            .err()
            .map(|e| e.to_string());
        assert!(
            e.as_deref().is_some_and(|m| m.contains("`auth.nope`")),
            "{e:?}"
        );
        let e = load(
            None,
            env(&[("PORTCULLIS_SERVER__LISTEN", "not an address")]),
            Table::new(),
        )
        .err()
        .map(|e| e.to_string());
        assert!(
            e.as_deref().is_some_and(|m| m.contains("`server.listen`")),
            "{e:?}"
        );
        let e = load(
            None,
            env(&[("PORTCULLIS_AUTH__PASSWORD__MIN_STRENGTH", "9")]),
            Table::new(),
        )
        .err()
        .map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|m| m.contains("`auth.password.min_strength`")),
            "{e:?}"
        );
        let e = load(None, env(&[("PORTCULLIS_NOPE__X", "1")]), Table::new())
            .err()
            .map(|e| e.to_string());
        assert!(e.as_deref().is_some_and(|m| m.contains("`nope`")), "{e:?}");
    }
}
