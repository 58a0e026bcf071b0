//! The queue class: declare, bind, unbind, purge, delete.

use super::check_name;
use crate::amqp::method::*;
use crate::amqp::{FieldValue, ShortStr};
use crate::broker::{lifecycle, queues, reply_to, routing::is_default_exchange, Ctx};
use crate::error::{resource, AmqpError, Result};
use crate::exchange::Destination;
use crate::ids::QueueId;
use crate::permissions::Access;
use crate::queue::args::{type_name_of, DeclareFlags};
use crate::queue::{Queue, QueueBinding, QueueConfig};

/// Queue arguments RabbitMQ compares when a queue is declared again.
const COMPARED_ARGS: &[&str] = &[
    "x-expires",
    "x-message-ttl",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-priority",
    "x-overflow",
    "x-queue-mode",
    "x-queue-type",
    "x-single-active-consumer",
    "x-delivery-limit",
];

pub(crate) fn declare(ctx: &mut Ctx, channel: u16, m: QueueDeclare) -> Result<()> {
    if m.passive && m.queue.starts_with(reply_to::PSEUDO_QUEUE) {
        return declare_reply_pseudo_queue(ctx, channel, m);
    }
    let id = if m.passive {
        let name = ctx.queue_name(channel, m.queue)?;
        ctx.queue(&name)?
    } else {
        let server_named = m.queue.is_empty();
        let name = if server_named { ctx.state.clock.gen_name("amq.gen-") } else { m.queue.clone() };
        match ctx.find_queue(&name) {
            Some(id) => {
                ctx.check_exclusive(id)?;
                // RabbitMQ also refuses a redeclare whose exclusive flag differs.
                if ctx.state.topology.queues.get(id).is_some_and(|q| q.exclusive_owner.is_some() != m.exclusive) {
                    return Err(ctx.locked(id));
                }
                check_equivalent(ctx, id, &m)?;
                id
            }
            None => {
                if !server_named {
                    check_name("queue", &name)?;
                }
                let existing = ctx.state.topology.vhosts.get(&ctx.conn.vhost).map_or(0, |v| v.queues.len());
                ctx.state.access.admit_queue(&ctx.conn.vhost, &name, existing)?;
                ctx.permit(Access::Configure, "queue", &name)?;
                if let Some(FieldValue::LongStr(dlx)) = m.arguments.get("x-dead-letter-exchange") {
                    ctx.permit(Access::Write, "exchange", &String::from_utf8_lossy(dlx))?;
                    ctx.permit(Access::Read, "queue", &name)?;
                }
                let vhost = ctx.conn.vhost.clone();
                let flags = DeclareFlags { durable: m.durable, exclusive: m.exclusive, auto_delete: m.auto_delete };
                let config = QueueConfig::parse(&m.arguments, &flags, &name, &vhost)?;
                let owner = m.exclusive.then_some(ctx.conn.id);
                let q = Queue::new(name.clone(), &vhost, m.durable, m.auto_delete, owner, m.arguments, config, ctx.now);
                let id = ctx.state.topology.queues.insert(q);
                if let Some(vh) = ctx.state.topology.vhosts.get_mut(&vhost) {
                    vh.queues.insert(name, id);
                }
                if m.durable && !m.exclusive {
                    ctx.state.definitions_changed();
                }
                if m.exclusive {
                    ctx.conn.exclusive_queues.push(id);
                }
                if !ctx.state.topology.policies.is_empty() {
                    ctx.state.apply_policies_to_queue(id);
                }
                ctx.state.register_durable_queue(id);
                queues::arm_expires_timer(ctx.state, id);
                id
            }
        }
    };
    let Some(q) = ctx.state.topology.queues.get_mut(id) else { return Ok(()) };
    q.last_used = ctx.now;
    let ok = QueueDeclareOk { queue: q.name.clone(), message_count: q.ready_count() as u32, consumer_count: q.consumers.len() as u32 };
    ctx.channel(channel)?.last_queue = Some(ok.queue.clone());
    if !m.nowait {
        ctx.conn.send_method(channel, &ok.into());
    }
    Ok(())
}

