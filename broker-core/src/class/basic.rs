//! The basic class: publishing, consuming, get, acknowledgements, qos and
//! recover.

use bytes::Bytes;

use crate::amqp::method::*;
use crate::amqp::{PropertiesScan, ShortStr};
use crate::broker::{lifecycle, routing, Ctx, State};
use crate::connection::channel::{PendingPublish, Settle, TxOp, Unacked};
use crate::connection::Channel;
use crate::error::{resource, AmqpError, Result};
use crate::ids::ExchangeId;
use crate::message::Message;
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
        if let Some(q) = state.consumers.get(*c).map(|c| c.queue) {
            state.mark_dirty(q);
        }
    }
}

pub(crate) fn consume(ctx: &mut Ctx, channel: u16, m: BasicConsume) -> Result<()> {
    let name = ctx.queue_name(channel, m.queue)?;
    let qid = ctx.queue(&name)?;
    let tag = if m.consumer_tag.is_empty() { ctx.state.gen_name("amq.ctag-") } else { m.consumer_tag };
    let ch = ctx.conn.channel_mut(channel).ok_or_else(|| AmqpError::channel_error("channel closed"))?;
    let prefetch = ch.consumer_prefetch;
    if let Some(existing) = ch.consumer(&tag) {
        if ctx.state.consumers.contains(existing) {
            return Err(AmqpError::not_allowed(format_args!("attempt to reuse consumer tag '{tag}'")));
        }
        ch.remove_consumer(&tag);
    }
    let Some(q) = ctx.state.queues.get(qid) else { return Ok(()) };
    let exclusive_held = q.consumers.iter().any(|c| ctx.state.consumers.get(*c).is_some_and(|c| c.exclusive));
    if exclusive_held || (m.exclusive && !q.consumers.is_empty()) {
        return Err(AmqpError::access_refused(format_args!("{} in exclusive use", resource("queue", &name, &q.vhost))));
    }
    let consumer = Consumer {
        tag: tag.clone(),
        connection: ctx.conn.id,
        channel,
        queue: qid,
        no_ack: m.no_ack,
        exclusive: m.exclusive,
        prefetch,
        unacked: 0,
        arguments: m.arguments,
    };
    let cid = ctx.state.consumers.insert(consumer);
    if let Some(q) = ctx.state.queues.get_mut(qid) {
        q.consumers.push(cid);
        q.had_consumer = true;
    }
    ctx.channel(channel)?.consumers.push((tag.clone(), cid));
    if !m.nowait {
        ctx.conn.send_method(channel, &BasicConsumeOk { consumer_tag: tag }.into());
    }
    // Deliveries start at the next flush, after consume-ok.
    ctx.state.mark_dirty(qid);
    Ok(())
}

pub(crate) fn cancel(ctx: &mut Ctx, channel: u16, m: BasicCancel) -> Result<()> {
    if let Some(cid) = ctx.channel(channel)?.remove_consumer(&m.consumer_tag) {
        lifecycle::remove_consumer(ctx.state, cid);
    }
    if !m.nowait {
        ctx.conn.send_method(channel, &BasicCancelOk { consumer_tag: m.consumer_tag }.into());
    }
    Ok(())
}

/// basic.publish arrived: wait for its content.
pub(crate) fn start_publish(ctx: &mut Ctx, channel: u16, m: BasicPublish) -> Result<()> {
    if m.immediate {
        return Err(AmqpError::not_implemented("immediate=true"));
    }
    ctx.channel(channel)?.publish =
        Some(PendingPublish { method: m, header: None, body_size: 0, body: Default::default() });
    Ok(())
}

