//! The frame inspector's decoder: one per connection and direction, fed the
//! octets as they were carried (split or batched arbitrarily), giving back
//! each complete frame decoded by broker-core's own codec.

use broker_core::amqp::frame::take_frame;
use broker_core::amqp::{BasicProperties, Frame, PROTOCOL_HEADER};
use broker_core::management::json::properties_to_json;
use bytes::BytesMut;
use serde::Serialize;
use serde_json::Value;

/// One decoded frame as plain data.
#[derive(Serialize, Debug, Clone)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FrameView {
    /// `AMQP 0 0 9 1`, what a client sends first.
    ProtocolHeader {
        size: usize,
    },
    Method {
        channel: u16,
        size: usize,
        name: &'static str,
        class_id: u16,
        method_id: u16,
        fields: String,
    },
    Header {
        channel: u16,
        size: usize,
        class_id: u16,
        body_size: u64,
        /// As the management API shows properties (`[]` when none is set).
        properties: Value,
    },
    Body {
        channel: u16,
        size: usize,
        preview: String,
    },
    Heartbeat {
        channel: u16,
        size: usize,
    },
    /// Octets the codec refused; the decoder stops there.
    Error {
        size: usize,
        error: String,
    },
}

pub struct Decoder {
    buf: BytesMut,
    /// A client's stream starts with the 8-octet protocol header.
    expect_header: bool,
    failed: bool,
}

const PREVIEW: usize = 64;

impl Decoder {
    pub fn new(from_client: bool) -> Self {
        Decoder { buf: BytesMut::new(), expect_header: from_client, failed: false }
    }

    pub fn push(&mut self, data: &[u8]) -> Vec<FrameView> {
        let mut out = Vec::new();
        if self.failed {
            return out;
        }
        self.buf.extend_from_slice(data);
        if self.expect_header {
            if self.buf.len() < PROTOCOL_HEADER.len() {
                return out;
            }
            self.expect_header = false;
            let head = self.buf.split_to(PROTOCOL_HEADER.len());
            if head[..] == PROTOCOL_HEADER[..] {
                out.push(FrameView::ProtocolHeader { size: head.len() });
            } else {
                self.failed = true;
                out.push(FrameView::Error { size: head.len(), error: format!("not an AMQP 0-9-1 protocol header: {:?}", &head[..]) });
                return out;
            }
        }
        loop {
            match take_frame(&mut self.buf, 0) {
                Ok(None) => break,
                Err(e) => {
                    self.failed = true;
                    out.push(FrameView::Error { size: self.buf.len(), error: format!("{e:?}") });
                    break;
                }
                Ok(Some(raw)) => {
                    let size = raw.payload.len() + 8;
                    out.push(match Frame::decode(raw) {
                        Ok(Frame::Method { channel, method }) => {
                            let (class_id, method_id) = method.ids();
                            let fields = fields_of(&format!("{method:?}"));
                            FrameView::Method { channel, size, name: method.name(), class_id, method_id, fields }
                        }
                        Ok(Frame::Header { channel, header }) => FrameView::Header {
                            channel,
                            size,
                            class_id: header.class_id,
                            body_size: header.body_size,
                            properties: properties_to_json(&BasicProperties::decode(header.properties).unwrap_or_default()),
                        },
                        Ok(Frame::Body { channel, payload }) => {
                            let cut = &payload[..payload.len().min(PREVIEW)];
                            FrameView::Body { channel, size, preview: String::from_utf8_lossy(cut).into_owned() }
                        }
                        Ok(Frame::Heartbeat { channel }) => FrameView::Heartbeat { channel, size },
                        Err(e) => FrameView::Error { size, error: e.to_string() },
                    });
                }
            }
        }
        out
    }
}

/// `Method(BasicPublish { ticket: 0, .. })` → `{ ticket: 0, .. }`.
fn fields_of(debug: &str) -> String {
    let inner = debug.find('(').map(|i| &debug[i + 1..debug.len() - 1]).unwrap_or(debug);
    match inner.find('{') {
        Some(i) => inner[i..].to_string(),
        None => String::new(),
    }
}
