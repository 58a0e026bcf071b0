//! The basic class: publishing, consuming, get, acknowledgements, qos and
//! recover.

use bytes::Bytes;

use crate::amqp::method::*;
use crate::amqp::{PropertiesScan, ShortStr};
use crate::broker::trace::TraceEvent;
use crate::broker::{deadletter::Reason, dispatch, lifecycle, queues, reply_to, routing, Ctx, State};
use crate::connection::channel::{PendingPublish, Settle, TxOp, Unacked};
use crate::connection::Channel;
use crate::error::{resource, AmqpError, Result};
use crate::ids::ExchangeId;
use crate::message::Message;
use crate::permissions::Access;
use crate::queue::Consumer;

pub(crate) fn qos(ctx: &mut Ctx, channel: u16, m: BasicQos) -> Result<()> {
    if m.prefetch_size != 0 {
        return Err(AmqpError::not_implemented(format_args!("prefetch_size!=0 ({})", m.prefetch_size)));
    }
    let ch = ctx.channel(channel)?;
    if m.global {
        ch.channel_prefetch = m.prefetch_count;
    } else {
        ch.consumer_prefetch = m.prefetch_count;
    }
    wake_channel_consumers(ctx.state, ctx.conn.channel(channel));
    ctx.conn.send_method(channel, &BasicQosOk {}.into());
    Ok(())
}

/// Marks the queues of a channel's consumers for delivery (credit changed).
fn wake_channel_consumers(state: &mut State, ch: Option<&Channel>) {
    let Some(ch) = ch else { return };
    for (_, c) in &ch.consumers {
        if let Some(q) = state.topology.consumers.get(*c).map(|c| c.queue) {
            state.mark_dirty(q);
        }
    }
}

pub(crate) fn consume(ctx: &mut Ctx, channel: u16, m: BasicConsume) -> Result<()> {
    if &*m.queue == reply_to::PSEUDO_QUEUE {
        return consume_replies(ctx, channel, m);
    }
    let name = ctx.queue_name(channel, m.queue)?;
    ctx.permit(Access::Read, "queue", &name)?;
    let qid = ctx.queue(&name)?;
    let tag = if m.consumer_tag.is_empty() { ctx.state.clock.gen_name("amq.ctag-") } else { m.consumer_tag };
    let ch = ctx.conn.channel_mut(channel).ok_or_else(|| AmqpError::channel_error("channel closed"))?;
    let prefetch = ch.consumer_prefetch;
    if let Some(existing) = ch.consumer(&tag) {
        if ctx.state.topology.consumers.contains(existing) {
            return Err(AmqpError::not_allowed(format_args!("attempt to reuse consumer tag '{tag}'")));
        }
        ch.remove_consumer(&tag);
    }
    let Some(q) = ctx.state.topology.queues.get(qid) else { return Ok(()) };
    let exclusive_held = q.consumers.iter().any(|(_, c)| ctx.state.topology.consumers.get(*c).is_some_and(|c| c.exclusive));
    if exclusive_held || (m.exclusive && !q.consumers.is_empty()) {
        return Err(AmqpError::access_refused(format_args!("{} in exclusive use", resource("queue", &name, &q.vhost))));
    }
    let priority = match m.arguments.get("x-priority") {
        None => 0,
        Some(v) => v.as_i64().map(|p| p.clamp(i32::MIN as i64, i32::MAX as i64) as i32).ok_or_else(|| {
            AmqpError::precondition_failed(format_args!(
                "invalid arg 'x-priority' for {}: \"expected integer, got {}\"",
                resource("queue", &name, &q.vhost),
                crate::queue::args::type_name_of(v)
            ))
        })?,
    };
    let consumer = Consumer {
        tag: tag.clone(),
        connection: ctx.conn.id,
        channel,
        queue: qid,
        no_ack: m.no_ack,
        exclusive: m.exclusive,
        prefetch,
        unacked: 0,
        priority,
        arguments: m.arguments,
    };
    let cid = ctx.state.topology.consumers.insert(consumer);
    if let Some(q) = ctx.state.topology.queues.get_mut(qid) {
        q.add_consumer(cid, priority);
        q.last_used = ctx.now;
    }
    ctx.channel(channel)?.consumers.push((tag.clone(), cid));
    if !m.nowait {
        ctx.conn.send_method(channel, &BasicConsumeOk { consumer_tag: tag }.into());
    }
    // Deliveries start at the next flush, after consume-ok.
    ctx.state.mark_dirty(qid);
    Ok(())
}

