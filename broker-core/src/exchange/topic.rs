//! Topic exchange: binding keys are dot-separated patterns where `*` matches
//! exactly one word and `#` matches zero or more words.
//!
//! Patterns live in a trie of words. Matching walks it like an NFA: the set
//! of live nodes advances one routing-key word at a time, so the cost is
//! bounded by (words in the key) × (nodes in the trie) whatever the
//! patterns — `#.#.#.#…` cannot trigger exponential backtracking.
//! Words are split as RabbitMQ splits them: `""` has no words, `"a..b"` has
//! three (the middle one empty).

use core::cell::RefCell;

use rustc_hash::FxHashMap;

use super::{remove_one, Destination};
use crate::amqp::ShortStr;

type NodeId = u32;
const ROOT: NodeId = 0;

#[derive(Default)]
struct Node {
    words: FxHashMap<Box<str>, NodeId>,
    star: Option<NodeId>,
    hash: Option<NodeId>,
    /// Destinations whose pattern ends at this node.
    destinations: Vec<Destination>,
    /// Reached through a `#` edge: may swallow any further words itself.
    is_hash: bool,
}

pub struct TopicRoutes {
    nodes: Vec<Node>,
    free: Vec<NodeId>,
    /// Per-node "seen in this step" stamps and the last stamp used, reused
    /// across publishes so routing allocates nothing per message.
    seen: RefCell<(Vec<u32>, u32)>,
}

impl Default for TopicRoutes {
    fn default() -> Self {
        TopicRoutes { nodes: vec![Node::default()], free: Vec::new(), seen: RefCell::new((Vec::new(), 0)) }
    }
}

fn words(key: &str) -> impl Iterator<Item = &str> {
    // An empty key has no words at all (not one empty word).
    let mut it = key.split('.');
    if key.is_empty() {
        it.next();
    }
    it
}

impl TopicRoutes {
    fn alloc(&mut self, is_hash: bool) -> NodeId {
        let node = Node { is_hash, ..Node::default() };
        if let Some(id) = self.free.pop() {
            self.nodes[id as usize] = node;
            id
        } else {
            self.nodes.push(node);
            (self.nodes.len() - 1) as NodeId
        }
    }

    fn child(&self, node: NodeId, word: &str) -> Option<NodeId> {
        let n = &self.nodes[node as usize];
        match word {
            "*" => n.star,
            "#" => n.hash,
            w => n.words.get(w).copied(),
        }
    }

    pub fn bind(&mut self, pattern: &ShortStr, dest: Destination) {
        let mut node = ROOT;
        for word in words(pattern) {
            node = match self.child(node, word) {
                Some(c) => c,
                None => {
                    let c = self.alloc(word == "#");
                    let n = &mut self.nodes[node as usize];
                    match word {
                        "*" => n.star = Some(c),
                        "#" => n.hash = Some(c),
                        w => {
                            n.words.insert(w.into(), c);
                        }
                    }
                    c
                }
            };
        }
        self.nodes[node as usize].destinations.push(dest);
    }

    pub fn unbind(&mut self, pattern: &ShortStr, dest: Destination) {
        let mut path = vec![ROOT];
        for word in words(pattern) {
            match self.child(*path.last().unwrap_or(&ROOT), word) {
                Some(c) => path.push(c),
                None => return,
            }
        }
        let Some(&end) = path.last() else { return };
        remove_one(&mut self.nodes[end as usize].destinations, dest);
        // Prune nodes left with no destinations and no children, leaf first.
        let pattern_words: Vec<&str> = words(pattern).collect();
        for depth in (1..path.len()).rev() {
            let id = path[depth];
            let n = &self.nodes[id as usize];
            if !n.destinations.is_empty() || !n.words.is_empty() || n.star.is_some() || n.hash.is_some() {
                break;
            }
            let parent = &mut self.nodes[path[depth - 1] as usize];
            match pattern_words[depth - 1] {
                "*" => parent.star = None,
                "#" => parent.hash = None,
                w => {
                    parent.words.remove(w);
                }
            }
            self.free.push(id);
        }
    }

    /// Adds `node` and every node reachable from it through `#` edges
    /// (a `#` may match zero words).
    fn add_closure(&self, mut node: NodeId, set: &mut Vec<NodeId>, seen: &mut [u32], epoch: u32) {
        loop {
            if seen[node as usize] == epoch {
                return;
            }
            seen[node as usize] = epoch;
            set.push(node);
            match self.nodes[node as usize].hash {
                Some(h) => node = h,
                None => return,
            }
        }
    }

