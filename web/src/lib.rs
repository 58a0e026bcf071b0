//! Browser bindings: the same `broker_core::Broker` the gateway drives, run
//! inside a tab. The page is the driver: it passes bytes and the (virtual)
//! time in and takes bytes, trace events and snapshots out.
//!
//! Owns only conversion: every method is a thin call into the core, with
//! plain data in and out through serde-wasm-bindgen, shaped by
//! `broker_core::management::json` exactly as the gateway's management API
//! shapes the same objects (see [`convert`]). It must not hold broker logic, read a
//! clock or touch the DOM: the JavaScript side (`www/js/playground/`)
//! decides when time moves and carries the bytes of its in-tab
//! connections (`tab-socket.js`).

pub mod bench;
pub mod convert;
pub mod frames;
pub mod ops;

use broker_core::management::definitions::Definitions;
use broker_core::management::json::{self, trace_event, Encoding};
use broker_core::{Broker, Config, ConfigError, ConnectionId, Event, PeerAddress, PeerInfo, TraceFilter, Transport};
use bytes::Bytes;
use serde::Serialize;
use wasm_bindgen::prelude::*;

/// Plain JS values: objects for maps, numbers for 64-bit integers.
fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue, JsError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| JsError::new(&e.to_string()))
}

fn from_js(v: JsValue) -> Result<serde_json::Value, JsError> {
    if v.is_undefined() || v.is_null() {
        return Ok(serde_json::Value::Null);
    }
    serde_wasm_bindgen::from_value(v).map_err(|e| JsError::new(&e.to_string()))
}

/// The broker settings for a tab: no heartbeats (the peers live in the
/// page) and a handshake deadline that a fast virtual clock cannot hit.
pub fn tab_config(seed: u64) -> Config {
    Config { seed, heartbeat: 0, handshake_timeout_ms: 24 * 3600 * 1000, ..Config::default() }
}

/// A broker living in the page.
#[wasm_bindgen]
pub struct TabBroker {
    broker: Broker,
    user: String,
    vhost: String,
    /// The last time handed to the core.
    now: u64,
}

/// Octets for one in-tab connection.
#[wasm_bindgen]
pub struct Output {
    connection: f64,
    data: Vec<u8>,
}

#[wasm_bindgen]
impl Output {
    #[wasm_bindgen(getter)]
    pub fn connection(&self) -> f64 {
        self.connection
    }
    /// The octets (moved out: a second call gives an empty array).
    #[wasm_bindgen(js_name = takeData)]
    pub fn take_data(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.data)
    }
}

/// Snapshot of everything the playground draws: each object exactly as the
/// gateway's `/api/overview`, `/api/queues/{vhost}`, `/api/exchanges/{vhost}`,
/// `/api/bindings/{vhost}`, `/api/consumers`, `/api/channels` and
/// `/api/connections` list it (a node without listeners).
#[derive(Serialize)]
pub struct Snapshot {
    pub overview: serde_json::Value,
    pub queues: Vec<serde_json::Value>,
    pub exchanges: Vec<serde_json::Value>,
    pub bindings: Vec<serde_json::Value>,
    pub consumers: Vec<serde_json::Value>,
    pub channels: Vec<serde_json::Value>,
    pub connections: Vec<serde_json::Value>,
}

#[derive(Serialize)]
struct EventView {
    #[serde(rename = "type")]
    kind: &'static str,
    connection: u64,
    reason: String,
}

impl TabBroker {
    /// The native side of the same binding (tests, the native bench).
    pub fn create(now_ms: u64, seed: u64) -> Result<TabBroker, ConfigError> {
        let broker = Broker::new(tab_config(seed), now_ms)?;
        Ok(TabBroker { broker, user: "guest".into(), vhost: "/".into(), now: now_ms })
    }

    pub fn broker(&mut self) -> &mut Broker {
        &mut self.broker
    }