/// A complete message: check it, then route it now or hold it for tx.commit.
pub(crate) fn publish(ctx: &mut Ctx, channel: u16, m: BasicPublish, properties: Bytes, scan: PropertiesScan, body: Bytes) -> Result<()> {
    let exchange = if routing::is_default_exchange(&m.exchange) {
        None
    } else {
        let id = ctx.exchange(&m.exchange)?;
        if ctx.state.exchanges.get(id).is_some_and(|x| x.internal) {
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
    let message = Message { exchange: m.exchange, routing_key: m.routing_key, properties, scan, body };
    let ch = ctx.channel(channel)?;
    if let Some(ops) = ch.tx.as_mut() {
        ops.push(TxOp::Publish { exchange, mandatory: m.mandatory, message });
        return Ok(());
    }
    let seq = ch.next_publish_seq();
    route_and_enqueue(ctx, channel, exchange, m.mandatory, message);
    if let Some(ch) = ctx.conn.channel_mut(channel) {
        if seq.is_some() {
            ch.confirm(seq, true);
            ctx.state.confirms_pending(ctx.conn.id, channel);
        }
    }
    Ok(())
}

/// Routes a message, returning it to the publisher if it is mandatory and
/// reached no queue.
pub(crate) fn route_and_enqueue(ctx: &mut Ctx, channel: u16, exchange: Option<ExchangeId>, mandatory: bool, message: Message) {
    let mut queues = Vec::new();
    routing::route(ctx.state, &ctx.conn.vhost, exchange, &message, &mut queues);
    if routing::enqueue(ctx.state, &queues, message.clone()) == 0 && mandatory {
        let ret = BasicReturn {
            reply_code: 312,
            reply_text: "NO_ROUTE".into(),
            exchange: message.exchange.clone(),
            routing_key: message.routing_key.clone(),
        };
        ctx.conn.send_method(channel, &ret.into());
        ctx.conn.send_content(channel, &message);
    }
}

pub(crate) fn get(ctx: &mut Ctx, channel: u16, m: BasicGet) -> Result<()> {
    let name = ctx.queue_name(channel, m.queue)?;
    let qid = ctx.queue(&name)?;
    let State { queues, messages, .. } = &mut *ctx.state;
    let Some(q) = queues.get_mut(qid) else { return Ok(()) };
    let Some(entry) = q.pop(|id| messages.get(id).map_or(0, |m| m.size())) else {
        ctx.conn.send_method(channel, &BasicGetEmpty { cluster_id: ShortStr::new() }.into());
        return Ok(());
    };
    let message_count = q.ready_count() as u32;
    if !m.no_ack {
        q.unacked += 1;
    }
    let ch = ctx.conn.channel_mut(channel).ok_or_else(|| AmqpError::channel_error("channel closed"))?;
    let tag = ch.next_tag();
    if !m.no_ack {
        ch.unacked.push_back(Unacked { tag, queue: qid, entry, consumer: None });
    }
    if let Some(message) = messages.get(entry.message) {
        let ok = BasicGetOk {
            delivery_tag: tag,
            redelivered: entry.redelivered,
            exchange: message.exchange.clone(),
            routing_key: message.routing_key.clone(),
            message_count,
        };
        ctx.conn.send_method(channel, &ok.into());
        let message = message.clone();
        ctx.conn.send_content(channel, &message);
    }
    if m.no_ack {
        messages.release(entry.message);
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
/// list: frees prefetch credit and acks, requeues or drops each message.
pub(crate) fn settle(state: &mut State, ch: Option<&mut Channel>, deliveries: Vec<Unacked>, outcome: Settle) {
    let mut ch = ch;
    for u in deliveries.into_iter().rev() {
        if let Some(cid) = u.consumer {
            if let Some(ch) = ch.as_deref_mut() {
                ch.prefetched = ch.prefetched.saturating_sub(1);
            }
            if let Some(c) = state.consumers.get_mut(cid) {
                c.unacked = c.unacked.saturating_sub(1);
            }
        }
        match outcome {
            Settle::Requeue => lifecycle::requeue_or_release(state, u.queue, u.entry),
            Settle::Ack | Settle::Discard => {
                if let Some(q) = state.queues.get_mut(u.queue) {
                    q.unacked = q.unacked.saturating_sub(1);
                }
                state.messages.release(u.entry.message);
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
