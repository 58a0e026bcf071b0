//! Resource alarms, as RabbitMQ's: while memory or disk is short, every
//! connection that publishes is blocked — it gets connection.blocked if it
//! announced the capability, and the driver stops reading from it — while
//! consumers keep draining queues. connection.unblocked when all clear.

use super::Broker;
use crate::amqp::method::{ConnectionBlocked, ConnectionUnblocked};
use crate::connection::{ConnState, Pause};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alarm {
    Memory,
    Disk,
}

impl Alarm {
    fn reason(self) -> &'static str {
        match self {
            Alarm::Memory => "low on memory",
            Alarm::Disk => "low on disk",
        }
    }
}

impl Broker {
    /// Raises or clears a resource alarm (the driver measures memory and
    /// disk; the core decides who is blocked).
    pub fn set_alarm(&mut self, alarm: Alarm, active: bool) {
        let alarms = &mut self.alarms;
        let was = !alarms.is_empty();
        if active {
            if !alarms.contains(&alarm) {
                alarms.push(alarm);
            }
        } else {
            alarms.retain(|a| *a != alarm);
        }
        let now = !self.alarms.is_empty();
        if now && !was {
            for id in self.connections.ids() {
                self.block_if_publisher(id);
            }
        } else if !now && was {
            for (_, conn) in self.connections.iter_mut() {
                if conn.backpressure.has(Pause::Alarm) {
                    conn.backpressure.resume(Pause::Alarm);
                    if conn.capabilities.connection_blocked && conn.state == ConnState::Open {
                        conn.send_method(0, &ConnectionUnblocked {}.into());
                        self.state.pending.queue_transmit(conn);
                    }
                    self.state.pending.reading_switch(conn, self.state.clock.now);
                }
            }
        }
        self.flush();
    }

    pub fn alarms(&self) -> &[Alarm] {
        &self.alarms
    }

    /// Blocks a connection that has published, if an alarm is on.
    pub(super) fn block_if_publisher(&mut self, id: crate::ids::ConnectionId) {
        let Some(&alarm) = self.alarms.first() else { return };
        let Some(conn) = self.connections.get_mut(id) else { return };
        if conn.backpressure.has(Pause::Alarm) || !conn.has_published || conn.state != ConnState::Open {
            return;
        }
        conn.backpressure.pause(Pause::Alarm);
        if conn.capabilities.connection_blocked {
            conn.send_method(0, &ConnectionBlocked { reason: alarm.reason().into() }.into());
            self.state.pending.queue_transmit(conn);
        }
        self.state.pending.reading_switch(conn, self.state.clock.now);
    }
}
