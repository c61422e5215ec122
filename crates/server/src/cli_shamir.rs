//! `portcullis keys split` and `portcullis unseal`: the master key as Shamir shares.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use portcullis_core::rand::Rng;
use zeroize::Zeroizing;

/// `keys split`: a new master key, split; the shares go to stdout, the split record to the
/// database (with an audit event, in one transaction).
pub(crate) async fn keys_split(
    cfg: &portcullis_core::config::Config,
    shares: u8,
    threshold: u8,
    rng: &dyn Rng,
) -> Result<(), Box<dyn std::error::Error>> {
    use portcullis_core::crypto::secretbox::SecretKey;
    if cfg.keys.source != portcullis_core::config::KeySource::Shamir {
        return Err("set keys.source = \"shamir\" in the configuration first".into());
    }
    let store = crate::app::open_store(cfg).await?;
    if crate::masterkey::split_record(store.as_ref())
        .await?
        .is_some()
    {
        return Err("the master key is already split; its shares cannot be made again".into());
    }
    if !store.signing_keys().await?.is_empty() || store.internal_ca().await?.is_some() {
        return Err("this database already holds secrets sealed under another master key; split before the first start".into());
    }
    let key = SecretKey::generate(rng);
    let set = hex::encode(portcullis_core::rand::bytes::<4>(rng));
    let (parts, record) = portcullis_core::crypto::shamir::split(&key, shares, threshold, &set)?;
    crate::masterkey::store_key_meta(
        store.as_ref(),
        crate::masterkey::SHAMIR_META,
        &record,
        "cli",
        "keys.master.split",
        serde_json::json!({"shares": shares, "threshold": threshold, "set": set}),
    )
    .await?;
    let mut out = std::io::stdout().lock();
    for p in &parts {
        writeln!(out, "{}", p.encode().as_str())?;
    }
    eprintln!(
        "split the new master key into {shares} shares; {threshold} of them unseal the server. Give each to a different key holder: they are not stored anywhere."
    );
    Ok(())
}

/// `unseal`: posts one share, read from stdin, to a sealed server.
pub(crate) async fn unseal(
    url: &str,
    ca: Option<&std::path::Path>,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin().lock().read_line(&mut line)?;
    let share = line.trim();
    if share.is_empty() {
        return Err("give the share on stdin".into());
    }
    let mut client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(15));
    if let Some(ca) = ca {
        client = client.add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(ca)?)?);
    }
    let res = client
        .build()?
        .post(format!("{}/api/v1/sys/unseal", url.trim_end_matches('/')))
        .json(&serde_json::json!({ "share": share }))
        .send()
        .await?;
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    let field = |name: &str| body.get(name).cloned().unwrap_or_default();
    if status.is_success() {
        if field("sealed") == false {
            out!("unsealed");
        } else {
            out!(
                "share accepted: {} of {}",
                field("progress"),
                field("threshold")
            );
        }
        Ok(ExitCode::SUCCESS)
    } else {
        let message = body
            .pointer("/errors/0/message")
            .or_else(|| body.get("detail"))
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned();
        eprintln!("refused ({status}): {message}");
        Ok(ExitCode::FAILURE)
    }
}
