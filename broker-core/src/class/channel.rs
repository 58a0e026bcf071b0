//! The channel class: open, close in both directions, and flow.

use crate::amqp::method::*;
use crate::amqp::Method;
use crate::broker::{lifecycle, Ctx};
use crate::error::{AmqpError, Result};

/// Whether `channel` may be used at all (0 is no limit). Channels above
/// the limit can never be open: the check needs no lookup.
pub(crate) fn within_channel_max(ctx: &Ctx, channel: u16) -> bool {
    ctx.conn.channel_max == 0 || channel <= ctx.conn.channel_max
}

/// Any frame on a channel above the negotiated channel_max closes the
/// connection with 530, not the 504 of a channel within range that was
/// never opened. RabbitMQ 3.10 limits how many channels are open rather
/// than their numbers: once `channel_max` are open, a frame on any other
/// channel gets its 530 text here too; below that count it would accept a
/// number above the limit, which Warren (like the spec) does not.
pub(crate) fn above_channel_max(ctx: &Ctx, channel: u16) -> AmqpError {
    let max = ctx.conn.channel_max;
    let open = ctx.conn.channel_count();
    if open >= usize::from(max) {
        AmqpError::not_allowed(format_args!("number of channels opened ({open}) has reached the negotiated channel_max ({max})"))
    } else {
        AmqpError::not_allowed(format_args!("channel number {channel} is above the negotiated channel_max ({max})"))
    }
}

pub(crate) fn open(ctx: &mut Ctx, channel: u16) -> Result<()> {
    ctx.state.access.admit_channel(&ctx.conn.user).map_err(|e| e.on((20, 10)))?;
    ctx.state.access.count_channel(&ctx.conn.user, true);
    ctx.conn.open_channel(channel);
    ctx.conn.send_method(channel, &ChannelOpenOk::default().into());
    Ok(())
}

/// channel.close from the client, or close-ok for our own channel.close.
pub(crate) fn finish_close(ctx: &mut Ctx, channel: u16, method: Method) -> Result<()> {
    let Some(mut ch) = ctx.conn.remove_channel(channel) else { return Ok(()) };
    ctx.state.access.count_channel(&ctx.conn.user, false);
    lifecycle::cleanup_channel(ctx.state, &mut ch);
    if let Method::ChannelClose(_) = method {
        ctx.conn.send_method(channel, &ChannelCloseOk {}.into());
    }
    Ok(())
}

/// channel.flow: the client pauses or resumes deliveries to this channel.
pub(crate) fn flow(ctx: &mut Ctx, channel: u16, m: ChannelFlow) -> Result<()> {
    // Like RabbitMQ, clients may not pause deliveries with channel.flow;
    // basic.qos is the tool for that.
    if !m.active {
        return Err(AmqpError::not_implemented("active=false"));
    }
    let ch = ctx.channel(channel)?;
    ch.flow_active = m.active;
    let consumers: Vec<_> = ch.consumers.iter().map(|(_, c)| *c).collect();
    ctx.conn.send_method(channel, &ChannelFlowOk { active: m.active }.into());
    if m.active {
        for c in consumers {
            if let Some(q) = ctx.state.topology.consumers.get(c).map(|c| c.queue) {
                ctx.state.mark_dirty(q);
            }
        }
    }
    Ok(())
}