    pub fn snapshot_data(&self) -> Snapshot {
        let b = &self.broker;
        let vhost = Some(self.vhost.as_str());
        let node = &b.config().cluster_name;
        let (policies, conns) = (b.policies(None), b.connections());
        Snapshot {
            overview: json::overview(&b.overview(), node, &[], true),
            queues: b.queues(vhost).iter().map(|q| json::queue(q, node, &policies)).collect(),
            exchanges: b.exchanges(vhost).iter().map(|x| json::exchange(x, &self.user)).collect(),
            bindings: b.bindings(vhost).iter().map(json::binding).collect(),
            consumers: b.consumers().iter().map(|c| json::consumer(c, &conns, node)).collect(),
            channels: b.channels().iter().map(|c| json::channel(c, node)).collect(),
            connections: conns.iter().map(|c| json::connection(c, node)).collect(),
        }
    }

    /// Takes up to `count` messages as RabbitMQ's "get messages" does
    /// (`ackmode` by its names), shaped as the API's `POST …/get` with
    /// `encoding: auto`.
    pub fn get_messages(&mut self, queue: &str, count: usize, ackmode: &str) -> Result<Vec<serde_json::Value>, String> {
        let mode = json::ack_mode(&serde_json::json!(ackmode)).map_err(|e| convert::reason(&e))?;
        let got = self.broker.get_as(&self.user, &self.vhost, queue, count, mode).map_err(|e| e.to_string())?;
        Ok(got.iter().map(|m| json::message(m, Encoding::Auto, None)).collect())
    }

    /// Up to `limit` ready messages left in the queue, as the API's `GET …/browse`.
    pub fn browse_messages(&mut self, queue: &str, limit: usize) -> Vec<serde_json::Value> {
        let vhost = self.vhost.clone();
        let msgs = self.broker.browse(&vhost, queue, limit).unwrap_or_default();
        msgs.iter().map(|m| json::message(m, Encoding::Auto, None)).collect()
    }

    /// The tab's definitions, as the gateway's `GET /api/definitions`
    /// returns them for the same broker (`broker_core::management::definitions`).
    pub fn definitions_json(&self) -> serde_json::Value {
        self.broker.definitions(None).to_json()
    }

    /// Imports a definitions document as the gateway's `POST
    /// /api/definitions` does; the bindings skipped, each with why.
    pub fn import_definitions_json(&mut self, doc: &serde_json::Value) -> Result<Vec<String>, String> {
        let doc = convert::whole_numbers(doc);
        // The API's reason for a body that is not a JSON object.
        let doc = doc.as_object().ok_or("failed_to_parse_json")?;
        // Salts for `password` entries come from the core's seeded source:
        // the bindings read no system randomness.
        let defs = Definitions::parse(doc, None, &mut || self.broker.random_u64()).map_err(|e| convert::reason(&e))?;
        let imported = self.broker.import_definitions(defs);
        imported.result.map(|()| imported.skipped).map_err(|e| convert::reason(&e))
    }

    fn at(&mut self, now_ms: f64) -> u64 {
        self.now = self.now.max(now_ms as u64);
        self.now
    }

    /// Runs an operation (see [`ops::Op`]) as the tab's user.
    pub fn run_op(&mut self, op: serde_json::Value) -> Result<ops::Reply, String> {
        let op: ops::Op = serde_json::from_value(op).map_err(|e| format!("bad operation: {e}"))?;
        let method = op.into_method()?;
        self.broker.execute(&self.user, &self.vhost, method).map(|m| ops::reply(&m)).map_err(|e| e.to_string())
    }
}

#[wasm_bindgen]
impl TabBroker {
    /// A fresh broker whose clock starts at `now_ms` (any origin: the
    /// playground's virtual clock). `seed` fixes generated names.
    #[wasm_bindgen(constructor)]
    pub fn new(now_ms: f64, seed: f64) -> Result<TabBroker, JsError> {
        #[cfg(feature = "panic-hook")]
        console_error_panic_hook::set_once();
        TabBroker::create(now_ms as u64, seed as u64).map_err(|e| JsError::new(&format!("invalid configuration: {e}")))
    }

    pub fn version() -> String {
        env!("CARGO_PKG_VERSION").to_string()
    }

    // --- in-tab transport -------------------------------------------------

