//! AMQP 0-9-1 over WebSocket (RFC 6455): just another byte transport.
//!
//! The payloads of the client's binary messages, in order, are one byte
//! stream, fed to the core exactly as TCP reads are: the 8-byte protocol
//! header may arrive alone, and a message may hold part of a frame or many
//! frames (the core reassembles). Each output chunk the core hands us goes
//! out as one binary message; chunks always hold whole frames, each within
//! the negotiated frame_max, which is what clients such as
//! `@cloudamqp/amqp-client` parse (they also accept several frames per
//! message). No AMQP logic lives here.
//!
//! As in [`crate::tcp`], reading and writing are separate tasks, so a peer
//! that is slow to read never stops us reading from it.

use std::net::SocketAddr;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use broker_core::{ConnectionId, PeerAddress, PeerInfo, Transport};
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};

use crate::core_task::{CoreSender, Input};

/// Output chunks gathered before one flush.
const MAX_GATHER: usize = 64;
/// How long we wait for the peer's close reply after our close frame.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);
/// Close code for a text message: RFC 6455 1003, "unsupported data".
const UNSUPPORTED_DATA: u16 = 1003;
/// Close code once the AMQP connection is over: 1000, "normal closure".
const NORMAL: u16 = 1000;

/// Answers the upgrade. The subprotocol rule: none is required; if the
/// client offers some and one starts with `amqp` (`amqp`, `amqpws`, ...),
/// the first such one is echoed; otherwise no `Sec-WebSocket-Protocol` is
/// sent at all (browsers drop a connection whose answer names a protocol
/// they did not offer).
pub fn accept(mut upgrade: WebSocketUpgrade, headers: &HeaderMap, peer: SocketAddr, core: CoreSender) -> Response {
    if let Some(protocol) = amqp_subprotocol(headers) {
        upgrade.set_selected_protocol(protocol);
    }
    upgrade.on_upgrade(move |socket| serve(socket, peer, core))
}

/// The first offered subprotocol starting with `amqp`, in the client's order.
fn amqp_subprotocol(headers: &HeaderMap) -> Option<HeaderValue> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|p| p.len() >= 4 && p.as_bytes()[..4].eq_ignore_ascii_case(b"amqp"))
        .and_then(|p| HeaderValue::from_str(p).ok())
}

async fn serve(socket: WebSocket, peer: SocketAddr, core: CoreSender) {
    let (writer_tx, writer_rx) = mpsc::unbounded_channel();
    let (reply_tx, reply_rx) = oneshot::channel();
    let info = PeerInfo {
        address: PeerAddress::Socket { peer, local: None },
        loopback: peer.ip().to_canonical().is_loopback(),
        transport: Transport::WebSocket,
    };
    let (pause_tx, paused) = tokio::sync::watch::channel(false);
    let connected =
        Input::Connected { peer: info, writer: writer_tx, pause: pause_tx, linger: None, reply: reply_tx, certificate_user: None };
    if core.send(connected).await.is_err() {
        return;
    }
    let Ok(id) = reply_rx.await else { return };
    let (sink, stream) = socket.split();
    let (violation_tx, violation_rx) = oneshot::channel();
    let mut reader = tokio::spawn(read_loop(stream, core.clone(), id, violation_tx, paused));
    write_loop(sink, writer_rx, violation_rx, core, id).await;
    // Our close frame is out: give the peer a moment to answer it (the
    // reader sees the reply), so the close handshake completes cleanly.
    if tokio::time::timeout(CLOSE_GRACE, &mut reader).await.is_err() {
        reader.abort();
    }
}

/// Feeds binary payloads to the core until the peer closes or breaks the
/// rules. A text message asks the writer to close with 1003.
async fn read_loop(
    mut stream: SplitStream<WebSocket>,
    core: CoreSender,
    id: ConnectionId,
    violation: oneshot::Sender<CloseFrame>,
    mut paused: tokio::sync::watch::Receiver<bool>,
) {
    let credit = std::sync::Arc::new(tokio::sync::Semaphore::new(crate::tcp::READ_AHEAD));
    loop {
        // Blocked by a resource alarm: leave the messages in the socket.
        if crate::tcp::wait_while_paused(&mut paused).await.is_err() {
            return;
        }
        // At most READ_AHEAD messages waiting in the core's queue.
        let Ok(permit) = credit.clone().acquire_owned().await else { return };
        let Some(message) = stream.next().await else { break };
        match message {
            Ok(Message::Binary(data)) => {
                if data.is_empty() {
                    continue;
                }
                if core.send(Input::Data { connection: id, data, credit: Some(permit) }).await.is_err() {
                    return;
                }
            }
            Ok(Message::Text(_)) => {
                let _ =
                    violation.send(CloseFrame { code: UNSUPPORTED_DATA, reason: "AMQP over WebSocket uses binary messages only".into() });
                break;
            }
            // tungstenite answers pings by itself.
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Ok(Message::Close(_)) | Err(_) => break,
        }
    }
    let _ = core.send(Input::Disconnected { connection: id }).await;
}

/// Sends each output chunk as one binary message and reports written bytes.
/// When the core drops our channel (the AMQP connection is over), or the
/// reader reports a violation, sends a close frame.
async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    mut violation: oneshot::Receiver<CloseFrame>,
    core: CoreSender,
    id: ConnectionId,
) {
    let mut pending: Vec<Bytes> = Vec::with_capacity(MAX_GATHER);
    let mut reader_alive = true;
    let close = loop {
        tokio::select! {
            biased;
            frame = &mut violation, if reader_alive => match frame {
                Ok(frame) => break frame,
                // The reader ended without a violation; the core will drop us.
                Err(_) => reader_alive = false,
            },
            n = rx.recv_many(&mut pending, MAX_GATHER) => {
                if n == 0 {
                    break CloseFrame { code: NORMAL, reason: "".into() };
                }
                let total: usize = pending.iter().map(Bytes::len).sum();
                if send_all(&mut sink, &mut pending).await.is_err() {
                    let _ = core.send(Input::Disconnected { connection: id }).await;
                    return;
                }
                if core.send(Input::Written { connection: id, bytes: total }).await.is_err() {
                    break CloseFrame { code: NORMAL, reason: "".into() };
                }
            }
        }
    };
    // If the peer closed first, tungstenite refuses our close frame but has
    // queued its reply to the peer's; `close` flushes either one.
    let _ = sink.send(Message::Close(Some(close))).await;
    let _ = sink.close().await;
}

/// Queues every chunk as its own binary message, then flushes once.
async fn send_all(sink: &mut SplitSink<WebSocket, Message>, pending: &mut Vec<Bytes>) -> Result<(), axum::Error> {
    for chunk in pending.drain(..) {
        sink.feed(Message::Binary(chunk)).await?;
    }
    sink.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(values: &[&'static str]) -> Option<String> {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(v));
        }
        amqp_subprotocol(&h).map(|v| v.to_str().unwrap().to_string())
    }

    #[test]
    fn subprotocol_selection() {
        assert_eq!(offered(&[]), None);
        assert_eq!(offered(&["mqtt"]), None);
        assert_eq!(offered(&["amqp"]).as_deref(), Some("amqp"));
        assert_eq!(offered(&["mqtt, amqpws"]).as_deref(), Some("amqpws"));
        // The client's order decides, across header lines too.
        assert_eq!(offered(&["xmpp", "AMQPWS,amqp"]).as_deref(), Some("AMQPWS"));
        assert_eq!(offered(&["amq"]), None);
    }
}
