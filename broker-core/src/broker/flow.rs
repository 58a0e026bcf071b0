//! Credit flow: a short pause for a publisher that outruns a queue whose
//! consumers are keeping up with the core, not with it. Their acks wait in
//! the core's input behind the publisher's, so without a pause the backlog
//! (and every message's time in the queue) grows while they are served less
//! often; RabbitMQ's credit flow slows a channel that outruns its queue
//! process the same way.
//!
//! It is never a way to stop publishers: only a queue that has been
//! draining fast enough to shed its excess within one pause holds a
//! publisher back, and for at most [`MAX_PAUSE_MS`]. A queue whose consumers
//! are slow or stuck keeps accepting; memory decides when publishers stop
//! (the memory budget pages bodies out, the memory alarm blocks).

use super::{Ctx, State, Timer};
use crate::connection::{Connection, Pause};
use crate::ids::QueueId;

/// The longest one pause lasts.
pub(crate) const MAX_PAUSE_MS: u64 = 500;
/// The span over which a queue's drain rate is measured.
const RATE_WINDOW_MS: u64 = 100;

/// How fast a queue's consumers have been taking messages lately: the
/// deliveries of the current and the previous window over the time since
/// the previous one began.
#[derive(Debug, Default, Clone)]
pub struct DrainRate {
    prev_start: u64,
    prev_count: u64,
    start: u64,
    count: u64,
    last_taken: Option<u64>,
}

impl DrainRate {
    /// `n` messages were just delivered from the queue.
    pub fn taken(&mut self, now: u64, n: u64) {
        if n == 0 {
            return;
        }
        if self.last_taken.is_none() {
            (self.prev_start, self.start) = (now, now);
        } else if now.saturating_sub(self.start) >= RATE_WINDOW_MS {
            (self.prev_start, self.prev_count) = (self.start, self.count);
            (self.start, self.count) = (now, 0);
        }
        self.count += n;
        self.last_taken = Some(now);
    }

    /// Messages per second lately; 0 once nothing has been taken for two
    /// windows (the consumers are stuck, gone or slow).
    pub fn per_sec(&self, now: u64) -> u64 {
        match self.last_taken {
            Some(last) if now.saturating_sub(last) <= 2 * RATE_WINDOW_MS => {
                let span = now.saturating_sub(self.prev_start).max(RATE_WINDOW_MS);
                (self.prev_count + self.count) * 1000 / span
            }
            _ => 0,
        }
    }
}

/// After a publish into `targets`: pauses the publisher if one of them has
/// more than `flow_backlog` ready messages and is draining fast enough to
/// get back to half of that within one pause.
pub(crate) fn hold_back(ctx: &mut Ctx, targets: &[QueueId]) {
    let limit = ctx.config.flow_backlog;
    let now = ctx.now;
    for &q in targets {
        let Some(queue) = ctx.state.topology.queues.get_mut(q) else { continue };
        let ready = queue.ready_count();
        if ready <= limit || queue.consumers.is_empty() {
            continue;
        }
        let excess = (ready - limit / 2) as u64;
        if queue.drain.per_sec(now) * MAX_PAUSE_MS / 1000 < excess {
            continue;
        }
        let id = ctx.conn.id;
        if !queue.flow_waiters.contains(&id) {
            queue.flow_waiters.push(id);
        }
        if ctx.conn.backpressure.flow_until().is_none() {
            ctx.conn.backpressure.pause_flow_until(now + MAX_PAUSE_MS);
            ctx.state.clock.schedule(now + MAX_PAUSE_MS, Timer::FlowResume(id));
            ctx.state.pending.reading_changed.push(id);
        }
    }
}

/// After deliveries from `q`: the publishers it held back read again once
/// it has drained to half of `flow_backlog`.
pub(crate) fn drained(state: &mut State, q: QueueId, flow_backlog: usize) {
    let Some(queue) = state.topology.queues.get_mut(q) else { return };
    if !queue.flow_waiters.is_empty() && queue.ready_count() <= flow_backlog / 2 {
        state.pending.release_flow(core::mem::take(&mut queue.flow_waiters));
    }
}

/// The pause of a connection has lasted its time (`Timer::FlowResume`).
/// Returns whether it changed.
pub(crate) fn pause_over(conn: &mut Connection, now: u64) -> bool {
    match conn.backpressure.flow_until() {
        Some(until) if until <= now => {
            conn.backpressure.resume(Pause::CreditFlow);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drain_rate_follows_deliveries_and_falls_to_zero_without_them() {
        let mut r = DrainRate::default();
        assert_eq!(r.per_sec(0), 0);
        for t in (0..=300).step_by(10) {
            r.taken(1_000 + t, 50); // 5,000 a second
        }
        // The window from 1,200 (500 taken) and the one begun at 1,300 (50).
        assert_eq!(r.per_sec(1_300), 5_500);
        // Quiet for a while: the same deliveries over a longer time.
        assert_eq!(r.per_sec(1_400), 2_750);
        assert_eq!(r.per_sec(1_500), 1_833);
        assert_eq!(r.per_sec(1_501), 0, "nothing taken for two windows");
        // A short burst counts over at least one window.
        let mut r = DrainRate::default();
        r.taken(5_000, 30);
        assert_eq!(r.per_sec(5_001), 300);
    }
}