/// A passive declare of the direct reply-to pseudo-queue (or of a reply
/// key, to check its consumer is still there), answered like RabbitMQ.
fn declare_reply_pseudo_queue(ctx: &mut Ctx, channel: u16, m: QueueDeclare) -> Result<()> {
    if &*m.queue != reply_to::PSEUDO_QUEUE && reply_to::parse_key(&m.queue).is_none() {
        return Err(AmqpError::not_found(format_args!("no {}", resource("queue", &m.queue, ctx.vhost_name()))));
    }
    let ok = QueueDeclareOk { queue: m.queue, message_count: 0, consumer_count: 1 };
    if !m.nowait {
        ctx.conn.send_method(channel, &ok.into());
    }
    Ok(())
}

fn check_equivalent(ctx: &Ctx, id: QueueId, m: &QueueDeclare) -> Result<()> {
    let Some(q) = ctx.state.topology.queues.get(id) else { return Ok(()) };
    let differ = |arg: &str, received: &dyn core::fmt::Display, current: &dyn core::fmt::Display| {
        AmqpError::precondition_failed(format_args!(
            "inequivalent arg '{arg}' for {}: received '{received}' but current is '{current}'",
            resource("queue", &q.name, &q.vhost)
        ))
    };
    if q.durable != m.durable {
        return Err(differ("durable", &m.durable, &q.durable));
    }
    if q.auto_delete != m.auto_delete {
        return Err(differ("auto_delete", &m.auto_delete, &q.auto_delete));
    }
    for key in COMPARED_ARGS {
        let (new, old) = (m.arguments.get(key), q.arguments.get(key));
        if !equivalent(new, old) {
            return Err(AmqpError::precondition_failed(format_args!(
                "inequivalent arg '{key}' for {}: received {} but current is {}",
                resource("queue", &q.name, &q.vhost),
                show(new, old),
                show(old, new)
            )));
        }
    }
    Ok(())
}

/// RabbitMQ's rule: equal values of the same type class (any integer width).
fn equivalent(a: Option<&FieldValue>, b: Option<&FieldValue>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x == y,
        },
        _ => false,
    }
}

/// An argument value as RabbitMQ prints it in an inequivalence error: the
/// bare value when both sides have the same type, else with its type name.
fn show(v: Option<&FieldValue>, other: Option<&FieldValue>) -> String {
    let Some(v) = v else { return "none".into() };
    let text = match (v.as_str(), v.as_i64(), v.as_bool()) {
        (Some(s), _, _) => s.to_string(),
        (_, Some(i), _) => i.to_string(),
        (_, _, Some(b)) => b.to_string(),
        _ => format!("{v:?}"),
    };
    match other {
        Some(o) if o.tag() == v.tag() => format!("'{text}'"),
        _ => format!("the value '{text}' of type '{}'", type_name_of(v)),
    }
}

/// Resolves a queue.bind / queue.unbind: the queue (empty name = last
/// declared, empty key with it = its name) and the exchange.
fn binding_target(
    ctx: &mut Ctx,
    channel: u16,
    queue: ShortStr,
    exchange: &str,
    key: ShortStr,
) -> Result<(QueueId, crate::ids::ExchangeId, ShortStr)> {
    let key = if queue.is_empty() && key.is_empty() { ctx.queue_name(channel, queue.clone())? } else { key };
    let name = ctx.queue_name(channel, queue)?;
    if is_default_exchange(exchange) {
        return Err(AmqpError::access_refused("operation not permitted on the default exchange"));
    }
    ctx.permit(Access::Write, "queue", &name)?;
    ctx.permit(Access::Read, "exchange", exchange)?;
    // RabbitMQ looks up the exchange first.
    let x = ctx.exchange(exchange)?;
    let q = ctx.queue(&name)?;
    Ok((q, x, key))
}

