//! AMQPS, HTTPS and WSS: a test PKI made with rcgen (a CA, a server
//! certificate for 127.0.0.1/localhost, client certificates whose CN names a
//! user), clients on tokio-rustls with hand-encoded AMQP:
//!
//! * PLAIN over AMQPS without a client certificate (verification optional);
//! * EXTERNAL with a client certificate: logged in as its CN; refused (403)
//!   when no such user exists; a certificate from another CA fails the
//!   handshake;
//! * with `--tls-client-cert required`, a client without a certificate never
//!   gets to AMQP;
//! * a peer that never starts the TLS handshake is dropped after the TLS
//!   handshake timeout;
//! * HTTPS `/api/overview` (listing the `amqp/ssl` and `https` listeners) and
//!   AMQP over WSS.
//!
//! Warren only (it starts its own brokers with TLS flags).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use broker_core::amqp::frame::{take_frame, write_body, write_content_header, write_method};
use broker_core::amqp::method::*;
use broker_core::amqp::{FieldTable, FieldValue, Frame, Method, PROTOCOL_HEADER};
use bytes::{Bytes, BytesMut};
use common::{within, Broker};
use futures_util::{SinkExt, StreamExt};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

/// A client identity: certificate and key, DER.
struct Identity {
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

/// The test PKI, written to `dir` as PEM files for warren.
struct Pki {
    dir: tempfile::TempDir,
    ca: CertificateDer<'static>,
    carol: Identity,
    nobody: Identity,
    stranger: Identity,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn client(issuer: &CertifiedIssuer<'static, KeyPair>, cn: &str) -> Identity {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::OrganizationName, "Warren tests");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    Identity { cert: cert.der().clone(), key: PrivateKeyDer::try_from(key.serialize_der()).unwrap() }
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let authority = ca("Warren test CA");
        let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let server = params.signed_by(&key, &authority).unwrap();
        std::fs::write(dir.path().join("server.pem"), server.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("ca.pem"), authority.pem()).unwrap();
        let other = ca("Some other CA");
        Pki {
            ca: authority.der().clone(),
            carol: client(&authority, "carol"),
            nobody: client(&authority, "nobody"),
            stranger: client(&other, "carol"),
            dir,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// Starts warren with TLS on loopback, the user carol, and `extra` flags.
    fn start(&self, extra: &[&str]) -> Tls {
        let (cert, key, ca) = (self.path("server.pem"), self.path("server.key"), self.path("ca.pem"));
        let mut args = vec![
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--tls-ca",
            &ca,
            "--amqps-bind",
            "127.0.0.1:0",
            "--https-bind",
            "127.0.0.1:0",
            "--amqp-bind",
            "127.0.0.1:0",
            "--user",
            "carol:pw",
            "--permission",
            "carol:/:.*:.*:.*",
        ];
        args.extend_from_slice(extra);
        let broker = Broker::start_on(&self.dir.path().join(common::unique("data")), &args);
        let port = |prefix: &str| {
            broker.startup.iter().find_map(|l| l.strip_prefix(prefix)).and_then(|a| a.rsplit(':').next()?.parse::<u16>().ok())
        };
        let amqps = port("warren: AMQPS listening on ").expect("an AMQPS listener");
        let https = port("warren: HTTPS listening on ").expect("an HTTPS listener");
        Tls { broker, amqps, https }
    }

    fn client_config(&self, identity: Option<&Identity>) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        Arc::new(match identity {
            Some(id) => builder.with_client_auth_cert(vec![id.cert.clone()], id.key.clone_key()).unwrap(),
            None => builder.with_no_client_auth(),
        })
    }
}

struct Tls {
    broker: Broker,
    amqps: u16,
    https: u16,
}

async fn tls_connect(port: u16, config: Arc<rustls::ClientConfig>) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from("localhost").unwrap();
    within("TLS handshake", TlsConnector::from(config).connect(name, tcp)).await
}

/// A hand-encoded AMQP client on any byte stream.
struct Amqp<S> {
    io: S,
    buf: BytesMut,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Amqp<S> {
    async fn send_method(&mut self, channel: u16, m: impl Into<Method>) {
        let mut b = BytesMut::new();
        write_method(&mut b, channel, &m.into());
        self.io.write_all(&b).await.unwrap();
    }

    /// The next frame, or None once the peer has closed (or reset).
    async fn frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(raw) = take_frame(&mut self.buf, 0).expect("well-formed frame") {
                return Some(Frame::decode(raw).expect("decodable frame"));
            }
            match within("a frame", self.io.read_buf(&mut self.buf)).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    async fn method(&mut self) -> Method {
        match self.frame().await {
            Some(Frame::Method { method, .. }) => method,
            other => panic!("expected a method, got {other:?}"),
        }
    }

    /// Header, start, start-ok with `mechanism`/`response`; returns the
    /// mechanisms offered and what came after start-ok (tune, or a close).
    async fn login(&mut self, mechanism: &str, response: &[u8]) -> (String, Method) {
        self.io.write_all(&PROTOCOL_HEADER).await.unwrap();
        let Method::ConnectionStart(start) = self.method().await else { panic!("expected connection.start") };
        let caps = FieldTable::from([("authentication_failure_close", FieldValue::Bool(true))]);
        self.send_method(
            0,
            ConnectionStartOk {
                client_properties: FieldTable::from([("capabilities", FieldValue::Table(caps))]),
                mechanism: mechanism.into(),
                response: Bytes::copy_from_slice(response),
                locale: "en_US".into(),
            },
        )
        .await;
        (String::from_utf8_lossy(&start.mechanisms).into_owned(), self.method().await)
    }

    /// tune-ok, open, a channel, then a queue round trip.
    async fn open_and_use(&mut self, tune: Method) {
        let Method::ConnectionTune(t) = tune else { panic!("expected connection.tune, got {tune:?}") };
        self.send_method(0, ConnectionTuneOk { channel_max: t.channel_max, frame_max: t.frame_max, heartbeat: 0 }).await;
        self.send_method(0, ConnectionOpen { virtual_host: "/".into(), ..Default::default() }).await;
        assert!(matches!(self.method().await, Method::ConnectionOpenOk(_)));
        self.send_method(1, ChannelOpen::default()).await;
        assert!(matches!(self.method().await, Method::ChannelOpenOk(_)));
        self.send_method(1, QueueDeclare { queue: "".into(), exclusive: true, ..Default::default() }).await;
        let Method::QueueDeclareOk(ok) = self.method().await else { panic!("expected declare-ok") };
        let mut b = BytesMut::new();
        write_method(&mut b, 1, &BasicPublish { routing_key: ok.queue.clone(), ..Default::default() }.into());
        write_content_header(&mut b, 1, 60, 5, &[0, 0]);
        write_body(&mut b, 1, b"hello", t.frame_max);
        self.io.write_all(&b).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            self.send_method(1, BasicGet { queue: ok.queue.clone(), no_ack: true, ..Default::default() }).await;
            match self.method().await {
                Method::BasicGetOk(_) => break,
                Method::BasicGetEmpty(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(10)).await,
                other => panic!("expected get-ok, got {other:?}"),
            }
        }
        assert!(matches!(self.frame().await, Some(Frame::Header { .. })));
        assert!(matches!(self.frame().await, Some(Frame::Body { payload, .. }) if payload == Bytes::from_static(b"hello")));
    }
}

/// Who the broker thinks the connections are (`/api/connections` over HTTPS).
async fn connection_users(tls: &Tls, config: Arc<rustls::ClientConfig>) -> Vec<String> {
    let (status, body) = https_get(tls.https, config, "/api/connections").await;
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    list.as_array().unwrap().iter().map(|c| c["user"].as_str().unwrap_or("").to_string()).collect()
}

/// GET over HTTPS with guest's credentials; returns status and body.
async fn https_get(port: u16, config: Arc<rustls::ClientConfig>, path: &str) -> (u16, String) {
    let mut s = tls_connect(port, config).await.expect("HTTPS handshake");
    let auth = "Z3Vlc3Q6Z3Vlc3Q="; // guest:guest
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic {auth}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = within("HTTPS response", s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    // Chunked bodies: keep only the JSON between the chunk sizes.
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body.split("\r\n").enumerate().filter(|(i, _)| i % 2 == 1).map(|(_, c)| c).collect::<String>()
    } else {
        body.to_string()
    };
    (status, body)
}

#[tokio::test]
async fn amqps_with_plain_and_external() {
    if std::env::var("WARREN_TEST_AMQP_URL").is_ok_and(|u| !u.is_empty()) {
        return;
    }
    let pki = Pki::new();
    let tls = pki.start(&[]);

    // No client certificate (optional): PLAIN works, EXTERNAL is not offered.
    let io = tls_connect(tls.amqps, pki.client_config(None)).await.expect("handshake without a client certificate");
    let mut plain = Amqp { io, buf: BytesMut::new() };
    let (mechanisms, tune) = plain.login("PLAIN", b"\0carol\0pw").await;
    assert!(!mechanisms.contains("EXTERNAL"), "{mechanisms}");
    plain.open_and_use(tune).await;

    // carol's certificate: EXTERNAL first, and it logs in as carol.
    let io = tls_connect(tls.amqps, pki.client_config(Some(&pki.carol))).await.expect("handshake with carol's certificate");
    let mut external = Amqp { io, buf: BytesMut::new() };
    let (mechanisms, tune) = external.login("EXTERNAL", b"").await;
    assert!(mechanisms.starts_with("EXTERNAL "), "{mechanisms}");
    external.open_and_use(tune).await;
    let users = connection_users(&tls, pki.client_config(None)).await;
    assert_eq!(users.iter().filter(|u| *u == "carol").count(), 2, "{users:?}");

    // A certificate for a user that does not exist: 403.
    let io = tls_connect(tls.amqps, pki.client_config(Some(&pki.nobody))).await.expect("handshake with nobody's certificate");
    let mut nobody = Amqp { io, buf: BytesMut::new() };
    match nobody.login("EXTERNAL", b"").await.1 {
        Method::ConnectionClose(c) => assert_eq!(c.reply_code, 403, "{c:?}"),
        other => panic!("expected 403, got {other:?}"),
    }

    // A certificate from another CA: no AMQP at all.
    let refused = match tls_connect(tls.amqps, pki.client_config(Some(&pki.stranger))).await {
        Err(_) => true,
        // TLS 1.3: the client finishes first and learns of the refusal on its next read.
        Ok(io) => {
            let mut a = Amqp { io, buf: BytesMut::new() };
            let _ = a.io.write_all(&PROTOCOL_HEADER).await;
            a.frame().await.is_none()
        }
    };
    assert!(refused, "a certificate from another CA was accepted");

    // Plain AMQP still works next to it.
    let io = TcpStream::connect(("127.0.0.1", tls.broker.port)).await.unwrap();
    let mut tcp = Amqp { io, buf: BytesMut::new() };
    let (_, tune) = tcp.login("PLAIN", b"\0carol\0pw").await;
    tcp.open_and_use(tune).await;
}

#[tokio::test]
async fn required_client_certificates_refuse_clients_without_one() {
    if std::env::var("WARREN_TEST_AMQP_URL").is_ok_and(|u| !u.is_empty()) {
        return;
    }
    let pki = Pki::new();
    let tls = pki.start(&["--tls-client-cert", "required"]);
    let refused = match tls_connect(tls.amqps, pki.client_config(None)).await {
        Err(_) => true,
        Ok(io) => {
            let mut a = Amqp { io, buf: BytesMut::new() };
            let _ = a.io.write_all(&PROTOCOL_HEADER).await;
            a.frame().await.is_none()
        }
    };
    assert!(refused, "a client without a certificate got through");
    // With one, PLAIN and EXTERNAL both work.
    let io = tls_connect(tls.amqps, pki.client_config(Some(&pki.carol))).await.unwrap();
    let mut a = Amqp { io, buf: BytesMut::new() };
    let (_, tune) = a.login("PLAIN", b"\0carol\0pw").await;
    a.open_and_use(tune).await;
    let io = tls_connect(tls.amqps, pki.client_config(Some(&pki.carol))).await.unwrap();
    let mut b = Amqp { io, buf: BytesMut::new() };
    let (_, tune) = b.login("EXTERNAL", b"").await;
    b.open_and_use(tune).await;
}

#[tokio::test]
async fn a_peer_that_never_starts_tls_is_dropped() {
    if std::env::var("WARREN_TEST_AMQP_URL").is_ok_and(|u| !u.is_empty()) {
        return;
    }
    let pki = Pki::new();
    let tls = pki.start(&["--tls-handshake-timeout-ms", "500"]);
    let mut silent = TcpStream::connect(("127.0.0.1", tls.amqps)).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = within("the broker to hang up", silent.read(&mut buf)).await.unwrap_or(0);
    assert_eq!(n, 0);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(400) && waited < Duration::from_secs(5), "{waited:?}");
    // Meanwhile and after, TLS clients are served.
    let io = tls_connect(tls.amqps, pki.client_config(None)).await.unwrap();
    let mut a = Amqp { io, buf: BytesMut::new() };
    let (_, tune) = a.login("PLAIN", b"\0carol\0pw").await;
    a.open_and_use(tune).await;
}

