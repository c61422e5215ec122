//! The internal CA: `portcullis ca init` and `portcullis ca issue`. Short-lived server and
//! client certificates (ECDSA P-256, made with rcgen) whose URI SAN is a SPIFFE ID, so a team
//! gets mutual TLS between its services without another product. The CA's private key is
//! sealed under the master key in the database.

use std::io::Write;
use std::path::Path;

use portcullis_core::audit::{NewAuditEvent, Outcome};
use portcullis_core::rand::OsRng;
use portcullis_core::service::{Services, valid_spiffe_id};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::json;

type BoxError = Box<dyn std::error::Error>;

const CA_AAD: &[u8] = b"portcullis:internal-ca:v1";
/// Longest certificate lifetime `ca issue` grants.
pub const MAX_TTL_SECONDS: i64 = 365 * 86_400;

/// Parses `90s`, `30m`, `24h`, `7d` or plain seconds.
pub fn parse_ttl(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (s.get(..i).unwrap_or(""), c),
        _ => (s, 's'),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 24h, 30m, 7d"))?;
    let secs = match unit {
        's' => n,
        'm' => n.saturating_mul(60),
        'h' => n.saturating_mul(3600),
        'd' => n.saturating_mul(86_400),
        _ => return Err(format!("`{s}`: use s, m, h or d")),
    };
    if !(60..=MAX_TTL_SECONDS).contains(&secs) {
        return Err("the lifetime must be between 1 minute and 365 days".into());
    }
    Ok(secs)
}

fn time_of(unix: i64) -> Result<time::OffsetDateTime, BoxError> {
    Ok(time::OffsetDateTime::from_unix_timestamp(unix)?)
}

/// Writes a private key readable by the owner only; a file that existed with a wider mode
/// is narrowed before the key is written into it.
fn write_private(path: &Path, data: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(data.as_bytes())
}

/// Who a certificate is for: its subject alternative names.
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    /// URI SAN (a SPIFFE ID).
    pub spiffe_id: Option<&'a str>,
    /// DNS SANs.
    pub dns: &'a [String],
    /// IP address SANs.
    pub ip: &'a [std::net::IpAddr],
}

/// Creates the CA (once) and writes its certificate to `out`.
pub async fn init(svc: &Services, trust_domain: &str, out: &Path) -> Result<String, BoxError> {
    if svc.store().internal_ca().await?.is_some() {
        return Err("the internal CA exists already".into());
    }
    let now = svc.now();
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Portcullis internal CA");
    dn.push(DnType::OrganizationName, trust_domain);
    params.distinguished_name = dn;
    params.not_before = time_of(now - 3600)?;
    params.not_after = time_of(now + 10 * 365 * 86_400)?;
    let cert = params.self_signed(&key)?;
    let sealed = svc
        .keyring
        .seal(CA_AAD, key.serialize_pem().as_bytes(), &OsRng);
    let pem = cert.pem();
    let mut tx = svc.store().begin().await?;
    tx.insert_internal_ca(&pem, &sealed, now).await?;
    tx.append_audit(
        &NewAuditEvent::new(now, "ca.initialized", Outcome::Success)
            .actor("cli")
            .details(json!({"trust_domain": trust_domain})),
    )
    .await?;
    tx.commit().await?;
    std::fs::write(out, &pem)?;
    Ok(pem)
}

/// Issues a certificate for `spiffe_id` and/or `dns` names, valid for `ttl` seconds, usable
/// as a client and a server certificate; writes the chain and the key (0600).
pub async fn issue(
    svc: &Services,
    names: &Names<'_>,
    ttl: i64,
    cert_out: &Path,
    key_out: &Path,
) -> Result<String, BoxError> {
    let Names { spiffe_id, dns, ip } = *names;
    if spiffe_id.is_none() && dns.is_empty() && ip.is_empty() {
        return Err("give --spiffe-id, --dns or --ip (any of them, repeated)".into());
    }
    if let Some(id) = spiffe_id
        && !valid_spiffe_id(id)
    {
        return Err(format!("`{id}` is not a SPIFFE ID (spiffe://trust-domain/path)").into());
    }
    let (ca_pem, sealed) = svc
        .store()
        .internal_ca()
        .await?
        .ok_or("no internal CA yet: run `portcullis ca init` first")?;
    let ca_key_pem = svc.keyring.open(CA_AAD, &sealed)?;
    let ca_key = KeyPair::from_pem(std::str::from_utf8(&ca_key_pem)?)?;
    let ca_der = CertificateDer::from_pem_slice(ca_pem.as_bytes())?;
    let issuer = Issuer::from_ca_cert_der(&ca_der, ca_key)?;
    let now = svc.now();
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(dns.to_vec())?;
    if let Some(id) = spiffe_id {
        params.subject_alt_names.push(SanType::URI(id.try_into()?));
    }
    params
        .subject_alt_names
        .extend(ip.iter().map(|a| SanType::IpAddress(*a)));
    let first_ip = ip.first().map(ToString::to_string);
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        spiffe_id
            .or(dns.first().map(String::as_str))
            .or(first_ip.as_deref())
            .unwrap_or("service"),
    );
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.not_before = time_of(now - 60)?;
    params.not_after = time_of(now + ttl)?;
    let cert = params.signed_by(&key, &issuer)?;
    let chain = format!("{}{}", cert.pem(), ca_pem);
    std::fs::write(cert_out, &chain)?;
    write_private(key_out, &key.serialize_pem())?;
    let mut tx = svc.store().begin().await?;
    tx.append_audit(
        &NewAuditEvent::new(now, "ca.certificate.issued", Outcome::Success)
            .actor("cli")
            .details(json!({"spiffe_id": spiffe_id, "dns": dns, "ip": ip, "not_after": now + ttl})),
    )
    .await?;
    tx.commit().await?;
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_parse() {
        assert_eq!(parse_ttl("24h"), Ok(86_400));
        assert_eq!(parse_ttl("30m"), Ok(1800));
        assert_eq!(parse_ttl("7d"), Ok(604_800));
        assert_eq!(parse_ttl("3600"), Ok(3600));
        assert!(parse_ttl("10s").is_err());
        assert!(parse_ttl("400d").is_err());
        assert!(parse_ttl("h").is_err());
        assert!(parse_ttl("5y").is_err());
    }
}
