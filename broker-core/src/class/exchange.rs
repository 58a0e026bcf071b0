//! The exchange class: declare, delete, and exchange-to-exchange bind/unbind.

use super::check_name;
use crate::amqp::method::*;
use crate::amqp::{FieldTable, FieldValue, ShortStr};
use crate::broker::{lifecycle, routing::is_default_exchange, Ctx};
use crate::error::{resource, AmqpError, Result};
use crate::exchange::{Destination, Exchange, ExchangeKind};
use crate::ids::ExchangeId;
use crate::permissions::Access;

fn default_exchange_refused() -> AmqpError {
    AmqpError::access_refused("operation not permitted on the default exchange")
}

pub(crate) fn declare(ctx: &mut Ctx, channel: u16, m: ExchangeDeclare) -> Result<()> {
    if is_default_exchange(&m.exchange) {
        return Err(default_exchange_refused());
    }
    if m.passive {
        ctx.exchange(&m.exchange)?;
    } else {
        ctx.permit(Access::Configure, "exchange", &m.exchange)?;
        if let Some(FieldValue::LongStr(ae)) = m.arguments.get("alternate-exchange") {
            ctx.permit(Access::Write, "exchange", &String::from_utf8_lossy(ae))?;
            ctx.permit(Access::Read, "exchange", &m.exchange)?;
        }
        let kind =
            ExchangeKind::parse(&m.kind).ok_or_else(|| AmqpError::command_invalid(format_args!("unknown exchange type '{}'", m.kind)))?;
        match ctx.find_exchange(&m.exchange) {
            Some(id) => check_equivalent(ctx, id, &m, kind)?,
            None => {
                check_name("exchange", &m.exchange)?;
                if let Some(v) = m.arguments.get("alternate-exchange").filter(|v| !matches!(v, FieldValue::LongStr(_))) {
                    return Err(AmqpError::precondition_failed(format_args!(
                        "invalid type '{}' for arg 'alternate-exchange' in {}",
                        crate::queue::args::type_name_of(v),
                        resource("exchange", &m.exchange, ctx.vhost_name())
                    )));
                }
                let mut x = Exchange::new(m.exchange.clone(), kind, m.durable, m.auto_delete, m.internal, m.arguments);
                if x.alternate_exchange.is_none() {
                    let from_policy =
                        ctx.state.policy_for(&ctx.conn.vhost, false, &m.exchange).and_then(|p| p.definition.get("alternate-exchange"));
                    x.alternate_exchange = from_policy.and_then(FieldValue::as_str).map(ShortStr::from);
                }
                let id = ctx.state.topology.exchanges.insert(x);
                if let Some(vh) = ctx.state.topology.vhosts.get_mut(&ctx.conn.vhost) {
                    vh.exchanges.insert(m.exchange.clone(), id);
                }
                if m.durable {
                    ctx.state.definitions_changed();
                }
            }
        }
    }
    if !m.nowait {
        ctx.conn.send_method(channel, &ExchangeDeclareOk {}.into());
    }
    Ok(())
}

fn check_equivalent(ctx: &Ctx, id: ExchangeId, m: &ExchangeDeclare, kind: ExchangeKind) -> Result<()> {
    let Some(x) = ctx.state.topology.exchanges.get(id) else { return Ok(()) };
    let differ = |arg: &str, received: &dyn core::fmt::Display, current: &dyn core::fmt::Display| {
        AmqpError::precondition_failed(format_args!(
            "inequivalent arg '{arg}' for {}: received '{received}' but current is '{current}'",
            resource("exchange", &x.name, ctx.vhost_name())
        ))
    };
    if x.kind != kind {
        return Err(differ("type", &kind.as_str(), &x.kind.as_str()));
    }
    if x.durable != m.durable {
        return Err(differ("durable", &m.durable, &x.durable));
    }
    if x.auto_delete != m.auto_delete {
        return Err(differ("auto_delete", &m.auto_delete, &x.auto_delete));
    }
    if x.internal != m.internal {
        return Err(differ("internal", &m.internal, &x.internal));
    }
    // RabbitMQ compares only the arguments it interprets.
    let ae = |t: &FieldTable| t.get("alternate-exchange").cloned();
    if ae(&x.arguments) != ae(&m.arguments) {
        let show = |v: Option<FieldValue>| v.and_then(|v| v.as_str().map(str::to_string)).unwrap_or_else(|| "none".into());
        return Err(differ("alternate-exchange", &show(ae(&m.arguments)), &show(ae(&x.arguments))));
    }
    Ok(())
}

