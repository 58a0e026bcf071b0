//! The tx class: publishes and acknowledgements held until commit.

use super::basic::{route_and_enqueue, settle};
use crate::amqp::method::*;
use crate::broker::Ctx;
use crate::connection::channel::TxOp;
use crate::error::{AmqpError, Result};

fn not_transactional() -> AmqpError {
    AmqpError::precondition_failed("channel is not transactional")
}

pub(crate) fn select(ctx: &mut Ctx, channel: u16) -> Result<()> {
    let ch = ctx.channel(channel)?;
    if ch.confirm_next.is_some() {
        return Err(AmqpError::precondition_failed("cannot switch from confirm to tx mode"));
    }
    ch.tx.get_or_insert_with(Vec::new);
    ctx.conn.send_method(channel, &TxSelectOk {}.into());
    Ok(())
}

/// Commit-ok means the transaction's persistent messages on durable queues
/// are on disk, as RabbitMQ's does: it is held until the store reports the
/// last of their appends durable (`Broker::handle_persisted`), and so is
/// any later commit-ok on the channel, to keep them in order.
pub(crate) fn commit(ctx: &mut Ctx, channel: u16) -> Result<()> {
    let ops = ctx.channel(channel)?.tx.replace(Vec::new()).ok_or_else(not_transactional)?;
    let mut ticket = 0;
    for op in ops {
        match op {
            TxOp::Publish { exchange, mandatory, message } => {
                let enqueued = route_and_enqueue(ctx, channel, exchange, mandatory, message);
                ticket = ticket.max(enqueued.ticket.unwrap_or(0));
            }
            TxOp::Settle { deliveries, outcome } => settle(ctx.state, ctx.conn.channel_mut(channel), deliveries, outcome),
        }
    }
    let durable = ctx.state.persist.durable_upto;
    let ch = ctx.channel(channel)?;
    if ticket > durable || !ch.commits_held.is_empty() {
        let waits_for = ticket.max(ch.commits_held.back().copied().unwrap_or(0));
        ch.commits_held.push_back(waits_for);
        let key = (ctx.conn.id, channel);
        if !ctx.state.persist.commits_waiting.contains(&key) {
            ctx.state.persist.commits_waiting.push(key);
        }
        return Ok(());
    }
    ctx.conn.send_method(channel, &TxCommitOk {}.into());
    Ok(())
}

pub(crate) fn rollback(ctx: &mut Ctx, channel: u16) -> Result<()> {
    let ch = ctx.channel(channel)?;
    let ops = ch.tx.replace(Vec::new()).ok_or_else(not_transactional)?;
    // Acknowledged deliveries become outstanding again; publishes are dropped.
    for op in ops {
        if let TxOp::Settle { deliveries, .. } = op {
            ch.unacked.extend(deliveries);
        }
    }
    ch.unacked.make_contiguous().sort_unstable_by_key(|u| u.tag);
    ctx.conn.send_method(channel, &TxRollbackOk {}.into());
    Ok(())
}
