//! Backpressure on one connection, both ways: the reasons the driver must
//! not read from it (a set of [`Pause`]s, one place deciding), and whether
//! deliveries to it are held because its output is full.

/// A reason the driver must stop reading from a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    /// A resource alarm blocks this publisher (RabbitMQ's `blocked`;
    /// `broker::alarms`).
    Alarm,
    /// Its unwritten output passed `Config::output_hard_limit` (a peer that
    /// sends requests but does not read the replies); it is read again once
    /// half of that is written.
    OutputFull,
    /// Credit flow (`broker::flow`): a short pause, until a deadline.
    CreditFlow,
}

impl Pause {
    const fn bit(self) -> u8 {
        match self {
            Pause::Alarm => 1,
            Pause::OutputFull => 2,
            Pause::CreditFlow => 4,
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct Backpressure {
    /// The [`Pause`] reasons in force, as bits.
    reasons: u8,
    /// When the credit-flow pause ends (while `Pause::CreditFlow` is set).
    flow_until: u64,
    /// Whether the driver was last told to stop reading.
    told_paused: bool,
    /// A delivery was held back because the output was over
    /// `Config::output_high_watermark`: the connection's consumers are woken
    /// once it is below half of that.
    pub deliveries_held: bool,
}

impl Backpressure {
    pub fn has(&self, reason: Pause) -> bool {
        self.reasons & reason.bit() != 0
    }

    /// Adds a reason (the driver is told at the next `update`).
    pub fn pause(&mut self, reason: Pause) {
        self.reasons |= reason.bit();
    }

    /// Drops a reason (the driver is told at the next `update`).
    pub fn resume(&mut self, reason: Pause) {
        self.reasons &= !reason.bit();
    }

    /// Starts a credit-flow pause that lasts until `until`.
    pub fn pause_flow_until(&mut self, until: u64) {
        self.pause(Pause::CreditFlow);
        self.flow_until = until;
    }

    /// When the credit-flow pause ends, if one is in force.
    pub fn flow_until(&self) -> Option<u64> {
        self.has(Pause::CreditFlow).then_some(self.flow_until)
    }

    /// Whether the driver should read from the connection now: the one
    /// place that decides.
    pub fn should_read(&self) -> bool {
        self.reasons == 0
    }

    /// Whether the driver was last told to stop reading (and so is not
    /// reading now).
    pub fn reading_paused(&self) -> bool {
        self.told_paused
    }

    /// Brings what the driver was told in line with [`should_read`](Self::should_read):
    /// `Some(paused)` when it must now be told to pause (`true`) or resume
    /// (`false`), `None` when nothing changed.
    pub fn update(&mut self) -> Option<bool> {
        let paused = !self.should_read();
        if paused == self.told_paused {
            return None;
        }
        self.told_paused = paused;
        Some(paused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_driver_is_told_only_when_reading_changes() {
        let mut b = Backpressure::default();
        assert!(b.should_read());
        assert_eq!(b.update(), None);
        b.pause(Pause::Alarm);
        b.pause_flow_until(500);
        assert_eq!(b.update(), Some(true));
        assert_eq!(b.flow_until(), Some(500));
        b.resume(Pause::CreditFlow);
        assert_eq!(b.flow_until(), None);
        assert_eq!(b.update(), None, "still blocked by the alarm");
        assert!(b.reading_paused());
        b.resume(Pause::Alarm);
        assert_eq!(b.update(), Some(false));
        assert!(!b.reading_paused());
    }
}
