//! HTTPS: rustls with the aws-lc-rs provider, TLS 1.3 and 1.2 only, forward-secret suites
//! only (rustls offers no others), the post-quantum hybrid X25519MLKEM768 preferred, the
//! certificate re-read on SIGHUP without touching open connections, and optional client
//! certificates (mTLS) whose SPIFFE IDs authenticate services.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use portcullis_core::config::{ClientAuth, TlsConfig};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// The crypto provider: aws-lc-rs with X25519MLKEM768 first.
pub fn provider() -> CryptoProvider {
    use rustls::crypto::aws_lc_rs::kx_group;
    let mut p = rustls::crypto::aws_lc_rs::default_provider();
    p.kx_groups = vec![
        kx_group::X25519MLKEM768,
        kx_group::X25519,
        kx_group::SECP256R1,
        kx_group::SECP384R1,
    ];
    p
}

/// The PEM certificates of `path` (at least one).
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate", path.display()));
    }
    Ok(certs)
}

/// The server certificate, swappable at run time.
#[derive(Debug)]
pub struct CertResolver {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

fn load(
    provider: &CryptoProvider,
    cert_file: &Path,
    key_file: &Path,
) -> Result<CertifiedKey, String> {
    let certs = read_certs(cert_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| format!("{}: {e}", key_file.display()))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("{}: {e}", key_file.display()))?;
    let ck = CertifiedKey::new(certs, signing);
    ck.keys_match().map_err(|e| {
        format!(
            "{} does not match {}: {e}",
            key_file.display(),
            cert_file.display()
        )
    })?;
    Ok(ck)
}

impl CertResolver {
    fn new(cfg: &TlsConfig, provider: Arc<CryptoProvider>) -> Result<Self, String> {
        let ck = load(&provider, &cfg.cert_file, &cfg.key_file)?;
        Ok(Self {
            cert_file: cfg.cert_file.clone(),
            key_file: cfg.key_file.clone(),
            provider,
            current: RwLock::new(Arc::new(ck)),
        })
    }

    /// Re-reads the files; on failure the current certificate stays.
    pub fn reload(&self) -> Result<(), String> {
        let ck = load(&self.provider, &self.cert_file, &self.key_file)?;
        let mut cur = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *cur = Arc::new(ck);
        Ok(())
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        )
    }
}

/// What serving HTTPS needs.
pub struct Tls {
    /// Accepts handshakes.
    pub acceptor: TlsAcceptor,
    /// Reloads the certificate.
    pub resolver: Arc<CertResolver>,
}

/// Builds the rustls configuration; with `http2`, h2 is offered by ALPN before http/1.1.
pub fn setup(cfg: &TlsConfig, http2: bool) -> Result<Tls, String> {
    let provider = Arc::new(provider());
    let resolver = Arc::new(CertResolver::new(cfg, provider.clone())?);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?;
    let client_ca = cfg
        .client_ca_file
        .as_ref()
        .filter(|_| cfg.client_auth != ClientAuth::None);
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: {e}", ca.display()))?;
            }
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let v = match cfg.client_auth {
                ClientAuth::Optional | ClientAuth::None => v.allow_unauthenticated(),
                ClientAuth::Required => v,
            };
            builder.with_client_cert_verifier(v.build().map_err(|e| e.to_string())?)
        }
    };
    let mut config = builder.with_cert_resolver(resolver.clone());
    // The server's preference (the provider's order: AEADs with forward secrecy, strongest
    // first) decides, not a client that lists a weaker suite first.
    config.ignore_client_order = true;
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        resolver,
    })
}

pub use portcullis_http::signatures::PeerIdentity;

/// Reads the identity of the leaf certificate a client presented (rustls verified it).
pub fn peer_identity(certs: Option<&[CertificateDer<'_>]>) -> Option<PeerIdentity> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let leaf = certs?.first()?;
    let (_, cert) = X509Certificate::from_der(leaf.as_ref()).ok()?;
    let spiffe_ids = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::URI(u) if u.starts_with("spiffe://") => Some((*u).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    use base64::Engine;
    use sha2::Digest;
    let x5t_s256 = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(leaf.as_ref()));
    Some(PeerIdentity {
        spiffe_ids,
        common_name,
        x5t_s256,
    })
}

/// The TLS client configuration of a route whose upstreams speak `https://`: the route's CA
/// (or the system's roots) and, for mTLS, its client certificate. `None` for plain HTTP.
pub fn upstream_client_config(
    route: &portcullis_core::config::RouteConfig,
) -> Result<Option<rustls::ClientConfig>, String> {
    let https = route.upstreams.iter().any(|u| u.starts_with("https://"));
    if !https {
        return Ok(None);
    }
    let provider = Arc::new(provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?;
    let builder = match &route.upstream_ca_file {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in read_certs(ca)? {
                roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
            }
            builder.with_root_certificates(roots)
        }
        None => {
            use rustls_platform_verifier::BuilderVerifierExt;
            builder
                .with_platform_verifier()
                .map_err(|e| e.to_string())?
        }
    };
    let config = match (
        &route.upstream_client_cert_file,
        &route.upstream_client_key_file,
    ) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert)?;
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("routes `{}`: client certificate: {e}", route.name))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Some(config))
}
