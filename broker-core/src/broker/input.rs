//! From octets to handlers: the protocol header, framing, content assembly,
//! and the per-state rules for which frames are allowed where. Errors become
//! channel.close (soft) or connection.close (hard) here.

use bytes::Bytes;

use super::{lifecycle, Broker, Ctx};
use crate::amqp::frame::{FrameError, RawFrame};
use crate::amqp::method::*;
use crate::amqp::{ContentHeader, Frame, FrameType, Method, PropertiesScan, CLASS_BASIC, PROTOCOL_HEADER};
use crate::class;
use crate::connection::channel::{BodyParts, PendingPublish};
use crate::connection::ConnState;
use crate::error::{AmqpError, Result};
use crate::ids::ConnectionId;

pub(super) fn handle_bytes(broker: &mut Broker, id: ConnectionId, mut data: Bytes) {
    let Broker { connections, state, config, .. } = broker;
    let Some(conn) = connections.get_mut(id) else { return };
    if matches!(conn.state, ConnState::Closed | ConnState::Refusing) {
        return;
    }
    let now = state.clock.now;
    conn.last_recv = now;
    conn.recv_octets += data.len() as u64;
    let mut ctx = Ctx { state, conn, config, now };
    if ctx.conn.state == ConnState::AwaitingHeader {
        match ctx.conn.take_protocol_header(&mut data) {
            None => return,
            Some(false) => {
                // Tell the peer which protocol we speak, then hang up.
                ctx.conn.out.extend_from_slice(&PROTOCOL_HEADER);
                lifecycle::finish(ctx.state, ctx.conn, "bad protocol header".into());
                return;
            }
            Some(true) => class::connection::send_start(&mut ctx),
        }
    }
    while !data.is_empty() && ctx.conn.state != ConnState::Closed {
        match ctx.conn.next_frame(&mut data) {
            Ok(Some(raw)) => handle_frame(&mut ctx, raw),
            Ok(None) => break,
            Err(e) => {
                let err = match e {
                    FrameError::TooLarge { size, max } => {
                        AmqpError::frame_error(format_args!("frame size {} exceeds frame_max {max}", size as u64 + 8))
                    }
                    FrameError::BadFrameEnd(b) => AmqpError::frame_error(format_args!("bad frame end octet 0x{b:02x}")),
                };
                // The stream cannot be parsed any further: send close and stop reading.
                ctx.conn.discard_input();
                lifecycle::connection_error(&mut ctx, err);
                break;
            }
        }
    }
    ctx.state.pending.queue_transmit(ctx.conn);
}

fn handle_frame(ctx: &mut Ctx, raw: RawFrame) {
    if let ConnState::Closing { .. } = ctx.conn.state {
        // After sending connection.close only close and close-ok matter.
        if raw.kind == FrameType::Method && raw.channel == 0 {
            match Method::decode(raw.payload) {
                Ok(Method::ConnectionCloseOk(_)) => lifecycle::finish(ctx.state, ctx.conn, "closed by broker".into()),
                Ok(Method::ConnectionClose(_)) => lifecycle::close_ok(ctx.state, ctx.conn, "closed by broker"),
                _ => {}
            }
        }
        return;
    }
    let channel = raw.channel;
    let frame = match Frame::decode(raw) {
        Ok(f) => f,
        Err(e) => {
            let err = AmqpError::new(e.reply_code(), e);
            let err = match e {
                crate::amqp::DecodeError::UnknownMethod { class_id, method_id } => err.on((class_id, method_id)),
                _ => err,
            };
            return lifecycle::connection_error(ctx, err);
        }
    };
    if let Err(err) = route_frame(ctx, channel, frame) {
        if err.is_hard() || channel == 0 {
            lifecycle::connection_error(ctx, err);
        } else {
            lifecycle::channel_error(ctx, channel, err);
        }
    }
}

fn route_frame(ctx: &mut Ctx, channel: u16, frame: Frame) -> Result<()> {
    match frame {
        Frame::Heartbeat { channel: 0 } => Ok(()),
        Frame::Heartbeat { channel } => Err(AmqpError::unexpected_frame(format_args!("heartbeat frame on channel {channel}"))),
        Frame::Method { channel: 0, method } => class::connection::handle(ctx, method),
        _ if ctx.conn.state != ConnState::Open => {
            Err(AmqpError::channel_error(format_args!("frame on channel {channel} before the connection is open")))
        }
        _ if !class::channel::within_channel_max(ctx, channel) => Err(class::channel::above_channel_max(ctx, channel)),
        Frame::Method { method, .. } => handle_channel_method(ctx, channel, method),
        Frame::Header { header, .. } => handle_header(ctx, channel, header),
        Frame::Body { payload, .. } => handle_body(ctx, channel, payload),
    }
}

fn handle_channel_method(ctx: &mut Ctx, channel: u16, method: Method) -> Result<()> {
    let ids = method.ids();
    let Some(ch) = ctx.conn.channel_mut(channel) else {
        return match method {
            Method::ChannelOpen(_) => class::channel::open(ctx, channel),
            // A late close-ok for a channel we already forgot.
            Method::ChannelCloseOk(_) => Ok(()),
            m => Err(AmqpError::channel_error(format_args!("expected 'channel.open' on channel {channel}, got '{}'", m.name())).on(ids)),
        };
    };
    if ch.closing {
        // Spec: after sending channel.close, discard all but close / close-ok.
        return match method {
            Method::ChannelCloseOk(_) | Method::ChannelClose(_) => class::channel::finish_close(ctx, channel, method),
            _ => Ok(()),
        };
    }
    if ch.publish.is_some() {
        return Err(AmqpError::unexpected_frame(format_args!(
            "expected content header for class 60, got non content header frame instead"
        )));
    }
    dispatch_method(ctx, channel, method).map_err(|e| e.on(ids))
}