/// basic.consume on `amq.rabbitmq.reply-to`: no queue, just a mark on the
/// channel that replies may come to it.
fn consume_replies(ctx: &mut Ctx, channel: u16, m: BasicConsume) -> Result<()> {
    if !m.no_ack {
        return Err(AmqpError::precondition_failed("reply consumer cannot acknowledge"));
    }
    let tag = if m.consumer_tag.is_empty() { ctx.state.clock.gen_name("amq.ctag-") } else { m.consumer_tag };
    let secret = ctx.state.clock.random_u64();
    let ch = ctx.channel(channel)?;
    if ch.reply_consumer.is_some() {
        return Err(AmqpError::precondition_failed("reply consumer already set"));
    }
    ch.reply_consumer = Some((tag.clone(), secret));
    if !m.nowait {
        ctx.conn.send_method(channel, &BasicConsumeOk { consumer_tag: tag }.into());
    }
    Ok(())
}

pub(crate) fn cancel(ctx: &mut Ctx, channel: u16, m: BasicCancel) -> Result<()> {
    let ch = ctx.channel(channel)?;
    if ch.reply_consumer.as_ref().is_some_and(|(t, _)| *t == m.consumer_tag) {
        ch.reply_consumer = None;
    }
    if let Some(cid) = ch.remove_consumer(&m.consumer_tag) {
        lifecycle::remove_consumer(ctx.state, cid, ctx.now);
    }
    if !m.nowait {
        ctx.conn.send_method(channel, &BasicCancelOk { consumer_tag: m.consumer_tag }.into());
    }
    Ok(())
}

/// basic.publish arrived: wait for its content.
pub(crate) fn start_publish(ctx: &mut Ctx, channel: u16, m: BasicPublish) -> Result<()> {
    ctx.conn.has_published = true;
    if m.immediate {
        return Err(AmqpError::not_implemented("immediate=true"));
    }
    ctx.channel(channel)?.publish = Some(PendingPublish { method: m, header: None, body_size: 0, body: Default::default() });
    Ok(())
}

/// A complete message: check it, then route it now or hold it for tx.commit.
pub(crate) fn publish(ctx: &mut Ctx, channel: u16, m: BasicPublish, properties: Bytes, scan: PropertiesScan, body: Bytes) -> Result<()> {
    ctx.permit(Access::Write, "exchange", &m.exchange)?;
    ctx.state.stats.totals.publish += 1;
    if let Some(ch) = ctx.conn.channel_mut(channel) {
        ch.stats.publish += 1;
    }
    let exchange = if routing::is_default_exchange(&m.exchange) {
        None
    } else {
        let id = ctx.exchange(&m.exchange)?;
        if ctx.state.topology.exchanges.get(id).is_some_and(|x| x.internal) {
            return Err(AmqpError::access_refused(format_args!(
                "cannot publish to internal {}",
                resource("exchange", &m.exchange, ctx.vhost_name())
            )));
        }
        Some(id)
    };
    if let Some(user_id) = PropertiesScan::text(&properties, scan.user_id) {
        if user_id != ctx.conn.user {
            return Err(AmqpError::precondition_failed(format_args!(
                "user_id property set to '{user_id}' but authenticated user was '{}'",
                ctx.conn.user
            )));
        }
    }
    let (properties, scan) = match PropertiesScan::text(&properties, scan.reply_to) {
        Some(reply_to::PSEUDO_QUEUE) => rewrite_reply_to(ctx, channel, &properties)?,
        _ => (properties, scan),
    };
    let expiration_ms = match PropertiesScan::text(&properties, scan.expiration) {
        None => None,
        Some(text) => Some(parse_expiration(text)?),
    };
    let trace = if ctx.state.tracer.on() { ctx.state.tracer.next_id() } else { 0 };
    let message = Message { exchange: m.exchange, routing_key: m.routing_key, properties, scan, body, expiration_ms, trace };
    let ch = ctx.channel(channel)?;
    if let Some(ops) = ch.tx.as_mut() {
        ops.push(TxOp::Publish { exchange, mandatory: m.mandatory, message });
        return Ok(());
    }
    let seq = ch.next_publish_seq();
    let result = route_and_enqueue(ctx, channel, exchange, m.mandatory, message);
    if let Some(ch) = ctx.conn.channel_mut(channel) {
        if seq.is_some() {
            let accepted = !result.rejected;
            ch.confirm(seq, accepted, result.ticket);
            if ctx.state.tracer.on() {
                ctx.state.tracer.record(TraceEvent::Confirmed { at: ctx.now, message: result.trace, acked: accepted });
            }
            if accepted {
                ctx.state.stats.totals.confirm += 1;
                ch.stats.confirm += 1;
            }
            ctx.state.pending.confirms_pending(ctx.conn.id, channel);
        }
    }
    Ok(())
}

