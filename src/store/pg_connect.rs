//! Reaching PostgreSQL: the URL (with libpq's `sslmode` and `sslrootcert`), TLS through rustls,
//! and connecting with retries that use the whole `connect_timeout` and retry only what
//! retrying can fix.
//!
//! `sslmode` as libpq reads it: `disable` (plain), `allow`/`prefer` (TLS when the server offers
//! it, the default), `require` (TLS, the certificate not checked), `verify-ca` (TLS, the
//! certificate signed by `sslrootcert`), `verify-full` (also issued for the host connected to).
//! `sslrootcert` is a PEM file, or `system` for the platform's CAs; for `verify-*` without it,
//! libpq's `~/.postgresql/root.crt`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::redact_url;

/// How the certificate of a TLS connection is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    /// Not at all (`prefer`, `require`: the connection is encrypted, the server not identified).
    None,
    /// Signed by a trusted root (`verify-ca`).
    Ca,
    /// Signed by a trusted root and issued for the host (`verify-full`).
    Full,
}

/// Where and how to connect: the parsed URL and its TLS connector.
#[derive(Clone)]
pub(crate) struct Target {
    /// tokio-postgres's config (its `ssl_mode` set from `sslmode`).
    pub config: tokio_postgres::Config,
    /// The TLS connector (also used, unused, for `disable`).
    pub tls: MakeRustlsConnect,
    /// The `sslmode` as written (`prefer` when not), for messages.
    pub sslmode: String,
}

/// Parses a `postgresql://` URL (also Agno's `postgresql+psycopg://` forms) with its `sslmode`
/// and `sslrootcert`, and builds its TLS connector. Errors never hold the password.
pub(crate) fn parse_url(url: &str) -> Result<Target, String> {
    let normalized = match url.split_once("://") {
        Some((scheme, rest)) if scheme.starts_with("postgresql+") || scheme.starts_with("postgres+") => {
            format!("postgresql://{rest}")
        }
        _ => url.to_string(),
    };
    let invalid = |what: String| format!("invalid PostgreSQL URL {}: {what}", redact_url(url));
    let (base, query) = match normalized.split_once('?') {
        Some((b, q)) => (b.to_string(), q.to_string()),
        None => (normalized.clone(), String::new()),
    };
    let mut given_mode: Option<String> = None;
    let mut rootcert: Option<String> = None;
    let mut kept = Vec::new();
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        match key {
            "sslmode" => given_mode = Some(value.to_string()),
            "sslrootcert" => rootcert = Some(crate::config::percent_decoded(value)),
            "sslcert" | "sslkey" | "sslpassword" | "sslcrl" | "sslcrldir" => {
                return Err(invalid(format!("`{key}` (client certificates, revocation lists) is not supported yet")));
            }
            _ => kept.push(param),
        }
    }
    // As libpq: `sslrootcert=system` means `verify-full` unless told otherwise, and refuses the
    // weaker modes; `require` with a root certificate given checks the chain (`verify-ca`).
    let sslmode = match (given_mode, rootcert.as_deref()) {
        (None, Some("system")) => "verify-full".to_string(),
        (Some(m), Some("system")) if !m.starts_with("verify-") => {
            return Err(invalid(format!("`sslmode={m}` may not be used with `sslrootcert=system`; use verify-full")));
        }
        (Some(m), _) => m,
        (None, _) => "prefer".to_string(),
    };
    let require_checks_ca = sslmode == "require" && rootcert.is_some();
    let (mode, verify) = match sslmode.as_str() {
        "disable" => (tokio_postgres::config::SslMode::Disable, Verify::None),
        "allow" | "prefer" => (tokio_postgres::config::SslMode::Prefer, Verify::None),
        "require" if require_checks_ca => (tokio_postgres::config::SslMode::Require, Verify::Ca),
        "require" => (tokio_postgres::config::SslMode::Require, Verify::None),
        "verify-ca" => (tokio_postgres::config::SslMode::Require, Verify::Ca),
        "verify-full" => (tokio_postgres::config::SslMode::Require, Verify::Full),
        other => {
            return Err(invalid(format!(
                "`sslmode={other}` is not one of disable, allow, prefer, require, verify-ca, verify-full"
            )));
        }
    };
    let rest = if kept.is_empty() { base } else { format!("{base}?{}", kept.join("&")) };
    let mut config = rest.parse::<tokio_postgres::Config>().map_err(|e| invalid(e.to_string()))?;
    config.ssl_mode(mode);
    let tls = connector(verify, rootcert.as_deref(), &sslmode)?;
    Ok(Target { config, tls, sslmode })
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The trusted roots of `verify-ca` / `verify-full`.
fn roots(rootcert: Option<&str>, sslmode: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    if rootcert == Some("system") {
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
        if roots.is_empty() {
            return Err(format!("sslmode={sslmode} with sslrootcert=system: no CA certificates found on this system"));
        }
        return Ok(roots);
    }
    let path = match rootcert {
        Some(p) => std::path::PathBuf::from(p),
        None => match std::env::var_os("HOME") {
            Some(home) => std::path::Path::new(&home).join(".postgresql/root.crt"),
            None => {
                return Err(format!(
                    "sslmode={sslmode} needs the CA that signed the server's certificate: add sslrootcert=/path/to/ca.pem (or sslrootcert=system)"
                ));
            }
        },
    };
    let pem = std::fs::read(&path).map_err(|e| {
        format!(
            "sslmode={sslmode}: cannot read the root certificate {} ({e}); set sslrootcert=/path/to/ca.pem (or sslrootcert=system)",
            path.display()
        )
    })?;
    use rustls::pki_types::pem::PemObject;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("sslrootcert {}: not a PEM certificate: {e}", path.display()))?;
        roots.add(cert).map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("sslrootcert {} holds no certificate", path.display()));
    }
    Ok(roots)
}

