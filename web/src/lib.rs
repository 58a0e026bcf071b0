//! Browser bindings: the same `broker_core::Broker` the gateway drives, run
//! inside a tab. The page is the driver: it passes bytes and the time in
//! and takes bytes out. (The playground UI builds on this in a later issue.)

use broker_core::{Broker, Config, ConnectionId, PeerInfo, Transport};
use bytes::Bytes;
use wasm_bindgen::prelude::*;

/// A broker living in the page.
#[wasm_bindgen]
pub struct TabBroker {
    broker: Broker,
}

#[wasm_bindgen]
impl TabBroker {
    #[wasm_bindgen(constructor)]
    pub fn new(now_ms: f64, seed: f64) -> TabBroker {
        let config = Config { seed: seed as u64, ..Config::default() };
        TabBroker { broker: Broker::new(config, now_ms as u64) }
    }

    /// Opens an in-tab connection; returns its id.
    pub fn connect(&mut self, now_ms: f64) -> f64 {
        let peer = PeerInfo { address: "in-tab".into(), loopback: true, transport: Transport::InProcess };
        self.broker.handle_connect(now_ms as u64, peer).as_u64() as f64
    }

    /// Feeds bytes a client sent; returns what the broker sends back to it.
    /// Output for other in-tab connections stays queued until they poll.
    pub fn send(&mut self, connection: f64, now_ms: f64, data: &[u8]) {
        let id = ConnectionId::from_u64(connection as u64);
        self.broker.handle_bytes(id, now_ms as u64, Bytes::copy_from_slice(data));
    }

    /// Advances the clock.
    pub fn tick(&mut self, now_ms: f64) {
        self.broker.handle_timeout(now_ms as u64);
    }

    /// Next chunk of output as `[connection id, bytes]`, or undefined.
    pub fn poll(&mut self) -> Option<js_sys_free::Output> {
        let t = self.broker.poll_transmit()?;
        self.broker.handle_written(t.connection, t.data.len());
        Some(js_sys_free::Output { connection: t.connection.as_u64() as f64, data: t.data.to_vec() })
    }

    pub fn version() -> String {
        env!("CARGO_PKG_VERSION").to_string()
    }
}

/// Plain data handed to JavaScript (no js-sys dependency needed).
mod js_sys_free {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen(getter_with_clone)]
    pub struct Output {
        pub connection: f64,
        pub data: Vec<u8>,
    }
}