/// Routes through `BCC` are invisible to consumers: once routed, the
/// message is stored without that header.
fn without_bcc(message: Message) -> Message {
    if !routing::may_have_cc(&message) {
        return message;
    }
    let mut props = message.decode_properties();
    let Some(headers) = props.headers.as_mut() else { return message };
    if headers.remove("BCC").is_none() {
        return message;
    }
    let properties = props.to_bytes();
    match PropertiesScan::scan(&properties) {
        Ok(scan) => Message { properties, scan, ..message },
        Err(_) => message,
    }
}

/// `reply_to: amq.rabbitmq.reply-to` becomes the key that routes replies
/// back to this channel's reply consumer.
fn rewrite_reply_to(ctx: &mut Ctx, channel: u16, properties: &Bytes) -> Result<(Bytes, PropertiesScan)> {
    let secret = match &ctx.channel(channel)?.reply_consumer {
        Some((_, secret)) => *secret,
        None => return Err(AmqpError::precondition_failed("fast reply consumer does not exist")),
    };
    let mut props = crate::amqp::BasicProperties::decode(properties.clone()).map_err(AmqpError::syntax_error)?;
    props.reply_to = Some(reply_to::reply_key(ctx.conn.id, channel, secret));
    let raw = props.to_bytes();
    let scan = PropertiesScan::scan(&raw).map_err(AmqpError::syntax_error)?;
    Ok((raw, scan))
}

/// The `expiration` property as RabbitMQ reads it: a non-negative integer
/// number of milliseconds, written as text.
///
/// Errors are worded as RabbitMQ 3.10 words them (Erlang's
/// `string:to_integer`: an optional sign and digits, the rest "leftover").
pub(crate) fn parse_expiration(text: &str) -> Result<u64> {
    let refuse = |why: &dyn core::fmt::Display| AmqpError::precondition_failed(format_args!("invalid expiration '{text}': {why}"));
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let digits = unsigned.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(refuse(&"no_integer"));
    }
    let sign_len = text.len() - unsigned.len();
    let rest = &text[sign_len + digits..];
    if !rest.is_empty() {
        return Err(refuse(&format_args!("{{leftover_string,\"{rest}\"}}")));
    }
    let negative = text.starts_with('-');
    let value: u128 = unsigned[..digits].parse().unwrap_or(u128::MAX);
    if negative && value > 0 {
        return Err(refuse(&format_args!("{{value_negative,-{value}}}")));
    }
    match u64::try_from(value) {
        Ok(n) => Ok(n),
        // Erlang's pretty printer wraps the long tuple exactly so.
        Err(_) => Err(refuse(&format_args!("{{value_too_large,\n{}{}}}", " ".repeat(44), &unsigned[..digits]))),
    }
}

/// Routes a message, returning it to the publisher if it is mandatory and
/// reached no queue. A queue refusing it (reject-publish) means the
/// publisher's confirm is a nack; a ticket means the confirm waits for disk.
pub(crate) fn route_and_enqueue(
    ctx: &mut Ctx,
    channel: u16,
    exchange: Option<ExchangeId>,
    mandatory: bool,
    message: Message,
) -> queues::Enqueued {
    if exchange.is_none() && message.routing_key.starts_with(reply_to::PSEUDO_QUEUE) && ctx.state.pending.direct_reply(&message) {
        if mandatory {
            // RabbitMQ 3.10 quirk, kept for compatibility: a mandatory reply
            // is delivered *and* returned, since no queue took it.
            send_return(ctx, channel, &message);
        }
        return queues::Enqueued { accepted: 1, ..Default::default() };
    }
    let mut targets = core::mem::take(&mut ctx.state.scratch.targets);
    targets.clear();
    routing::route(&mut ctx.state.topology, &mut ctx.state.scratch.route, &ctx.conn.vhost, exchange, &message, &mut targets);
    if ctx.state.tracer.on() {
        let origin = (ctx.conn.id.as_u64(), channel);
        ctx.state.trace_publish(&message, message.trace, &ctx.conn.vhost.clone(), exchange, &targets, origin, mandatory);
    }
    let message = without_bcc(message);
    let returned = (mandatory && targets.is_empty()).then(|| message.clone());
    let result = queues::enqueue(ctx.state, &targets, message, ctx.now);
    ctx.state.stats.totals.routed += !targets.is_empty() as u64;
    crate::broker::flow::hold_back(ctx, &targets);
    if targets.is_empty() {
        let counter = if mandatory { &mut ctx.state.stats.totals.return_unroutable } else { &mut ctx.state.stats.totals.drop_unroutable };
        *counter += 1;
    }
    if let Some(message) = returned {
        send_return(ctx, channel, &message);
    }
    ctx.state.scratch.targets = targets;
    result
}