pub(crate) fn delete(ctx: &mut Ctx, channel: u16, m: ExchangeDelete) -> Result<()> {
    if is_default_exchange(&m.exchange) {
        return Err(default_exchange_refused());
    }
    if m.exchange.starts_with("amq.") {
        return Err(AmqpError::access_refused(format_args!(
            "deletion of system {} not allowed",
            resource("exchange", &m.exchange, ctx.vhost_name())
        )));
    }
    ctx.permit(Access::Configure, "exchange", &m.exchange)?;
    // Deleting an exchange that does not exist succeeds, as in RabbitMQ.
    if let Some(id) = ctx.find_exchange(&m.exchange) {
        let in_use = ctx.state.topology.exchanges.get(id).is_some_and(|x| x.has_bindings());
        if m.if_unused && in_use {
            return Err(AmqpError::precondition_failed(format_args!("{} in use", resource("exchange", &m.exchange, ctx.vhost_name()))));
        }
        let vhost = ctx.conn.vhost.clone();
        lifecycle::delete_exchange(ctx.state, id, &vhost);
    }
    if !m.nowait {
        ctx.conn.send_method(channel, &ExchangeDeleteOk {}.into());
    }
    Ok(())
}

fn endpoints(ctx: &mut Ctx, source: &ShortStr, destination: &ShortStr) -> Result<(ExchangeId, ExchangeId)> {
    if is_default_exchange(source) || is_default_exchange(destination) {
        return Err(default_exchange_refused());
    }
    ctx.permit(Access::Write, "exchange", destination)?;
    ctx.permit(Access::Read, "exchange", source)?;
    // RabbitMQ looks up the source first.
    let src = ctx.exchange(source)?;
    let dst = ctx.exchange(destination)?;
    Ok((src, dst))
}

pub(crate) fn bind(ctx: &mut Ctx, channel: u16, m: ExchangeBind) -> Result<()> {
    let (src, dst) = endpoints(ctx, &m.source, &m.destination)?;
    if let Some(x) = ctx.state.topology.exchanges.get_mut(src) {
        // The source's type judges the arguments, as in RabbitMQ.
        x.validate_binding(&m.arguments)?;
        if x.bind(Destination::Exchange(dst), m.routing_key, m.arguments) {
            ctx.state.definitions_changed();
        }
    }
    if !m.nowait {
        ctx.conn.send_method(channel, &ExchangeBindOk {}.into());
    }
    Ok(())
}

pub(crate) fn unbind(ctx: &mut Ctx, channel: u16, m: ExchangeUnbind) -> Result<()> {
    // Unbinding is idempotent: missing exchanges or bindings are fine.
    let (src, dst) = match endpoints(ctx, &m.source, &m.destination) {
        Ok(ends) => ends,
        Err(e) if e.code == crate::amqp::ReplyCode::NotFound => {
            if !m.nowait {
                ctx.conn.send_method(channel, &ExchangeUnbindOk {}.into());
            }
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let removed =
        ctx.state.topology.exchanges.get_mut(src).is_some_and(|x| x.unbind(Destination::Exchange(dst), &m.routing_key, &m.arguments));
    if removed {
        ctx.state.definitions_changed();
        let vhost = ctx.conn.vhost.clone();
        lifecycle::maybe_auto_delete_exchange(ctx.state, src, &vhost);
    }
    if !m.nowait {
        ctx.conn.send_method(channel, &ExchangeUnbindOk {}.into());
    }
    Ok(())
}