    /// Opens an in-tab connection named `name` (its peer address in the
    /// management views); returns its id.
    pub fn connect(&mut self, now_ms: f64, name: Option<String>) -> f64 {
        let peer = PeerInfo {
            address: PeerAddress::Named(name.unwrap_or_else(|| "in-tab".into())),
            loopback: true,
            transport: Transport::InProcess,
        };
        let now = self.at(now_ms);
        self.broker.handle_connect(now, peer).as_u64() as f64
    }

    /// Octets the client of `connection` sent. Replies wait in `poll`.
    pub fn send(&mut self, connection: f64, now_ms: f64, data: &[u8]) {
        let id = ConnectionId::from_u64(connection as u64);
        let now = self.at(now_ms);
        self.broker.handle_bytes(id, now, Bytes::copy_from_slice(data));
    }

    /// The client of `connection` went away (its socket closed).
    pub fn disconnect(&mut self, connection: f64, now_ms: f64) {
        let now = self.at(now_ms);
        self.broker.handle_disconnect(ConnectionId::from_u64(connection as u64), now);
    }

    /// Advances the clock to `now_ms`, running due timers (TTLs, queue
    /// expiry, consumer timeouts, rate samples).
    pub fn tick(&mut self, now_ms: f64) {
        let now = self.at(now_ms);
        self.broker.handle_timeout(now);
    }

    /// When `tick` is next due, if ever.
    #[wasm_bindgen(js_name = nextTimeout)]
    pub fn next_timeout(&self) -> Option<f64> {
        self.broker.poll_timeout().map(|t| t as f64)
    }

    /// Next chunk of output for one connection, or undefined. It counts as
    /// written at once (the page hands it straight to the client).
    pub fn poll(&mut self) -> Option<Output> {
        let t = self.broker.poll_transmit()?;
        self.broker.handle_written(t.connection, t.data.len());
        Some(Output { connection: t.connection.as_u64() as f64, data: t.data.to_vec() })
    }

    /// Next event: `{type: "closed", connection, reason}` (or `pause` /
    /// `resume` under resource alarms), or undefined.
    #[wasm_bindgen(js_name = pollEvent)]
    pub fn poll_event(&mut self) -> Result<JsValue, JsError> {
        let Some(e) = self.broker.poll_event() else { return Ok(JsValue::UNDEFINED) };
        let v = match e {
            // An in-page client closes its own end: nothing to linger for.
            Event::Closed { connection, reason, .. } => EventView { kind: "closed", connection: connection.as_u64(), reason },
            Event::PauseReading { connection } => EventView { kind: "pause", connection: connection.as_u64(), reason: String::new() },
            Event::ResumeReading { connection } => EventView { kind: "resume", connection: connection.as_u64(), reason: String::new() },
        };
        to_js(&v)
    }

    // --- management -------------------------------------------------------

    /// Declares, deletes, binds, unbinds or purges: `{op: "queue.declare",
    /// name, durable, auto_delete, arguments}`, `{op: "exchange.declare",
    /// name, type, …}`, `{op: "bind", source, destination,
    /// destination_type, routing_key, arguments}`, … Throws the broker's
    /// error (e.g. `406 PRECONDITION_FAILED - …`).
    pub fn execute(&mut self, op: JsValue) -> Result<JsValue, JsError> {
        let op = from_js(op)?;
        let reply = self.run_op(op).map_err(|e| JsError::new(&e))?;
        to_js(&reply)
    }

    /// Publishes through the management loopback; returns whether a queue
    /// took it. `properties` uses RabbitMQ's names (`expiration`,
    /// `priority`, `headers`, …).
    pub fn publish(&mut self, exchange: &str, routing_key: &str, body: &[u8], properties: JsValue) -> Result<bool, JsError> {
        let props = convert::properties_from_json(&from_js(properties)?).map_err(|e| JsError::new(&e))?;
        self.broker
            .publish_as(&self.user, &self.vhost, exchange, routing_key, &props, Bytes::copy_from_slice(body))
            .map_err(|e| JsError::new(&e.to_string()))
    }

    /// Takes up to `count` messages (`ackmode` as RabbitMQ's API:
    /// ack_requeue_true, ack_requeue_false, reject_requeue_true,
    /// reject_requeue_false; anything else throws
    /// `["unsupported_ackmode",…]` as the API refuses it).
    pub fn get(&mut self, queue: &str, count: u32, ackmode: &str) -> Result<JsValue, JsError> {
        let got = self.get_messages(queue, count as usize, ackmode).map_err(|e| JsError::new(&e))?;
        to_js(&got)
    }