fn send_return(ctx: &mut Ctx, channel: u16, message: &Message) {
    let ret = BasicReturn {
        reply_code: 312,
        reply_text: "NO_ROUTE".into(),
        exchange: message.exchange.clone(),
        routing_key: message.routing_key.clone(),
    };
    ctx.conn.send_method(channel, &ret.into());
    ctx.conn.send_content(channel, message);
}

pub(crate) fn get(ctx: &mut Ctx, channel: u16, m: BasicGet) -> Result<()> {
    let name = ctx.queue_name(channel, m.queue)?;
    ctx.permit(Access::Read, "queue", &name)?;
    let qid = ctx.queue(&name)?;
    queues::expire_head(ctx.state, qid, ctx.now);
    let Some(q) = ctx.state.topology.queues.get_mut(qid) else { return Ok(()) };
    q.last_used = ctx.now;
    let quorum = q.config.kind == crate::queue::QueueKind::Quorum;
    let Some(entry) = q.ready.pop() else {
        ctx.state.stats.totals.get_empty += 1;
        ctx.conn.send_method(channel, &BasicGetEmpty { cluster_id: ShortStr::new() }.into());
        return Ok(());
    };
    let (global, local) = (&mut ctx.state.stats.totals, &mut q.stats);
    for c in [global, local] {
        if m.no_ack {
            c.get_no_ack += 1;
        } else {
            c.get += 1;
        }
        if entry.redelivered {
            c.redeliver += 1;
        }
    }
    let message_count = q.ready_count() as u32;
    if !m.no_ack {
        q.unacked += 1;
    }
    queues::arm_ttl_timer(ctx.state, qid);
    let ch = ctx.conn.channel_mut(channel).ok_or_else(|| AmqpError::channel_error("channel closed"))?;
    let tag = ch.next_tag();
    if m.no_ack {
        ch.stats.get_no_ack += 1;
    } else {
        ch.stats.get += 1;
        ch.unacked.push_back(Unacked { tag, queue: qid, entry, consumer: None, delivered_at: ctx.now });
    }
    ch.stats.redeliver += entry.redelivered as u64;
    if let Some(message) = ctx.state.topology.messages.get_loaded(entry.message) {
        let message = if quorum { dispatch::delivery_count_header(&message, &entry) } else { message.into_owned() };
        let ok = BasicGetOk {
            delivery_tag: tag,
            redelivered: entry.redelivered,
            exchange: message.exchange.clone(),
            routing_key: message.routing_key.clone(),
            message_count,
        };
        ctx.conn.send_method(channel, &ok.into());
        ctx.conn.send_content(channel, &message);
    }
    if ctx.state.tracer.on() {
        let trace = ctx.state.topology.messages.trace_of(entry.message);
        let (connection, now) = (ctx.conn.id.as_u64(), ctx.now);
        ctx.state.trace_queue(qid, |queue, _| TraceEvent::Delivered {
            at: now,
            message: trace,
            queue,
            consumer: String::new(),
            connection,
            channel,
            delivery_tag: tag,
            redelivered: entry.redelivered,
        });
    }
    if m.no_ack {
        ctx.state.forget(qid, entry);
    } else {
        ctx.state.note_delivered(qid, &entry);
    }
    Ok(())
}

pub(crate) fn ack(ctx: &mut Ctx, channel: u16, tag: u64, multiple: bool) -> Result<()> {
    settle_tags(ctx, channel, tag, multiple, Settle::Ack)
}

pub(crate) fn reject(ctx: &mut Ctx, channel: u16, tag: u64, multiple: bool, requeue: bool) -> Result<()> {
    settle_tags(ctx, channel, tag, multiple, if requeue { Settle::Requeue } else { Settle::Discard })
}

