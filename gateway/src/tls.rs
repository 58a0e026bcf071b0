//! TLS for AMQPS (5671) and HTTPS/WSS (15671), with rustls (ring).
//!
//! Owns: loading the certificate chain, key and client CA from PEM files,
//! the server config (client certificates verified against the CA when one
//! is given: optional, or required), the handshake with a timeout, and the
//! identity a client certificate carries (its subject's CN, as RabbitMQ's
//! `rabbitmq_auth_mechanism_ssl` uses by default for EXTERNAL).
//!
//! It must not know AMQP or HTTP: after the handshake the stream goes to
//! the same connection code as plain TCP ([`crate::tcp`]) or to the HTTP
//! router ([`TlsListener`] is an `axum::serve::Listener`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Whether clients must present a certificate (RabbitMQ's
/// `fail_if_no_peer_cert`). Only meaningful with a client CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientCert {
    /// Verified when presented; clients without one may still log in
    /// with PLAIN.
    Optional,
    /// The handshake fails without a valid client certificate.
    Required,
}

/// TLS flags.
#[derive(clap::Args, Debug, Clone)]
pub struct TlsArgs {
    /// Server certificate chain (PEM). With `--tls-key`, enables AMQPS
    /// (`--amqps-bind`, default port 5671) and HTTPS/WSS (`--https-bind`,
    /// default port 15671).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The server certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// CA certificates (PEM) that client certificates are verified
    /// against. A verified certificate's CN can log in with EXTERNAL.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_ca: Option<PathBuf>,

    /// With `--tls-ca`: whether a client certificate is required.
    #[arg(long, value_name = "MODE", value_enum, default_value = "optional")]
    pub tls_client_cert: ClientCert,

    /// A TLS handshake must finish within this many ms (RabbitMQ's
    /// `ssl_handshake_timeout`).
    #[arg(long, value_name = "MS", default_value_t = 5_000)]
    pub tls_handshake_timeout_ms: u64,
}

/// A server side ready to accept TLS connections.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    timeout: Duration,
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(path)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not PEM certificates: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", path.display()));
    }
    Ok(certs)
}

impl Tls {
    /// From the flags; `None` when TLS is not configured.
    pub fn from_args(args: &TlsArgs) -> Result<Option<Tls>, String> {
        let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else { return Ok(None) };
        let chain = certificates(cert)?;
        let key = PrivateKeyDer::from_pem_slice(&read(key)?).map_err(|e| format!("{}: no private key: {e}", key.display()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?;
        let builder = match &args.tls_ca {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for c in certificates(ca)? {
                    roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = match args.tls_client_cert {
                    ClientCert::Optional => verifier.allow_unauthenticated(),
                    ClientCert::Required => verifier,
                };
                builder.with_client_cert_verifier(verifier.build().map_err(|e| format!("TLS client verification: {e}"))?)
            }
            None => builder.with_no_client_auth(),
        };
        let config = builder.with_single_cert(chain, key).map_err(|e| format!("TLS certificate and key: {e}"))?;
        Ok(Some(Tls { acceptor: TlsAcceptor::from(Arc::new(config)), timeout: Duration::from_millis(args.tls_handshake_timeout_ms) }))
    }

    /// The server handshake, bounded by the handshake timeout. Returns the
    /// stream and the verified client certificate's CN, if any.
    pub async fn accept(&self, tcp: TcpStream) -> Result<(TlsStream<TcpStream>, Option<String>), String> {
        match tokio::time::timeout(self.timeout, self.acceptor.accept(tcp)).await {
            Err(_) => Err(format!("TLS handshake timed out after {:?}", self.timeout)),
            Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
            Ok(Ok(stream)) => {
                let cn = stream.get_ref().1.peer_certificates().and_then(|c| c.first()).and_then(|c| common_name(c));
                Ok((stream, cn))
            }
        }
    }
}

/// The first CN of a DER certificate's subject.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

/// AMQPS: accepts TCP connections, runs each TLS handshake on its own task
/// (a slow handshake never holds up the next accept), then serves the
/// connection exactly as a plain TCP one, logged in as the certificate's CN
/// when the client picks EXTERNAL.
pub async fn accept_loop(listener: TcpListener, tls: Tls, core: crate::core_task::CoreSender, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let (tls, core) = (tls.clone(), core.clone());
                    tokio::spawn(async move {
                        let _ = tcp.set_nodelay(true);
                        let local = tcp.local_addr().ok();
                        match tls.accept(tcp).await {
                            Ok((stream, cn)) => crate::tcp::serve_stream(stream, peer, local, cn, core).await,
                            Err(e) => tracing::info!("AMQPS connection from {peer}: {e}"),
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

/// HTTPS: a listener for `axum::serve` whose connections are TLS streams.
/// Handshakes run on their own tasks; finished ones queue up for `accept`.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    _acceptor: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub fn new(listener: TcpListener, tls: Tls) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((tcp, peer)) => {
                        let (tls, tx) = (tls.clone(), tx.clone());
                        tokio::spawn(async move {
                            let _ = tcp.set_nodelay(true);
                            match tls.accept(tcp).await {
                                Ok((stream, _)) => {
                                    let _ = tx.send((stream, peer)).await;
                                }
                                Err(e) => tracing::debug!("HTTPS connection from {peer}: {e}"),
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
        Ok(TlsListener { ready, local, _acceptor: acceptor })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self._acceptor.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept task never ends while we hold its handle.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_name_of_a_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.distinguished_name.push(rcgen::DnType::OrganizationName, "Warren");
        params.distinguished_name.push(rcgen::DnType::CommonName, "alice");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(common_name(cert.der()).as_deref(), Some("alice"));
        assert_eq!(common_name(b"not a certificate"), None);
    }
}
