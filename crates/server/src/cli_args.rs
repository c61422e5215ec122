//! The command line's arguments: the commands and their flags, as clap reads them
//! (`cli.rs` runs them).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Portcullis: auth server, identity-aware gateway and security operations in one binary.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about)]
pub struct Cli {
    /// Configuration file (TOML). Every setting can also come from PORTCULLIS_<SECTION>__<KEY>.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (embedded SQLite under ./portcullis-data by default).
    Serve {
        /// Listen address (server.listen).
        #[arg(long)]
        listen: Option<String>,
        /// Database URL (database.url).
        #[arg(long)]
        database_url: Option<String>,
        /// Public base URL (server.public_url).
        #[arg(long)]
        public_url: Option<String>,
    },
    /// The gateway's routes.
    Routes {
        /// Action.
        #[command(subcommand)]
        command: RoutesCommand,
    },
    /// Manage users.
    Users {
        /// Action.
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// OAuth 2.0 / OpenID Connect clients.
    Clients {
        /// Action.
        #[command(subcommand)]
        command: crate::cli_clients::ClientsCommand,
    },
    /// Inspect the audit log.
    Audit {
        /// Action.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The internal CA for mutual TLS between services.
    Ca {
        /// Action.
        #[command(subcommand)]
        command: CaCommand,
    },
    /// Manage keys.
    Keys {
        /// Action.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Just-in-time elevation requests and grants.
    Elevations {
        /// Action.
        #[command(subcommand)]
        command: crate::cli_approvals::RequestsCommand,
    },
    /// Held four-eyes operations.
    Approvals {
        /// Action.
        #[command(subcommand)]
        command: crate::cli_approvals::RequestsCommand,
    },
    /// The emergency administrator's split credential.
    BreakGlass {
        /// Action.
        #[command(subcommand)]
        command: crate::cli_approvals::BreakGlassCommand,
    },
    /// The compliance report (SOC 2 CC6/CC7, ISO 27001 Annex A, PCI DSS 4.0 requirements 3,
    /// 7, 8 and 10), measured from this server's data now.
    Report {
        /// `html` or `pdf`.
        #[arg(long, value_parser = ["html", "pdf"], default_value = "html")]
        format: String,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
        /// The last dependency scan's result (`cargo audit --json` output), as evidence
        /// (default: `report.dependency_scan`).
        #[arg(long)]
        dependency_scan: Option<PathBuf>,
    },
    /// Give a sealed server one Shamir share of the master key (read from stdin).
    Unseal {
        /// The server's base URL, e.g. https://auth.example.com.
        #[arg(long)]
        url: String,
        /// A CA certificate (PEM) to trust for the server, e.g. from `portcullis ca init`.
        #[arg(long)]
        ca: Option<PathBuf>,
    },
}

/// `routes ...`
#[derive(Debug, Subcommand)]
pub enum RoutesCommand {
    /// Load and compile the configuration's routes (upstreams, Cedar policies, TLS) as a
    /// SIGHUP reload would, without serving: exit 0 and a line per route when they would
    /// be taken, else 1 and why. Run it before sending SIGHUP.
    Check,
}

/// `users ...`
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user. Without --password-stdin a strong password is generated and printed.
    Create {
        /// Email address.
        #[arg(long)]
        email: String,
        /// Role: user or admin.
        #[arg(long, default_value = "user")]
        role: String,
        /// Display name.
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    #[command(flatten)]
    /// list, set-role, reset-password, delete.
    More(crate::cli_users::MoreUsers),
}

/// `audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the audit log: hash chain, Merkle tree and every signed checkpoint; exit 0 when
    /// intact, 1 naming the first bad entry, tree node or checkpoint. With --export, verify an
    /// exported log offline (no database) against a checkpoint and the log's public key.
    Verify {
        /// A file written by `portcullis audit export`.
        #[arg(long, value_name = "FILE", requires_all = ["public_key", "checkpoint"])]
        export: Option<PathBuf>,
        /// The log's verifier key (`name+keyid+base64`), or a file holding it (without
        /// --export: default the key of the log in the database).
        #[arg(long, value_name = "KEY")]
        public_key: Option<String>,
        /// A file holding a signed checkpoint, as `portcullis audit checkpoint` prints it or
        /// `GET /api/v1/audit/checkpoint` returns it. Without --export it is checked against
        /// the log in the database (the log still holds what the checkpoint signed).
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
    /// Write the audit log as JSON lines (one entry per line, with its hashes).
    Export {
        /// Output file (default: standard output).
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Print the checkpoint verifier key and the latest signed checkpoint.
    Checkpoint,
    /// Erase the personal fields of every entry about a data subject (GDPR); proofs still
    /// verify.
    Redact {
        /// The subject's id (user or service account).
        #[arg(long)]
        subject: String,
    },
}

/// `ca ...`
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create the internal CA (once); its key is sealed under the master key in the database.
    Init {
        /// Where to write the CA certificate (for `server.tls.client_ca_file` and clients).
        #[arg(long, default_value = "portcullis-ca.pem")]
        out: PathBuf,
        /// The SPIFFE trust domain, recorded in the CA's subject.
        #[arg(long, default_value = "portcullis.internal")]
        trust_domain: String,
    },
    /// Write the internal CA's certificate (PEM), e.g. for `server.tls.client_ca` and clients.
    Cert {
        /// Where to write it.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Issue a short-lived certificate (client and server use) signed by the internal CA.
    Issue {
        /// URI SAN, e.g. spiffe://example.org/billing.
        #[arg(long)]
        spiffe_id: Option<String>,
        /// DNS SANs (repeat for several).
        #[arg(long = "dns", value_name = "NAME")]
        dns: Vec<String>,
        /// IP address SANs (repeat for several).
        #[arg(long = "ip", value_name = "IP")]
        ip: Vec<std::net::IpAddr>,
        /// Lifetime in seconds, or 90m, 24h, 7d... (1 minute to 365 days).
        #[arg(long, default_value = "24h")]
        ttl: String,
        /// Write PREFIX.crt (the certificate chain, PEM) and PREFIX.key (the private key,
        /// PEM, mode 0600).
        #[arg(long, value_name = "PREFIX", conflicts_with_all = ["cert_out", "key_out"],
              required_unless_present_all = ["cert_out", "key_out"])]
        out: Option<PathBuf>,
        /// Where to write the certificate chain (PEM), instead of --out.
        #[arg(long, requires = "key_out")]
        cert_out: Option<PathBuf>,
        /// Where to write the private key (PEM, mode 0600), instead of --out.
        #[arg(long, requires = "cert_out")]
        key_out: Option<PathBuf>,
    },
}

/// `keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add an access-token signing key; old public keys stay in the JWKS until their tokens expire.
    RotateSigning,
    /// Make the master key and split it into Shamir shares (keys.source = "shamir", before
    /// the first start). Prints the shares, one per line; stores only what verifies them.
    Split {
        /// Shares to make (2..=255).
        #[arg(long)]
        shares: u8,
        /// Shares needed to reconstruct the key (2..=shares).
        #[arg(long)]
        threshold: u8,
    },
    /// The key source and what is known about the keys, as JSON.
    Status,
    /// Add a key-encryption key and re-wrap every data key under it, with progress; run it
    /// again after an interruption and it resumes (the server keeps serving meanwhile).
    Rotate,
}
