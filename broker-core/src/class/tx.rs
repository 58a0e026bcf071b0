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

pub(crate) fn commit(ctx: &mut Ctx, channel: u16) -> Result<()> {
    let ops = ctx.channel(channel)?.tx.replace(Vec::new()).ok_or_else(not_transactional)?;
    for op in ops {
        match op {
            TxOp::Publish { exchange, mandatory, message } => {
                route_and_enqueue(ctx, channel, exchange, mandatory, message);
            }
            TxOp::Settle { deliveries, outcome } => {
                settle(ctx.state, ctx.conn.channel_mut(channel), deliveries, outcome)
            }
        }
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
