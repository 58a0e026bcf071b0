//! Fanout exchange: every binding matches, whatever the key.

use super::{remove_one, Destination};

#[derive(Default)]
pub struct FanoutRoutes {
    all: Vec<Destination>,
}

impl FanoutRoutes {
    pub fn bind(&mut self, dest: Destination) {
        self.all.push(dest);
    }

    pub fn unbind(&mut self, dest: Destination) {
        remove_one(&mut self.all, dest);
    }

    pub fn route(&self, out: &mut Vec<Destination>) {
        out.extend_from_slice(&self.all);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{QueueId, SlabId};

    #[test]
    fn routes_to_every_binding() {
        let mut r = FanoutRoutes::default();
        let a = Destination::Queue(QueueId::new(1, 0));
        let b = Destination::Queue(QueueId::new(2, 0));
        r.bind(a);
        r.bind(b);
        let mut out = Vec::new();
        r.route(&mut out);
        assert_eq!(out, vec![a, b]);
        r.unbind(a);
        out.clear();
        r.route(&mut out);
        assert_eq!(out, vec![b]);
    }
}
