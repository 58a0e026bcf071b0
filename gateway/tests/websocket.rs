//! AMQP 0-9-1 over WebSocket on warren's HTTP port, driven by a
//! tokio-tungstenite client with hand-encoded frames: the byte stream may be
//! cut anywhere between messages, each message from warren holds whole
//! frames, the subprotocol rules hold on raw handshakes, and the transport
//! closes with the right WebSocket close codes.
//!
//! Against an external broker (`WARREN_TEST_AMQP_URL`) these run only when
//! `WARREN_TEST_HTTP_URL` names its HTTP port.

mod common;

use broker_core::amqp::frame::{take_frame, write_method};
use broker_core::amqp::method::*;
use broker_core::amqp::{FieldTable, Frame, Method, PROTOCOL_HEADER};
use bytes::{Bytes, BytesMut};
use common::{within, Broker};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// The broker's `ws://host:port`, or None (test skipped) when it has no known HTTP port.
fn ws_base(broker: &Broker) -> Option<String> {
    match &broker.http_url {
        Some(http) => Some(http.replacen("http", "ws", 1)),
        None => {
            eprintln!("skipped: no HTTP URL for this broker (set WARREN_TEST_HTTP_URL)");
            None
        }
    }
}

/// Reads warren's messages into `buf` until one whole frame is there and
/// decodes it. Every message must end on a frame boundary.
async fn next_frame(ws: &mut Ws, buf: &mut BytesMut) -> Frame {
    loop {
        if let Some(raw) = take_frame(buf, 0).expect("well-formed frame") {
            return Frame::decode(raw).expect("decodable frame");
        }
        assert!(buf.is_empty(), "a WebSocket message ended inside a frame: {buf:?}");
        match within("a message from warren", ws.next()).await {
            Some(Ok(Message::Binary(data))) => buf.extend_from_slice(&data),
            other => panic!("expected a binary message, got {other:?}"),
        }
    }
}

async fn next_method(ws: &mut Ws, buf: &mut BytesMut) -> Method {
    match next_frame(ws, buf).await {
        Frame::Method { channel: _, method } => method,
        other => panic!("expected a method frame, got {other:?}"),
    }
}

/// Sends `bytes` as consecutive binary messages cut at the given lengths
/// (the rest goes in a last message).
async fn send_in_pieces(ws: &mut Ws, mut bytes: Bytes, cuts: &[usize]) {
    for &n in cuts {
        let n = n.min(bytes.len());
        ws.send(Message::Binary(bytes.split_to(n))).await.expect("send");
    }
    if !bytes.is_empty() {
        ws.send(Message::Binary(bytes)).await.expect("send");
    }
}

fn encode(methods: &[(u16, Method)]) -> Bytes {
    let mut out = BytesMut::new();
    for (channel, m) in methods {
        write_method(&mut out, *channel, m);
    }
    out.freeze()
}

#[tokio::test]
async fn handshake_over_arbitrary_message_boundaries() {
    let broker = Broker::start();
    let Some(base) = ws_base(&broker) else { return };
    let (mut ws, response) = within("ws connect", connect_async(format!("{base}/ws/amqp"))).await.expect("upgrade");
    assert!(response.headers().get("sec-websocket-protocol").is_none(), "no subprotocol was offered");
    let mut inbox = BytesMut::new();

    // The protocol header alone in its own message.
    ws.send(Message::Binary(Bytes::from_static(&PROTOCOL_HEADER))).await.expect("send");
    let Method::ConnectionStart(start) = next_method(&mut ws, &mut inbox).await else { panic!("expected connection.start") };
    assert_eq!((start.version_major, start.version_minor), (0, 9));
    assert!(start.mechanisms.split(|b| *b == b' ').any(|m| m == b"PLAIN"));

    // start-ok cut into 1, 2, 4 and 7 octets and the rest.
    let start_ok = encode(&[(
        0,
        ConnectionStartOk {
            client_properties: FieldTable::new(),
            mechanism: "PLAIN".into(),
            response: Bytes::from(format!("\0{}\0{}", broker.user, broker.password)),
            locale: "en_US".into(),
        }
        .into(),
    )]);
    send_in_pieces(&mut ws, start_ok, &[1, 2, 4, 7]).await;
    let Method::ConnectionTune(tune) = next_method(&mut ws, &mut inbox).await else { panic!("expected connection.tune") };

    // tune-ok, open and channel.open as one byte string, cut mid-frame and mid-header.
    let rest = encode(&[
        (0, ConnectionTuneOk { channel_max: tune.channel_max, frame_max: tune.frame_max, heartbeat: 0 }.into()),
        (0, ConnectionOpen { virtual_host: broker.vhost.as_str().into(), capabilities: "".into(), insist: false }.into()),
        (1, ChannelOpen { out_of_band: "".into() }.into()),
    ]);
    send_in_pieces(&mut ws, rest, &[3, 1, 17, 9, 2]).await;
    assert!(matches!(next_method(&mut ws, &mut inbox).await, Method::ConnectionOpenOk(_)));
    assert!(matches!(next_method(&mut ws, &mut inbox).await, Method::ChannelOpenOk(_)));

    // A queue round trip on channel 1, several frames in one message.
    let queue = common::unique("ws-rust");
    let declare = encode(&[
        (1, QueueDeclare { queue: queue.as_str().into(), exclusive: true, ..Default::default() }.into()),
        (1, BasicGet { queue: queue.as_str().into(), no_ack: true, ..Default::default() }.into()),
    ]);
    ws.send(Message::Binary(declare)).await.expect("send");
    let Method::QueueDeclareOk(ok) = next_method(&mut ws, &mut inbox).await else { panic!("expected queue.declare-ok") };
    assert_eq!((&*ok.queue, ok.message_count, ok.consumer_count), (queue.as_str(), 0, 0));
    assert!(matches!(next_method(&mut ws, &mut inbox).await, Method::BasicGetEmpty(_)));

    // connection.close: close-ok, then warren's WebSocket close frame (1000).
    let close = encode(&[(0, ConnectionClose { reply_code: 200, reply_text: "bye".into(), class_id: 0, method_id: 0 }.into())]);
    ws.send(Message::Binary(close)).await.expect("send");
    assert!(matches!(next_method(&mut ws, &mut inbox).await, Method::ConnectionCloseOk(_)));
    match within("close frame", ws.next()).await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Normal),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn offered_amqp_subprotocol_is_accepted_by_the_client() {
    let broker = Broker::start();
    let Some(base) = ws_base(&broker) else { return };
    let mut request = format!("{base}/").into_client_request().expect("request");
    request.headers_mut().insert("sec-websocket-protocol", "amqp".parse().unwrap());
    let (mut ws, response) = within("ws connect", connect_async(request)).await.expect("upgrade");
    assert_eq!(response.headers().get("sec-websocket-protocol").map(|v| v.to_str().unwrap()), Some("amqp"));
    ws.send(Message::Binary(Bytes::from_static(&PROTOCOL_HEADER))).await.expect("send");
    let mut inbox = BytesMut::new();
    assert!(matches!(next_method(&mut ws, &mut inbox).await, Method::ConnectionStart(_)));
}