#[tokio::test]
async fn https_api_and_amqp_over_wss() {
    if std::env::var("WARREN_TEST_AMQP_URL").is_ok_and(|u| !u.is_empty()) {
        return;
    }
    let pki = Pki::new();
    let tls = pki.start(&[]);
    let (status, body) = https_get(tls.https, pki.client_config(None), "/api/overview").await;
    assert_eq!(status, 200, "{body}");
    let overview: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let protocols: Vec<&str> = overview["listeners"].as_array().unwrap().iter().filter_map(|l| l["protocol"].as_str()).collect();
    assert!(protocols.contains(&"amqp/ssl") && protocols.contains(&"https"), "{protocols:?}");

    // AMQP over WSS: TLS first, then the WebSocket upgrade on that stream.
    let io = tls_connect(tls.https, pki.client_config(None)).await.unwrap();
    let url = format!("wss://localhost:{}/", tls.https);
    let (mut ws, _) = within("WSS upgrade", tokio_tungstenite::client_async(url, io)).await.expect("WebSocket over TLS");
    ws.send(Message::Binary(Bytes::from_static(&PROTOCOL_HEADER))).await.unwrap();
    let mut buf = BytesMut::new();
    let mut next = async |ws: &mut tokio_tungstenite::WebSocketStream<TlsStream<TcpStream>>| loop {
        if let Some(raw) = take_frame(&mut buf, 0).unwrap() {
            return Frame::decode(raw).unwrap();
        }
        match within("a WebSocket message", ws.next()).await {
            Some(Ok(Message::Binary(b))) => buf.extend_from_slice(&b),
            other => panic!("expected a binary message, got {other:?}"),
        }
    };
    assert!(matches!(next(&mut ws).await, Frame::Method { method: Method::ConnectionStart(_), .. }));
    let mut b = BytesMut::new();
    write_method(
        &mut b,
        0,
        &ConnectionStartOk {
            client_properties: FieldTable::new(),
            mechanism: "PLAIN".into(),
            response: Bytes::from_static(b"\0carol\0pw"),
            locale: "en_US".into(),
        }
        .into(),
    );
    ws.send(Message::Binary(b.freeze())).await.unwrap();
    let Frame::Method { method: Method::ConnectionTune(t), .. } = next(&mut ws).await else { panic!("expected tune") };
    let mut b = BytesMut::new();
    write_method(&mut b, 0, &ConnectionTuneOk { channel_max: t.channel_max, frame_max: t.frame_max, heartbeat: 0 }.into());
    write_method(&mut b, 0, &ConnectionOpen { virtual_host: "/".into(), ..Default::default() }.into());
    ws.send(Message::Binary(b.freeze())).await.unwrap();
    assert!(matches!(next(&mut ws).await, Frame::Method { method: Method::ConnectionOpenOk(_), .. }));
}
