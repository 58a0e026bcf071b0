//! The one task that owns the broker. Connection tasks send it what they
//! read; it feeds the core, then hands each connection's output to that
//! connection's writer. Inputs are taken in batches so one pass of output
//! covers many frames (many frames per write syscall).
//!
//! Management (the HTTP API, metrics) reaches the broker through a
//! [`CoreHandle`]: a closure run on this task with `&mut Broker`, its result
//! sent back. Closures should only take snapshots or run one operation;
//! shaping JSON happens in the caller's task.

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
    /// Runs a closure on the broker (management). Output it causes (e.g. a
    /// connection.close) is flushed like any other input's.
    Call(Box<dyn FnOnce(&mut Broker) + Send>),
}

/// A cloneable way for other tasks to run code on the broker.
#[derive(Clone)]
pub struct CoreHandle {
    inputs: mpsc::Sender<Input>,
}

/// The core task is gone (the broker is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreGone;

impl CoreHandle {
    pub fn new(inputs: mpsc::Sender<Input>) -> Self {
        CoreHandle { inputs }
    }

    /// Runs `f` on the core task and returns its result.
    pub async fn call<R: Send + 'static>(&self, f: impl FnOnce(&mut Broker) -> R + Send + 'static) -> Result<R, CoreGone> {
        let (tx, rx) = oneshot::channel();
        let job = Box::new(move |broker: &mut Broker| {
            let _ = tx.send(f(broker));
        });
        self.inputs.send(Input::Call(job)).await.map_err(|_| CoreGone)?;
        rx.await.map_err(|_| CoreGone)
    }
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
        Input::Call(f) => {
            // Brings the broker's clock (and due timers) up to date, so rates
            // and operations see the present, not the last input's time.
            broker.handle_timeout(now_ms());
            f(broker);
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
            // Resource alarms are wired with the durability work.
            Event::PauseReading { .. } | Event::ResumeReading { .. } => {}
        }
    }
}