#[tokio::test]
async fn a_text_message_closes_with_1003() {
    let broker = Broker::start();
    let Some(base) = ws_base(&broker) else { return };
    let (mut ws, _) = within("ws connect", connect_async(format!("{base}/ws"))).await.expect("upgrade");
    ws.send(Message::Text("AMQP\0\0\u{9}\u{1}".into())).await.expect("send");
    match within("close frame", ws.next()).await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Unsupported),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// Sends a raw HTTP/1.1 request to `http_url` and returns (status, lowercase
/// headers, body) of the answer; for a 101 the body is not read.
async fn raw_request(http_url: &str, request: String) -> (u16, Vec<(String, String)>, String) {
    let addr = http_url.trim_start_matches("http://");
    let mut tcp = within("tcp connect", tokio::net::TcpStream::connect(addr)).await.expect("connect");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = within("response", tcp.read(&mut chunk)).await.expect("read");
        assert!(n > 0, "connection closed before the response head: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(got[..head_end].to_vec()).expect("ascii head");
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())).collect();
    let mut body = got[head_end + 4..].to_vec();
    if status != 101 {
        let len: usize = headers.iter().find(|(k, _)| k == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
        while body.len() < len {
            let n = within("body", tcp.read(&mut chunk)).await.expect("read");
            assert!(n > 0);
            body.extend_from_slice(&chunk[..n]);
        }
    }
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn upgrade_request(path: &str, protocols: Option<&str>) -> String {
    let mut r = format!(
        "GET {path} HTTP/1.1\r\nHost: warren\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    if let Some(p) = protocols {
        r.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    r + "\r\n"
}

#[tokio::test]
async fn subprotocol_rules_on_raw_handshakes() {
    let broker = Broker::start();
    let Some(http) = broker.http_url.clone() else { return };
    let cases: [(Option<&str>, Option<&str>); 6] = [
        (None, None),
        (Some("amqp"), Some("amqp")),
        (Some("amqpws"), Some("amqpws")),
        (Some("mqtt, amqpws, amqp"), Some("amqpws")),
        (Some("mqtt"), None),
        (Some("v12.stomp, xmpp"), None),
    ];
    for path in ["/", "/ws", "/ws/amqp", "/some/other/path"] {
        for (offered, echoed) in cases {
            let (status, headers, _) = raw_request(&http, upgrade_request(path, offered)).await;
            assert_eq!(status, 101, "{path} offering {offered:?}");
            let protocols: Vec<&str> = headers.iter().filter(|(k, _)| k == "sec-websocket-protocol").map(|(_, v)| v.as_str()).collect();
            assert_eq!(protocols, echoed.into_iter().collect::<Vec<_>>(), "{path} offering {offered:?}");
            assert!(headers.iter().any(|(k, v)| k == "sec-websocket-accept" && v == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        }
    }
}

#[tokio::test]
async fn api_paths_answer_json_404_even_to_upgrades() {
    let broker = Broker::start();
    let Some(http) = broker.http_url.clone() else { return };
    // Unknown API paths: RabbitMQ's 404 body, never a WebSocket.
    for path in ["/api", "/api/", "/api/ws", "/api/queues/%2f/q/no/such/thing"] {
        for request in [format!("GET {path} HTTP/1.1\r\nHost: warren\r\nConnection: close\r\n\r\n"), upgrade_request(path, Some("amqp"))] {
            let (status, headers, body) = raw_request(&http, request).await;
            assert_eq!(status, 404, "{path}");
            assert!(headers.iter().any(|(k, v)| k == "content-type" && v == "application/json"), "{path}: {headers:?}");
            assert_eq!(body, r#"{"error":"Object Not Found","reason":"Not Found"}"#);
        }
    }
    // A real endpoint wants credentials, upgrade or not.
    let (status, _, _) = raw_request(&http, upgrade_request("/api/overview", Some("amqp"))).await;
    assert_eq!(status, 401);
}