fn settle_tags(ctx: &mut Ctx, channel: u16, tag: u64, multiple: bool, outcome: Settle) -> Result<()> {
    let ch = ctx.channel(channel)?;
    let deliveries = ch.take_acked(tag, multiple)?;
    if let Some(ops) = ch.tx.as_mut() {
        ops.push(TxOp::Settle { deliveries, outcome });
        return Ok(());
    }
    settle(ctx.state, ctx.conn.channel_mut(channel), deliveries, outcome);
    Ok(())
}

/// Applies an outcome to deliveries already taken off a channel's unacked
/// list: frees prefetch credit and acks, requeues or dead-letters each.
pub(crate) fn settle(state: &mut State, ch: Option<&mut Channel>, deliveries: Vec<Unacked>, outcome: Settle) {
    let mut ch = ch;
    // Newest first, so each requeued message lands before those already back.
    for u in deliveries.into_iter().rev() {
        if state.tracer.on() {
            let trace = state.topology.messages.trace_of(u.entry.message);
            state.trace_queue(u.queue, |queue, at| match outcome {
                Settle::Ack => TraceEvent::Acked { at, message: trace, queue },
                Settle::Requeue => TraceEvent::Rejected { at, message: trace, queue, requeue: true },
                Settle::Discard => TraceEvent::Rejected { at, message: trace, queue, requeue: false },
            });
        }
        if let (Settle::Ack, Some(ch)) = (outcome, ch.as_deref_mut()) {
            ch.stats.ack += 1;
        }
        if let Some(cid) = u.consumer {
            if let Some(ch) = ch.as_deref_mut() {
                ch.prefetched = ch.prefetched.saturating_sub(1);
            }
            if let Some(c) = state.topology.consumers.get_mut(cid) {
                c.unacked = c.unacked.saturating_sub(1);
            }
        }
        match outcome {
            Settle::Requeue => queues::requeue(state, u.queue, u.entry),
            Settle::Ack | Settle::Discard => {
                if let Some(q) = state.topology.queues.get_mut(u.queue) {
                    q.unacked = q.unacked.saturating_sub(1);
                    if outcome == Settle::Ack {
                        q.stats.ack += 1;
                    }
                }
                if outcome == Settle::Ack {
                    state.stats.totals.ack += 1;
                }
                if outcome == Settle::Discard {
                    state.dead_letter(u.queue, u.entry, Reason::Rejected);
                } else {
                    state.forget(u.queue, u.entry);
                }
                state.mark_dirty(u.queue);
            }
        }
    }
    wake_channel_consumers(state, ch.as_deref());
}

pub(crate) fn recover(ctx: &mut Ctx, channel: u16, requeue: bool, reply: bool) -> Result<()> {
    if !requeue {
        return Err(AmqpError::not_implemented("requeue=false"));
    }
    let ch = ctx.channel(channel)?;
    let all: Vec<Unacked> = ch.unacked.drain(..).collect();
    settle(ctx.state, ctx.conn.channel_mut(channel), all, Settle::Requeue);
    if reply {
        ctx.conn.send_method(channel, &BasicRecoverOk {}.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_expiration;

    // Texts observed from RabbitMQ 3.10.8.
    #[test]
    fn expiration_errors_match_rabbitmq() {
        let err = |t: &str| parse_expiration(t).unwrap_err().text;
        assert_eq!(err("abc"), "PRECONDITION_FAILED - invalid expiration 'abc': no_integer");
        assert_eq!(err(""), "PRECONDITION_FAILED - invalid expiration '': no_integer");
        assert_eq!(err(" 5"), "PRECONDITION_FAILED - invalid expiration ' 5': no_integer");
        assert_eq!(err("1.5"), "PRECONDITION_FAILED - invalid expiration '1.5': {leftover_string,\".5\"}");
        assert_eq!(err("5 "), "PRECONDITION_FAILED - invalid expiration '5 ': {leftover_string,\" \"}");
        assert_eq!(err("-5"), "PRECONDITION_FAILED - invalid expiration '-5': {value_negative,-5}");
        assert_eq!(
            err("99999999999999999999"),
            format!(
                "PRECONDITION_FAILED - invalid expiration '99999999999999999999': {{value_too_large,\n{}99999999999999999999}}",
                " ".repeat(44)
            )
        );
        for (t, v) in [("+5", 5), ("007", 7), ("-0", 0), ("4294967296", 4294967296)] {
            assert_eq!(parse_expiration(t).unwrap(), v);
        }
    }
}
