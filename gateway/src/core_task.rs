//! The one task that owns the broker. Connection tasks send it what they
//! read; it feeds the core, then hands each connection's output to that
//! connection's writer. Inputs are taken in batches so one pass of output
//! covers many frames (many frames per write syscall).
//!
//! Management (the HTTP API, metrics) reaches the broker through a
//! [`CoreHandle`]: a closure run on this task with `&mut Broker`, its result
//! sent back. Closures should only take snapshots or run one operation;
//! shaping JSON happens in the caller's task.

use broker_core::{Alarm, Broker, ConnectionId, Event, PeerInfo};
use bytes::Bytes;
use rustc_hash::FxHashMap;
use tokio::sync::{mpsc, oneshot, watch};

use crate::clock::{instant_at, now_ms};
use crate::persistence::Durable;
use crate::resources::Reading;
use crate::store::{definitions, DataDir, Durability};

/// What connection tasks tell the core.
pub enum Input {
    /// A new connection: where its output goes, a switch the core flips to
    /// stop and resume reading from it (resource alarms), and where it is
    /// told how long to linger once finished (see `Event::Closed`; a
    /// transport with a closing handshake of its own passes `None`).
    /// `certificate_user` is the CN of a verified TLS client certificate: the
    /// connection then offers EXTERNAL and logs in as that user.
    Connected {
        peer: PeerInfo,
        writer: mpsc::UnboundedSender<Bytes>,
        pause: watch::Sender<bool>,
        linger: Option<oneshot::Sender<std::time::Duration>>,
        reply: oneshot::Sender<ConnectionId>,
        certificate_user: Option<String>,
    },
    /// Octets read from a connection. The reader holds back its next read
    /// until the core has handled this one (`credit` is released when the
    /// input is dropped), so one busy publisher cannot fill the input queue
    /// and delay everybody else's requests behind megabytes of its data.
    Data {
        connection: ConnectionId,
        data: Bytes,
        credit: Option<tokio::sync::OwnedSemaphorePermit>,
    },
    Written {
        connection: ConnectionId,
        bytes: usize,
    },
    Disconnected {
        connection: ConnectionId,
    },
    /// Runs a closure on the broker (management). Output it causes (e.g. a
    /// connection.close) is flushed like any other input's.
    Call(Box<dyn FnOnce(&mut Broker) + Send>),
}

/// How connection tasks reach the core. Data and new connections go on a
/// bounded channel (a reader waits when the core is behind: back-pressure);
/// write completions and disconnects go on an unbounded one the core reads
/// first, since they free delivery credit and must not queue behind bulk
/// input from publishers.
#[derive(Clone)]
pub struct CoreSender {
    inputs: mpsc::Sender<Input>,
    urgent: mpsc::UnboundedSender<Input>,
}

impl CoreSender {
    pub async fn send(&self, input: Input) -> Result<(), CoreGone> {
        match input {
            Input::Written { .. } | Input::Disconnected { .. } => self.urgent.send(input).map_err(|_| CoreGone),
            other => self.inputs.send(other).await.map_err(|_| CoreGone),
        }
    }
}

/// The core task's ends of the two channels.
pub struct CoreReceiver {
    inputs: mpsc::Receiver<Input>,
    urgent: mpsc::UnboundedReceiver<Input>,
}

/// Inputs waiting for the core task at most (a reader then waits).
const INPUT_CAPACITY: usize = 64;

pub fn channels() -> (CoreSender, CoreReceiver) {
    let (inputs_tx, inputs) = mpsc::channel(INPUT_CAPACITY);
    let (urgent_tx, urgent) = mpsc::unbounded_channel();
    (CoreSender { inputs: inputs_tx, urgent: urgent_tx }, CoreReceiver { inputs, urgent })
}

/// A cloneable way for other tasks to run code on the broker.
#[derive(Clone)]
pub struct CoreHandle {
    inputs: CoreSender,
}

/// The core task is gone (the broker is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreGone;

impl CoreHandle {
    pub fn new(inputs: CoreSender) -> Self {
        CoreHandle { inputs }
    }

    /// Runs `f` on the core task and returns its result.
    pub async fn call<R: Send + 'static>(&self, f: impl FnOnce(&mut Broker) -> R + Send + 'static) -> Result<R, CoreGone> {
        let (tx, rx) = oneshot::channel();
        let job = Box::new(move |broker: &mut Broker| {
            let _ = tx.send(f(broker));
        });
        self.inputs.send(Input::Call(job)).await?;
        rx.await.map_err(|_| CoreGone)
    }
}

/// Inputs handled before output is flushed: each may be a 64 KiB read, so
/// this bounds one round's work and keeps deliveries flowing under a flood.
const BATCH: usize = 16;

/// Reads larger than this are fed to the core in slices of it. Between
/// slices the store's work goes to the committer and confirms already
/// durable go out: a whole confirm window often arrives in one read, and
/// this way the publisher refills its window while the core works through
/// the rest, instead of the core and the fsync taking turns.
const CORE_SLICE: usize = 16 * 1024;

