//! Direct exchange: a binding matches when its key equals the routing key.

use rustc_hash::FxHashMap;

use super::{remove_one, Destination};
use crate::amqp::ShortStr;

#[derive(Default)]
pub struct DirectRoutes {
    by_key: FxHashMap<ShortStr, Vec<Destination>>,
}

impl DirectRoutes {
    pub fn bind(&mut self, key: &ShortStr, dest: Destination) {
        self.by_key.entry(key.clone()).or_default().push(dest);
    }

    pub fn unbind(&mut self, key: &ShortStr, dest: Destination) {
        if let Some(v) = self.by_key.get_mut(key) {
            remove_one(v, dest);
            if v.is_empty() {
                self.by_key.remove(key);
            }
        }
    }

    pub fn route(&self, key: &str, out: &mut Vec<Destination>) {
        if let Some(v) = self.by_key.get(key) {
            out.extend_from_slice(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{QueueId, SlabId};

    #[test]
    fn routes_exact_keys_only() {
        let mut r = DirectRoutes::default();
        let a = Destination::Queue(QueueId::new(1, 0));
        let b = Destination::Queue(QueueId::new(2, 0));
        r.bind(&"black".into(), a);
        r.bind(&"black".into(), b);
        r.bind(&"green".into(), b);
        let mut out = Vec::new();
        r.route("black", &mut out);
        assert_eq!(out, vec![a, b]);
        out.clear();
        r.route("blac", &mut out);
        r.route("", &mut out);
        assert!(out.is_empty());
        r.unbind(&"black".into(), a);
        r.route("black", &mut out);
        assert_eq!(out, vec![b]);
    }
}
