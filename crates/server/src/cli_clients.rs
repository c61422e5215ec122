//! `portcullis clients ...`: register the applications that may use the OpenID provider
//! from the command line (the first one, before any administrator has signed in). Prints
//! the same JSON as `POST /api/v1/admin/clients`; the secret is shown only there.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use portcullis_core::clock::SystemClock;
use portcullis_core::oauth::clients::{ClientSpec, GRANT_CODE, GRANT_REFRESH};
use portcullis_core::rand::Rng;
use portcullis_core::service::RequestContext;

use crate::app::App;

/// `clients ...`
#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client and print it as JSON (with its secret, shown only here).
    Create {
        /// Shown to people on the consent page.
        #[arg(long)]
        name: String,
        /// An exact redirect URI; repeat for several.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A public client (a browser or native app): no secret, PKCE only.
        #[arg(long, conflicts_with = "auth_method")]
        public: bool,
        /// How a confidential client authenticates: client_secret_basic (default),
        /// client_secret_post, private_key_jwt or tls_client_auth.
        #[arg(long)]
        auth_method: Option<String>,
        /// A grant; repeat for several (default: authorization_code and refresh_token).
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// A scope the client may ask for; repeat for several (default: openid).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Where RP-initiated logout may return to; repeat for several.
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// Authorization requests only through PAR.
        #[arg(long)]
        require_par: bool,
        /// Tokens only bound to a DPoP key.
        #[arg(long)]
        require_dpop: bool,
        /// A file with the client's public JWK Set (private_key_jwt).
        #[arg(long)]
        jwks_file: Option<std::path::PathBuf>,
        /// The URI SAN (SPIFFE ID) of the client's certificate (tls_client_auth).
        #[arg(long)]
        tls_san_uri: Option<String>,
        /// Where the client hears of sign-outs (OpenID Connect back-channel logout).
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
    },
}

/// Runs a `clients` command.
pub async fn run(
    command: ClientsCommand,
    cfg: portcullis_core::config::Config,
    rng: Arc<dyn Rng>,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let ClientsCommand::Create {
        name,
        redirect_uris,
        public,
        auth_method,
        grants,
        scopes,
        post_logout_redirect_uris,
        require_par,
        require_dpop,
        jwks_file,
        tls_san_uri,
        backchannel_logout_uri,
    } = command;
    let jwks = match jwks_file {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("--jwks-file {}: {e}", path.display()))?;
            Some(
                serde_json::from_str(&text)
                    .map_err(|e| format!("--jwks-file {}: not JSON: {e}", path.display()))?,
            )
        }
        None => None,
    };
    let spec = ClientSpec {
        name,
        redirect_uris,
        grant_types: if grants.is_empty() {
            vec![GRANT_CODE.to_owned(), GRANT_REFRESH.to_owned()]
        } else {
            grants
        },
        token_endpoint_auth_method: if public {
            "none".to_owned()
        } else {
            auth_method.unwrap_or_else(|| "client_secret_basic".to_owned())
        },
        scopes: (!scopes.is_empty()).then_some(scopes),
        post_logout_redirect_uris: Some(post_logout_redirect_uris),
        backchannel_logout_uri,
        require_pkce: None,
        require_par: Some(require_par),
        require_dpop: Some(require_dpop),
        jwks,
        tls_client_auth_san_uri: tls_san_uri,
    };
    let app = App::build(cfg, Arc::new(SystemClock), rng).await?;
    match app
        .services
        .register_oauth_client("cli", &RequestContext::default(), &spec)
        .await
    {
        Ok(registered) => {
            out!("{}", portcullis_web::registered_client_json(registered));
            Ok(ExitCode::SUCCESS)
        }
        Err(portcullis_core::Error::InvalidRequest(_, errors)) if !errors.is_empty() => {
            for e in errors {
                eprintln!("portcullis: {}: {}", e.field, e.message);
            }
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}