/// What the core task drives besides the broker: the message store, the
/// data directory (for saving definitions) and the resource monitor's
/// readings.
pub struct Services {
    pub durable: Option<Durable>,
    pub data: Option<DataDir>,
    pub monitor: Option<watch::Receiver<Reading>>,
}

/// A connection's I/O handles as the core task keeps them.
struct Io {
    writer: mpsc::UnboundedSender<Bytes>,
    pause: watch::Sender<bool>,
    linger: Option<oneshot::Sender<std::time::Duration>>,
}

type Conns = FxHashMap<ConnectionId, Io>;

/// Runs until shutdown, or until durability can no longer be guaranteed
/// (the store failed): then every client is told and the error returned.
pub async fn run(
    mut broker: Broker,
    mut services: Services,
    receiver: CoreReceiver,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), String> {
    let CoreReceiver { mut inputs, mut urgent } = receiver;
    let mut conns: Conns = FxHashMap::default();
    let mut batch = Vec::with_capacity(BATCH);
    let mut urgent_batch = Vec::with_capacity(256);
    let mut durable_rx = services.durable.as_ref().map(Durable::subscribe);
    let mut saved = SavedDefinitions { version: broker.definitions_version(), last: None };
    let mut readings = services.monitor.take();
    if let Some(rx) = readings.as_mut() {
        // An alarm that holds at start is in force before the first client.
        let r = *rx.borrow_and_update();
        apply_alarms(&mut broker, &r);
    }
    let mut result = Ok(());
    loop {
        let deadline = broker.poll_timeout();
        tokio::select! {
            biased;
            n = urgent.recv_many(&mut urgent_batch, 256) => {
                for input in urgent_batch.drain(..) {
                    handle_input(&mut broker, &mut conns, input);
                }
                let _ = n;
            }
            n = inputs.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    break;
                }
                for input in batch.drain(..) {
                    match input {
                        Input::Data { connection, mut data, credit } if data.len() > CORE_SLICE => {
                            let now = now_ms();
                            while data.len() > CORE_SLICE {
                                broker.handle_bytes(connection, now, data.split_to(CORE_SLICE));
                                if !broker.has_store_ops() {
                                    // Nothing for the store (e.g. transient traffic): no point in slicing.
                                    break;
                                }
                                let mut round = Round { services: &mut services, saved: &mut saved, durable_rx: &mut durable_rx, result: &mut result };
                                round.between_slices(&mut broker, &mut conns);
                            }
                            broker.handle_bytes(connection, now, data);
                            drop(credit);
                        }
                        input => handle_input(&mut broker, &mut conns, input),
                    }
                }
            }
            _ = tokio::time::sleep_until(instant_at(deadline.unwrap_or(0)).into()), if deadline.is_some() => {
                broker.handle_timeout(now_ms());
            }
            durability = changed(&mut durable_rx) => {
                if let Err(e) = on_durable(&mut broker, &mut services, durability) {
                    result = Err(e);
                }
            }
            r = changed(&mut readings) => apply_alarms(&mut broker, &r),
            _ = shutdown.changed() => break,
        }
        // Write completions that arrived meanwhile free delivery credit now.
        while let Ok(input) = urgent.try_recv() {
            handle_input(&mut broker, &mut conns, input);
        }
        // Store work and definitions go to disk before the replies that
        // depend on them leave.
        if result.is_ok() {
            if let Err(e) = persist(&mut broker, &mut services, &mut saved) {
                result = Err(e);
            }
        }
        if result.is_ok() {
            if let Err(e) = catch_up_durable(&mut broker, &mut services, &mut saved, &mut durable_rx) {
                result = Err(e);
            }
        }
        if result.is_err() {
            break;
        }
        drain_output(&mut broker, &mut conns);
    }
    broker.handle_shutdown(now_ms());
    drain_output(&mut broker, &mut conns);
    // Dropping the writers lets each connection flush what it has and close.
    conns.clear();
    if let Some(d) = services.durable.take() {
        match d.close() {
            Ok(()) if result.is_ok() => {
                if let Some(data) = &services.data {
                    crate::persistence::leave_clean_stop_marker(data);
                }
            }
            Ok(()) => {}
            Err(e) => tracing::error!("closing the message store: {e}"),
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    result
}

/// What a slice boundary inside a round needs (see `CORE_SLICE`).
struct Round<'a> {
    services: &'a mut Services,
    saved: &'a mut SavedDefinitions,
    durable_rx: &'a mut Option<watch::Receiver<Durability>>,
    result: &'a mut Result<(), String>,
}

impl Round<'_> {
    /// Store work and definitions to disk, then, if the store has made
    /// more durable meanwhile, the confirms that releases and the output
    /// (in the order the loop keeps). Other output waits for the round's
    /// end, as before: fewer, larger writes.
    fn between_slices(&mut self, broker: &mut Broker, conns: &mut Conns) {
        if self.result.is_err() {
            return;
        }
        if let Err(e) = persist(broker, self.services, self.saved) {
            *self.result = Err(e);
            return;
        }
        match catch_up_durable(broker, self.services, self.saved, self.durable_rx) {
            Ok(true) => drain_output(broker, conns),
            Ok(false) => {}
            Err(e) => *self.result = Err(e),
        }
    }
}