fn connector(verify: Verify, rootcert: Option<&str>, sslmode: &str) -> Result<MakeRustlsConnect, String> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = match verify {
        Verify::None => Arc::new(Unverified(provider.signature_verification_algorithms)),
        Verify::Ca | Verify::Full => {
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots(rootcert, sslmode)?),
                provider.clone(),
            )
            .build()
            .map_err(|e| format!("TLS setup: {e}"))?;
            if verify == Verify::Ca { Arc::new(CaOnly(webpki)) } else { webpki }
        }
    };
    let config = builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// `prefer` / `require`: the certificate is not checked (as libpq does), but the handshake's
/// signatures still are.
#[derive(Debug)]
struct Unverified(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `verify-ca`: the chain is checked, the host name is not (as libpq does).
#[derive(Debug)]
struct CaOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for CaOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `host:port` of a config, for messages.
pub(crate) fn endpoint(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(s) => s.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

/// The error and its causes, as one line.
fn chain(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => d.message().to_string(),
        None => crate::error_chain(e),
    }
}

/// Connects one client, retrying with backoff until `timeout` has passed: each attempt is
/// bounded by the time left (a black-holed host, a server that never answers), and only errors
/// that retrying can fix are retried (a refused or reset connection, a server starting up);
/// authentication, an unknown database and TLS failures are reported at once.
pub(crate) async fn connect_with_retry(target: &Target, timeout: Duration) -> Result<tokio_postgres::Client, String> {
    let start = Instant::now();
    let deadline = start + timeout;
    let mut delay = Duration::from_millis(100);
    loop {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
        let mut config = target.config.clone();
        config.connect_timeout(left);
        let attempt = tokio::time::timeout(left, config.connect(target.tls.clone())).await;
        let error = match attempt {
            Ok(Ok((client, connection))) => {
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "postgres connection closed");
                    }
                });
                return Ok(client);
            }
            Ok(Err(e)) => {
                let retry = retryable(&e);
                (chain(&e), retry)
            }
            Err(_) => ("no answer (timed out)".to_string(), true),
        };
        let now = Instant::now();
        if error.1 && now + Duration::from_millis(50) < deadline {
            let wait = delay.min(deadline - now);
            tracing::warn!(endpoint = %endpoint(&target.config), error = %error.0, retry_in_ms = wait.as_millis() as u64, "cannot connect to PostgreSQL yet");
            tokio::time::sleep(wait).await;
            delay = (delay * 2).min(Duration::from_secs(5));
            continue;
        }
        let user = target.config.get_user().unwrap_or("?");
        let db = target.config.get_dbname().unwrap_or("?");
        let tls = if is_tls_error(&error.0) {
            format!(" (sslmode={}: check the server's certificate and `sslrootcert`)", target.sslmode)
        } else {
            String::new()
        };
        return Err(format!(
            "cannot connect to PostgreSQL at {} (user {user}, database {db}) after {:.1}s: {}{tls}",
            endpoint(&target.config),
            start.elapsed().as_secs_f64(),
            error.0
        ));
    }
}

fn is_tls_error(text: &str) -> bool {
    text.contains("TLS") || text.contains("certificate")
}

/// Whether retrying can fix a connection error: a server that is starting, full or not yet
/// listening, yes; a wrong password, an unknown database or a TLS failure, no.
fn retryable(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    if let Some(db) = e.as_db_error() {
        return [SqlState::CANNOT_CONNECT_NOW, SqlState::TOO_MANY_CONNECTIONS, SqlState::ADMIN_SHUTDOWN]
            .contains(db.code());
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.downcast_ref::<rustls::Error>().is_some() {
            return false;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.get_ref().is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
        {
            return false;
        }
        source = s.source();
    }
    !is_tls_error(&chain(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_read_and_bad_ones_refused() {
        let t = parse_url("postgresql://u:pw@h:5432/db?sslmode=require&application_name=x").unwrap();
        assert_eq!(t.config.get_ssl_mode(), tokio_postgres::config::SslMode::Require);
        assert_eq!(t.config.get_application_name(), Some("x"));
        let t = parse_url("postgresql+psycopg://u@h/db").unwrap();
        assert_eq!(t.config.get_ssl_mode(), tokio_postgres::config::SslMode::Prefer);
        assert_eq!(
            parse_url("postgresql://u@h/db?sslmode=disable").unwrap().config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Disable
        );
        let e = parse_url("postgresql://u:pw@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem").err().unwrap();
        assert!(e.contains("/nonexistent/ca.pem") && !e.contains("pw"), "{e}");
        let e = parse_url("postgresql://u:pw@h/db?sslmode=sometimes").err().unwrap();
        assert!(e.contains("sometimes") && !e.contains("pw"), "{e}");
        let e = parse_url("postgresql://u@h/db?sslcert=/c.pem").err().unwrap();
        assert!(e.contains("not supported"), "{e}");
        // libpq's rules for sslrootcert: `system` implies verify-full and refuses weaker modes;
        // `require` with a root file checks the chain (so an unreadable one is an error).
        assert_eq!(
            parse_url("postgresql://u@h/db?sslrootcert=system").map(|t| t.sslmode).ok().as_deref(),
            Some("verify-full")
        );
        let e = parse_url("postgresql://u@h/db?sslmode=require&sslrootcert=system").err().unwrap();
        assert!(e.contains("may not be used"), "{e}");
        let e = parse_url("postgresql://u@h/db?sslmode=require&sslrootcert=/nonexistent.pem").err().unwrap();
        assert!(e.contains("/nonexistent.pem"), "{e}");
    }
}
