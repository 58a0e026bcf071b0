//! The one task that owns the broker. Connection tasks send it what they
//! read; it feeds the core, then hands each connection's output to that
//! connection's writer. Inputs are taken in batches so one pass of output
//! covers many frames (many frames per write syscall).

use bytes::Bytes;
use broker_core::{Broker, Config, ConnectionId, Event, PeerInfo};
use rustc_hash::FxHashMap;
use tokio::sync::{mpsc, oneshot, watch};

use crate::clock::{instant_at, now_ms};

/// What connection tasks tell the core.
pub enum Input {
    Connected { peer: PeerInfo, writer: mpsc::UnboundedSender<Bytes>, reply: oneshot::Sender<ConnectionId> },
    Data { connection: ConnectionId, data: Bytes },
    Written { connection: ConnectionId, bytes: usize },
    Disconnected { connection: ConnectionId },
}

/// Most inputs handled before output is flushed.
const BATCH: usize = 512;

pub async fn run(config: Config, mut inputs: mpsc::Receiver<Input>, mut shutdown: watch::Receiver<bool>) {
    let mut broker = Broker::new(config, now_ms());
    let mut writers: FxHashMap<ConnectionId, mpsc::UnboundedSender<Bytes>> = FxHashMap::default();
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let deadline = broker.poll_timeout();
        tokio::select! {
            n = inputs.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    break;
                }
                for input in batch.drain(..) {
                    handle_input(&mut broker, &mut writers, input);
                }
            }
            _ = tokio::time::sleep_until(instant_at(deadline.unwrap_or(0)).into()), if deadline.is_some() => {
                broker.handle_timeout(now_ms());
            }
            _ = shutdown.changed() => {
                broker.handle_shutdown(now_ms());
                drain_output(&mut broker, &mut writers);
                break;
            }
        }
        drain_output(&mut broker, &mut writers);
    }
    // Dropping the writers lets each connection flush what it has and close.
    writers.clear();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}

fn handle_input(broker: &mut Broker, writers: &mut FxHashMap<ConnectionId, mpsc::UnboundedSender<Bytes>>, input: Input) {
    match input {
        Input::Connected { peer, writer, reply } => {
            let id = broker.handle_connect(now_ms(), peer);
            writers.insert(id, writer);
            let _ = reply.send(id);
        }
        Input::Data { connection, data } => broker.handle_bytes(connection, now_ms(), data),
        Input::Written { connection, bytes } => broker.handle_written(connection, bytes),
        Input::Disconnected { connection } => {
            writers.remove(&connection);
            broker.handle_disconnect(connection, now_ms());
        }
    }
}

fn drain_output(broker: &mut Broker, writers: &mut FxHashMap<ConnectionId, mpsc::UnboundedSender<Bytes>>) {
    while let Some(t) = broker.poll_transmit() {
        if let Some(w) = writers.get(&t.connection) {
            let _ = w.send(t.data);
        }
    }
    while let Some(event) = broker.poll_event() {
        match event {
            Event::Closed { connection, reason } => {
                if !reason.is_empty() {
                    tracing::info!(connection = connection.as_u64(), "closing connection: {reason}");
                }
                // The writer flushes what it was given, then closes the socket.
                writers.remove(&connection);
            }
        }
    }
}
