//! The confirm class: publisher confirms (RabbitMQ's extension).

use crate::amqp::method::*;
use crate::broker::Ctx;
use crate::error::{AmqpError, Result};

pub(crate) fn select(ctx: &mut Ctx, channel: u16, m: ConfirmSelect) -> Result<()> {
    let ch = ctx.channel(channel)?;
    if ch.tx.is_some() {
        return Err(AmqpError::precondition_failed("cannot switch from tx to confirm mode"));
    }
    if ch.confirm_next.is_none() {
        ch.confirm_next = Some(1);
    }
    if !m.nowait {
        ctx.conn.send_method(channel, &ConfirmSelectOk {}.into());
    }
    Ok(())
}