pub(crate) fn bind(ctx: &mut Ctx, channel: u16, m: QueueBind) -> Result<()> {
    let (q, x, key) = binding_target(ctx, channel, m.queue, &m.exchange, m.routing_key)?;
    if let Some(e) = ctx.state.topology.exchanges.get(x) {
        e.validate_binding(&m.arguments)?;
    }
    let added = ctx.state.topology.exchanges.get_mut(x).is_some_and(|e| e.bind(Destination::Queue(q), key.clone(), m.arguments.clone()));
    if added {
        ctx.state.definitions_changed();
        if let Some(queue) = ctx.state.topology.queues.get_mut(q) {
            queue.bindings.push(QueueBinding { exchange: x, key, args: m.arguments });
        }
    }
    if !m.nowait {
        ctx.conn.send_method(channel, &QueueBindOk {}.into());
    }
    Ok(())
}

pub(crate) fn unbind(ctx: &mut Ctx, channel: u16, m: QueueUnbind) -> Result<()> {
    // Unbinding is idempotent: a missing queue, exchange or binding is fine.
    let (q, x, key) = match binding_target(ctx, channel, m.queue, &m.exchange, m.routing_key) {
        Ok(t) => t,
        Err(e) if e.code == crate::amqp::ReplyCode::NotFound => {
            ctx.conn.send_method(channel, &QueueUnbindOk {}.into());
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let removed = ctx.state.topology.exchanges.get_mut(x).is_some_and(|e| e.unbind(Destination::Queue(q), &key, &m.arguments));
    if removed {
        ctx.state.definitions_changed();
        if let Some(queue) = ctx.state.topology.queues.get_mut(q) {
            if let Some(i) = queue.bindings.iter().position(|b| b.exchange == x && b.key == key && b.args == m.arguments) {
                queue.bindings.remove(i);
            }
        }
        let vhost = ctx.conn.vhost.clone();
        lifecycle::maybe_auto_delete_exchange(ctx.state, x, &vhost);
    }
    ctx.conn.send_method(channel, &QueueUnbindOk {}.into());
    Ok(())
}

pub(crate) fn purge(ctx: &mut Ctx, channel: u16, m: QueuePurge) -> Result<()> {
    let name = ctx.queue_name(channel, m.queue)?;
    ctx.permit(Access::Read, "queue", &name)?;
    let id = ctx.queue(&name)?;
    let ready = ctx.state.topology.queues.get_mut(id).map(|q| q.ready.drain()).unwrap_or_default();
    let waiters = ctx.state.topology.queues.get_mut(id).map(|q| core::mem::take(&mut q.flow_waiters)).unwrap_or_default();
    ctx.state.pending.release_flow(waiters);
    let count = ready.len() as u32;
    ctx.state.note_purged(id);
    for e in ready {
        ctx.state.topology.messages.release(e.message);
    }
    if !m.nowait {
        ctx.conn.send_method(channel, &QueuePurgeOk { message_count: count }.into());
    }
    Ok(())
}

pub(crate) fn delete(ctx: &mut Ctx, channel: u16, m: QueueDelete) -> Result<()> {
    let name = ctx.queue_name(channel, m.queue)?;
    ctx.permit(Access::Configure, "queue", &name)?;
    // Deleting a queue that does not exist succeeds, as in RabbitMQ.
    let mut count = 0;
    if let Some(id) = ctx.find_queue(&name) {
        ctx.check_exclusive(id)?;
        let Some(q) = ctx.state.topology.queues.get(id) else { return Ok(()) };
        if m.if_unused && !q.consumers.is_empty() {
            return Err(AmqpError::precondition_failed(format_args!("{} in use", resource("queue", &name, &q.vhost))));
        }
        if m.if_empty && q.ready_count() > 0 {
            return Err(AmqpError::precondition_failed(format_args!("{} not empty", resource("queue", &name, &q.vhost))));
        }
        count = lifecycle::delete_queue(ctx.state, id) as u32;
        ctx.conn.exclusive_queues.retain(|q| *q != id);
    }
    if !m.nowait {
        ctx.conn.send_method(channel, &QueueDeleteOk { message_count: count }.into());
    }
    Ok(())
}