    /// Up to `limit` ready messages without taking them.
    pub fn browse(&mut self, queue: &str, limit: u32) -> Result<JsValue, JsError> {
        to_js(&self.browse_messages(queue, limit as usize))
    }

    /// Queues, exchanges, bindings, consumers, channels, connections and
    /// the overview, in RabbitMQ's management API shapes.
    pub fn snapshot(&self) -> Result<JsValue, JsError> {
        to_js(&self.snapshot_data())
    }

    /// RabbitMQ's definitions document of the tab's broker.
    pub fn definitions(&self) -> Result<JsValue, JsError> {
        to_js(&self.definitions_json())
    }

    /// Imports a definitions document (RabbitMQ's or Warren's); returns the
    /// bindings skipped, each with why, or throws the reason the import
    /// stopped at.
    #[wasm_bindgen(js_name = importDefinitions)]
    pub fn import_definitions(&mut self, doc: JsValue) -> Result<JsValue, JsError> {
        let skipped = self.import_definitions_json(&from_js(doc)?).map_err(|e| JsError::new(&e))?;
        to_js(&skipped)
    }

    /// Sampled global counters `[{at, message_stats}]`, oldest first.
    #[wasm_bindgen(js_name = statsHistory)]
    pub fn stats_history(&self) -> Result<JsValue, JsError> {
        #[derive(Serialize)]
        struct Sample {
            at: u64,
            publish: u64,
            deliver_get: u64,
            ack: u64,
            routed: u64,
        }
        let v: Vec<Sample> = self
            .broker
            .stats_history()
            .into_iter()
            .map(|(at, c)| Sample { at, publish: c.publish, deliver_get: c.deliver_get(), ack: c.ack, routed: c.routed })
            .collect();
        to_js(&v)
    }

    // --- tracing ------------------------------------------------------------

    /// `"all"`, a queue name, or null/undefined for off.
    #[wasm_bindgen(js_name = setTracing)]
    pub fn set_tracing(&mut self, filter: Option<String>) {
        let f = match filter.as_deref() {
            None => None,
            Some("all") => Some(TraceFilter::All),
            Some(q) => Some(TraceFilter::Queue { vhost: self.vhost.clone(), queue: q.to_string() }),
        };
        self.broker.set_tracing(f);
    }

    /// Up to `max` pending trace events, oldest first, in the shape the
    /// gateway's trace API gives them
    /// (`broker_core::management::json::trace_event`).
    #[wasm_bindgen(js_name = pollTrace)]
    pub fn poll_trace(&mut self, max: u32) -> Result<JsValue, JsError> {
        let v: Vec<serde_json::Value> =
            std::iter::from_fn(|| self.broker.poll_trace()).take(max as usize).map(|e| trace_event(&e)).collect();
        to_js(&v)
    }
}

/// Decodes one direction of one connection for the frame inspector.
#[wasm_bindgen]
pub struct FrameDecoder {
    inner: frames::Decoder,
}

#[wasm_bindgen]
impl FrameDecoder {
    /// `from_client`: the stream starts with the protocol header.
    #[wasm_bindgen(constructor)]
    pub fn new(from_client: bool) -> FrameDecoder {
        FrameDecoder { inner: frames::Decoder::new(from_client) }
    }

    /// The frames completed by these octets.
    pub fn push(&mut self, data: &[u8]) -> Result<JsValue, JsError> {
        to_js(&self.inner.push(data))
    }
}

/// The benchmark's client octets (see [`bench`]): `part` is `handshake`,
/// `setup`, `consume` or `publishes`.
#[wasm_bindgen(js_name = benchOctets)]
pub fn bench_octets(part: &str, n: u32, size: u32) -> Vec<u8> {
    match part {
        "handshake" => bench::handshake(),
        "setup" => bench::setup(n),
        "consume" => bench::consume(),
        "publishes" => bench::publishes(n, size),
        _ => Vec::new(),
    }
}