/// If the store has made more durable since last looked, releases the
/// confirms that waited for it and persists what that freed. Checked after
/// every turn, not only when the loop has nothing else to do: under a
/// steady stream of publishes, inputs are always ready, and waiting for an
/// idle moment would hold confirms back and stall the publishers' windows.
/// Returns whether anything was released.
fn catch_up_durable(
    broker: &mut Broker,
    services: &mut Services,
    saved: &mut SavedDefinitions,
    durable_rx: &mut Option<watch::Receiver<Durability>>,
) -> Result<bool, String> {
    let Some(rx) = durable_rx.as_mut().filter(|rx| rx.has_changed().unwrap_or(false)) else { return Ok(false) };
    let d = rx.borrow_and_update().clone();
    on_durable(broker, services, d)?;
    // What the confirms freed may need writing too.
    persist(broker, services, saved)?;
    Ok(true)
}

/// The durable definitions last written, to skip writes that change nothing.
struct SavedDefinitions {
    version: u64,
    last: Option<broker_core::management::definitions::Definitions>,
}

fn persist(broker: &mut Broker, services: &mut Services, saved: &mut SavedDefinitions) -> Result<(), String> {
    if let Some(d) = services.durable.as_mut() {
        d.apply_all(broker).map_err(|e| format!("message store failed: {e}; no longer accepting messages"))?;
    }
    let (Some(data), version) = (&services.data, broker.definitions_version()) else { return Ok(()) };
    if version == saved.version {
        return Ok(());
    }
    saved.version = version;
    let defs = broker.durable_definitions();
    if saved.last.as_ref() == Some(&defs) {
        return Ok(());
    }
    definitions::save(data, &defs).map_err(|e| format!("cannot save definitions: {e}"))?;
    saved.last = Some(defs);
    Ok(())
}

/// The store's durable point moved: release the confirms it covers.
fn on_durable(broker: &mut Broker, services: &mut Services, d: Durability) -> Result<(), String> {
    if let Some(e) = d.failed {
        return Err(format!("message store failed: {e}; no longer accepting messages (nothing unwritten was confirmed)"));
    }
    if let Some(ticket) = services.durable.as_mut().and_then(|s| s.durable_ticket(d.seq)) {
        broker.handle_persisted(ticket);
    }
    Ok(())
}

/// Raises or clears the resource alarms a measurement calls for.
fn apply_alarms(broker: &mut Broker, r: &Reading) {
    for (alarm, active, what) in [(Alarm::Memory, r.memory_alarm, "memory"), (Alarm::Disk, r.disk_alarm, "disk")] {
        if broker.alarms().contains(&alarm) != active {
            tracing::warn!("{what} alarm {}", if active { "set" } else { "cleared" });
            broker.set_alarm(alarm, active);
        }
    }
}

/// The next value on a watch channel, or never if there is none.
async fn changed<T: Clone>(rx: &mut Option<watch::Receiver<T>>) -> T {
    match rx {
        Some(rx) => match rx.changed().await {
            Ok(()) => rx.borrow_and_update().clone(),
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

fn handle_input(broker: &mut Broker, conns: &mut Conns, input: Input) {
    match input {
        Input::Connected { peer, writer, pause, linger, reply, certificate_user } => {
            let id = broker.handle_connect(now_ms(), peer);
            if let Some(user) = certificate_user {
                broker.set_certificate_user(id, user);
            }
            conns.insert(id, Io { writer, pause, linger });
            let _ = reply.send(id);
        }
        Input::Data { connection, data, credit } => {
            broker.handle_bytes(connection, now_ms(), data);
            drop(credit);
        }
        Input::Written { connection, bytes } => broker.handle_written(connection, bytes),
        Input::Disconnected { connection } => {
            conns.remove(&connection);
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

fn drain_output(broker: &mut Broker, conns: &mut Conns) {
    while let Some(t) = broker.poll_transmit() {
        if let Some(io) = conns.get(&t.connection) {
            let _ = io.writer.send(t.data);
        }
    }
    while let Some(event) = broker.poll_event() {
        match event {
            Event::Closed { connection, reason, linger_ms } => {
                if !reason.is_empty() {
                    tracing::info!(connection = connection.as_u64(), "closing connection: {reason}");
                }
                // The writer flushes what it was given, lingers if told to,
                // then closes the socket. The linger goes first: the
                // connection task reads it as soon as the writer is dropped,
                // and would otherwise close at once.
                if let Some(Io { writer, linger, .. }) = conns.remove(&connection) {
                    if let Some(linger) = linger {
                        let _ = linger.send(std::time::Duration::from_millis(linger_ms));
                    }
                    drop(writer);
                }
            }
            Event::PauseReading { connection } | Event::ResumeReading { connection } => {
                if let Some(io) = conns.get(&connection) {
                    let _ = io.pause.send(matches!(event, Event::PauseReading { .. }));
                }
            }
        }
    }
}
