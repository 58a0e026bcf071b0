//! What each timer does when it fires. Timers are `(deadline, what)` pairs
//! in one heap; a fired timer re-checks its condition, so stale timers
//! (for connections or queues since gone or changed) do nothing.

use super::{flow, lifecycle, queues, stats, Broker, Ctx, Timer};
use crate::connection::ConnState;
use crate::error::AmqpError;

pub(super) fn fire(broker: &mut Broker, timer: Timer, at: u64, now: u64) {
    let state = &mut broker.state;
    match timer {
        Timer::Heartbeat(id) => {
            let Some(conn) = broker.connections.get_mut(id) else { return };
            if conn.heartbeat == 0 || conn.state == ConnState::Closed {
                return;
            }
            let hb = conn.heartbeat as u64 * 1000;
            if conn.backpressure.reading_paused() {
                // The driver is not reading it, so its heartbeats wait unread
                // in the socket: silence proves nothing (RabbitMQ pauses its
                // heartbeat monitor while a connection is blocked).
                conn.last_recv = now;
            }
            if now >= conn.last_recv + 2 * hb {
                let reason = format!("missed heartbeats from client, timeout: {}s", conn.heartbeat);
                lifecycle::finish(state, conn, reason);
                return;
            }
            if now >= conn.last_sent + hb / 2 {
                conn.send_heartbeat();
                conn.last_sent = now;
                state.pending.queue_transmit(conn);
            }
            let next = (conn.last_recv + 2 * hb).min(conn.last_sent + hb / 2).max(now + 1);
            state.clock.schedule(next, Timer::Heartbeat(id));
        }
        Timer::Handshake(id) => {
            let Some(conn) = broker.connections.get_mut(id) else { return };
            use ConnState::*;
            if matches!(conn.state, AwaitingHeader | AwaitingStartOk | AwaitingTuneOk | AwaitingOpen) {
                lifecycle::finish(state, conn, "handshake timeout".into());
            }
        }
        Timer::CloseWait(id) => {
            let Some(conn) = broker.connections.get_mut(id) else { return };
            if let ConnState::Closing { deadline } = conn.state {
                if now >= deadline {
                    lifecycle::finish(state, conn, "timed out waiting for connection.close-ok".into());
                }
            }
        }
        Timer::LoginRefused(id) => {
            let Some(conn) = broker.connections.get_mut(id) else { return };
            if conn.state != ConnState::Refusing {
                return;
            }
            let text = core::mem::take(&mut conn.close_reason);
            if conn.capabilities.authentication_failure_close {
                let err = AmqpError { code: crate::amqp::ReplyCode::AccessRefused, text, class_id: 10, method_id: 11 };
                let mut ctx = Ctx { state, conn, config: &broker.config, now };
                lifecycle::connection_error(&mut ctx, err);
            } else {
                lifecycle::finish(state, conn, text);
            }
        }
        Timer::FlowResume(id) => {
            let Some(conn) = broker.connections.get_mut(id) else { return };
            if flow::pause_over(conn, now) {
                state.pending.reading_switch(conn, now);
            }
        }
        Timer::QueueTtl(q) => queues::ttl_timer(state, q, at, now),
        Timer::StatsSample => {
            state.stats.sample(now);
            for (_, q) in state.topology.queues.iter_mut() {
                q.rate_window.sample(now, q.stats);
            }
            for (_, x) in state.topology.exchanges.iter_mut() {
                x.rate_window.sample(now, x.stats);
            }
            for (_, conn) in broker.connections.iter_mut() {
                for ch in conn.channels_mut() {
                    ch.rate_window.sample(now, ch.stats);
                }
            }
            state.clock.schedule(now + stats::SAMPLE_INTERVAL_MS, Timer::StatsSample);
        }
        Timer::QueueExpires(q) => queues::expires_timer(state, q, now),
        Timer::ConsumerTimeout(id, channel) => {
            let Some(conn) = broker.connections.get_mut(id) else { return };
            let Some(timeout) = broker.config.consumer_timeout_ms else { return };
            let Some(ch) = conn.channel_mut(channel) else { return };
            ch.timeout_armed = false;
            let Some(oldest) = ch.unacked.iter().map(|u| u.delivered_at).min() else { return };
            if oldest + timeout <= now {
                let err = AmqpError::precondition_failed(format_args!(
                    "delivery acknowledgement on channel {channel} timed out. Timeout value used: {timeout} ms. This timeout value can be configured, see consumers doc guide to learn more"
                ));
                let mut ctx = Ctx { state, conn, config: &broker.config, now };
                lifecycle::channel_error(&mut ctx, channel, err);
                ctx.state.pending.queue_transmit(ctx.conn);
            } else {
                ch.timeout_armed = true;
                state.clock.schedule(oldest + timeout, Timer::ConsumerTimeout(id, channel));
            }
        }
    }
}