    pub fn route(&self, key: &str, out: &mut Vec<Destination>) {
        // One "seen" stamp per node per step keeps each step linear in the trie size.
        let mut scratch = self.seen.borrow_mut();
        let (seen, last) = &mut *scratch;
        let steps = words(key).count() as u32 + 1;
        if seen.len() < self.nodes.len() || last.checked_add(steps).is_none() {
            seen.clear();
            seen.resize(self.nodes.len(), 0);
            *last = 0;
        }
        let mut epoch = *last + 1;
        *last += steps;
        let mut current = Vec::with_capacity(8);
        let mut next = Vec::with_capacity(8);
        self.add_closure(ROOT, &mut current, seen, epoch);
        for word in words(key) {
            epoch += 1;
            next.clear();
            for &id in &current {
                let n = &self.nodes[id as usize];
                if n.is_hash {
                    self.add_closure(id, &mut next, seen, epoch);
                }
                if let Some(c) = n.words.get(word) {
                    self.add_closure(*c, &mut next, seen, epoch);
                }
                if let Some(c) = n.star {
                    self.add_closure(c, &mut next, seen, epoch);
                }
            }
            core::mem::swap(&mut current, &mut next);
            if current.is_empty() {
                return;
            }
        }
        for id in current {
            out.extend_from_slice(&self.nodes[id as usize].destinations);
        }
    }
}

/// Whether one pattern matches a key (for explaining a route; routing
/// itself uses the trie). Dynamic programming over words: O(pattern × key).
pub fn pattern_matches(pattern: &str, key: &str) -> bool {
    let p: Vec<&str> = words(pattern).collect();
    let k: Vec<&str> = words(key).collect();
    // can[j] = the first i pattern words can match the first j key words.
    let mut can = vec![false; k.len() + 1];
    can[0] = true;
    for pw in &p {
        let mut next = vec![false; k.len() + 1];
        for j in 0..=k.len() {
            next[j] = match *pw {
                "#" => can[j] || (j > 0 && next[j - 1]),
                "*" => j > 0 && can[j - 1],
                w => j > 0 && can[j - 1] && k[j - 1] == w,
            };
        }
        can = next;
    }
    can[k.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{QueueId, SlabId};

    fn matches(pattern: &str, key: &str) -> bool {
        let mut r = TopicRoutes::default();
        let d = Destination::Queue(QueueId::new(1, 0));
        r.bind(&pattern.into(), d);
        let mut out = Vec::new();
        r.route(key, &mut out);
        !out.is_empty()
    }

    #[test]
    fn edge_cases_match_rabbitmq() {
        let cases: &[(&str, &str, bool)] = &[
            ("#", "", true),
            ("#", "a", true),
            ("#", "a.b.c", true),
            ("*", "", false),
            ("*", "a", true),
            ("*", "a.b", false),
            ("", "", true),
            ("", "a", false),
            ("a", "a", true),
            ("a", "a.b", false),
            ("a.#", "a", true),
            ("a.#", "a.b.c", true),
            ("a.#", "b", false),
            ("#.a", "a", true),
            ("#.a", "x.y.a", true),
            ("#.a", "a.x", false),
            ("a.#.b", "a.b", true),
            ("a.#.b", "a.x.y.b", true),
            ("a.#.b", "a.x.y.c", false),
            ("#.#", "", true),
            ("#.#", "a.b", true),
            ("a.*.b", "a..b", true),
            ("a.*.b", "a.b", false),
            ("a..b", "a..b", true),
            ("a.", "a.", true),
            ("a.", "a", false),
            ("*.orange.*", "quick.orange.rabbit", true),
            ("*.*.rabbit", "quick.orange.rabbit", true),
            ("lazy.#", "lazy.orange.male.rabbit", true),
            ("*.orange.*", "quick.orange.male.rabbit", false),
            ("*.#.*", "a", false),
            ("*.#.*", "a.b", true),
            ("#.*", "", false),
            ("#.*", "a.b.c", true),
        ];
        for (p, k, want) in cases {
            assert_eq!(matches(p, k), *want, "pattern {p:?} key {k:?}");
        }
    }

    #[test]
    fn the_single_pattern_matcher_agrees_with_the_trie() {
        for (p, k) in [
            ("a.#.b", "a.x.y.b"),
            ("*.orange.*", "quick.orange.rabbit"),
            ("#", ""),
            ("*", ""),
            ("a.*", "a"),
            ("#.#", "a.b"),
            ("a..b", "a..b"),
        ] {
            assert_eq!(pattern_matches(p, k), matches(p, k), "{p} {k}");
        }
    }

    #[test]
    fn many_hashes_stay_cheap() {
        let pattern = vec!["#"; 200].join(".") + ".z";
        let key = vec!["a"; 250].join(".");
        assert!(!matches(&pattern, &key));
        assert!(matches(&pattern, &(key + ".z")));
    }

    #[test]
    fn unbind_prunes_and_keeps_shared_prefixes() {
        let mut r = TopicRoutes::default();
        let a = Destination::Queue(QueueId::new(1, 0));
        let b = Destination::Queue(QueueId::new(2, 0));
        r.bind(&"a.*.c".into(), a);
        r.bind(&"a.#".into(), b);
        r.unbind(&"a.*.c".into(), a);
        let mut out = Vec::new();
        r.route("a.b.c", &mut out);
        assert_eq!(out, vec![b]);
        r.unbind(&"a.#".into(), b);
        out.clear();
        r.route("a.b.c", &mut out);
        assert!(out.is_empty());
        assert_eq!(r.free.len(), 4, "all non-root nodes pruned");
        r.bind(&"x".into(), a);
        out.clear();
        r.route("x", &mut out);
        assert_eq!(out, vec![a]);
    }
}