pub(crate) fn dispatch_method(ctx: &mut Ctx, channel: u16, method: Method) -> Result<()> {
    use class::{basic, channel as chan, confirm, exchange, queue, tx};
    match method {
        Method::ChannelOpen(_) => Err(AmqpError::channel_error("second 'channel.open' seen")),
        Method::ChannelClose(_) | Method::ChannelCloseOk(_) => chan::finish_close(ctx, channel, method),
        Method::ChannelFlow(m) => chan::flow(ctx, channel, m),
        Method::ChannelFlowOk(_) => Ok(()),
        Method::AccessRequest(_) => {
            ctx.conn.send_method(channel, &AccessRequestOk { ticket: 1 }.into());
            Ok(())
        }
        Method::ExchangeDeclare(m) => exchange::declare(ctx, channel, m),
        Method::ExchangeDelete(m) => exchange::delete(ctx, channel, m),
        Method::ExchangeBind(m) => exchange::bind(ctx, channel, m),
        Method::ExchangeUnbind(m) => exchange::unbind(ctx, channel, m),
        Method::QueueDeclare(m) => queue::declare(ctx, channel, m),
        Method::QueueBind(m) => queue::bind(ctx, channel, m),
        Method::QueueUnbind(m) => queue::unbind(ctx, channel, m),
        Method::QueuePurge(m) => queue::purge(ctx, channel, m),
        Method::QueueDelete(m) => queue::delete(ctx, channel, m),
        Method::BasicQos(m) => basic::qos(ctx, channel, m),
        Method::BasicConsume(m) => basic::consume(ctx, channel, m),
        Method::BasicCancel(m) => basic::cancel(ctx, channel, m),
        Method::BasicPublish(m) => basic::start_publish(ctx, channel, m),
        Method::BasicGet(m) => basic::get(ctx, channel, m),
        Method::BasicAck(m) => basic::ack(ctx, channel, m.delivery_tag, m.multiple),
        Method::BasicReject(m) => basic::reject(ctx, channel, m.delivery_tag, false, m.requeue),
        Method::BasicNack(m) => basic::reject(ctx, channel, m.delivery_tag, m.multiple, m.requeue),
        Method::BasicRecoverAsync(m) => basic::recover(ctx, channel, m.requeue, false),
        Method::BasicRecover(m) => basic::recover(ctx, channel, m.requeue, true),
        Method::ConfirmSelect(m) => confirm::select(ctx, channel, m),
        Method::TxSelect(_) => tx::select(ctx, channel),
        Method::TxCommit(_) => tx::commit(ctx, channel),
        Method::TxRollback(_) => tx::rollback(ctx, channel),
        m => Err(AmqpError::command_invalid(format_args!("'{}' is not a method a client may send on a channel", m.name()))),
    }
}

fn handle_header(ctx: &mut Ctx, channel: u16, header: ContentHeader) -> Result<()> {
    let max = ctx.config.max_message_size;
    let Some(ch) = ctx.conn.channel_mut(channel) else {
        return Err(AmqpError::channel_error(format_args!("content header on channel {channel}, which is not open")));
    };
    if ch.closing {
        return Ok(());
    }
    let Some(p) = ch.publish.as_mut().filter(|p| p.header.is_none()) else {
        return Err(AmqpError::unexpected_frame("content header without a preceding 'basic.publish'"));
    };
    if header.class_id != CLASS_BASIC {
        return Err(AmqpError::unexpected_frame(format_args!("content header for class {}", header.class_id)));
    }
    let scan = PropertiesScan::scan(&header.properties).map_err(AmqpError::syntax_error)?;
    if header.body_size > max {
        ch.publish = None;
        return Err(AmqpError::precondition_failed(format_args!(
            "message size {} is larger than configured max size {max}",
            header.body_size
        ))
        .on((60, 40)));
    }
    p.header = Some((header.properties, scan));
    p.body_size = header.body_size;
    if header.body_size == 0 {
        return complete_publish(ctx, channel);
    }
    Ok(())
}

fn handle_body(ctx: &mut Ctx, channel: u16, payload: Bytes) -> Result<()> {
    let Some(ch) = ctx.conn.channel_mut(channel) else {
        return Err(AmqpError::channel_error(format_args!("content body on channel {channel}, which is not open")));
    };
    if ch.closing {
        return Ok(());
    }
    let Some(p) = ch.publish.as_mut().filter(|p| p.header.is_some()) else {
        return Err(AmqpError::unexpected_frame("content body without a preceding content header"));
    };
    let received = p.body.len() + payload.len() as u64;
    if received > p.body_size {
        return Err(AmqpError::frame_error(format_args!("content body exceeds the declared size {}", p.body_size)));
    }
    p.body.push(payload);
    if received == p.body_size {
        return complete_publish(ctx, channel);
    }
    Ok(())
}

fn complete_publish(ctx: &mut Ctx, channel: u16) -> Result<()> {
    let Some(PendingPublish { method, header: Some((properties, scan)), body, .. }) =
        ctx.conn.channel_mut(channel).and_then(|c| c.publish.take())
    else {
        return Ok(());
    };
    let body = match body {
        BodyParts::Empty => Bytes::new(),
        other => other.into_bytes(),
    };
    class::basic::publish(ctx, channel, method, properties, scan, body).map_err(|e| e.on((60, 40)))
}
