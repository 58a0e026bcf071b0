//! Policies, as RabbitMQ has them: a named rule per vhost that applies a
//! definition (`message-ttl`, `max-length`, `dead-letter-exchange`,
//! `alternate-exchange`, …) to every queue and/or exchange whose name
//! matches a pattern. One policy applies per object: the matching one with
//! the highest priority. Queue arguments win over a policy, except the
//! limits, where the lower value wins — RabbitMQ's rules.

use regex_lite::Regex;

use crate::amqp::{FieldTable, FieldValue, ShortStr};
use crate::broker::{queues, Broker, State};
use crate::ids::QueueId;
use crate::queue::args::DeclareFlags;
use crate::queue::QueueConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyTo {
    Queues,
    Exchanges,
    All,
}

impl ApplyTo {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queues" => ApplyTo::Queues,
            "exchanges" => ApplyTo::Exchanges,
            "all" => ApplyTo::All,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ApplyTo::Queues => "queues",
            ApplyTo::Exchanges => "exchanges",
            ApplyTo::All => "all",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub vhost: String,
    pub name: String,
    pub pattern: String,
    pub apply_to: ApplyTo,
    pub priority: i64,
    /// Keys without the `x-` prefix, as in RabbitMQ: `message-ttl`, `expires`,
    /// `max-length`, `max-length-bytes`, `overflow`, `dead-letter-exchange`,
    /// `dead-letter-routing-key`, `delivery-limit`, `queue-mode`,
    /// `alternate-exchange`.
    pub definition: FieldTable,
}

/// Definition keys applied to queues, and whether the lower of policy and
/// argument wins (else the argument wins).
const QUEUE_KEYS: &[(&str, bool)] = &[
    ("message-ttl", true),
    ("expires", true),
    ("max-length", true),
    ("max-length-bytes", true),
    ("delivery-limit", true),
    ("overflow", false),
    ("dead-letter-exchange", false),
    ("dead-letter-routing-key", false),
    ("queue-mode", false),
];

pub(crate) struct CompiledPolicy {
    pub policy: Policy,
    regex: Regex,
}

impl CompiledPolicy {
    fn matches(&self, queue: bool, name: &str) -> bool {
        let kind_ok = match self.policy.apply_to {
            ApplyTo::All => true,
            ApplyTo::Queues => queue,
            ApplyTo::Exchanges => !queue,
        };
        kind_ok && self.regex.is_match(name)
    }
}

/// The queue arguments in effect: the declared ones merged with a policy.
pub(crate) fn merged_arguments(args: &FieldTable, policy: Option<&Policy>) -> FieldTable {
    let mut merged = args.clone();
    let Some(policy) = policy else { return merged };
    for (key, lower_wins) in QUEUE_KEYS {
        let Some(value) = policy.definition.get(key) else { continue };
        let arg = format!("x-{key}");
        match (merged.get(&arg), lower_wins) {
            (None, _) => merged.insert(&arg, value.clone()),
            (Some(existing), true) => {
                if let (Some(a), Some(b)) = (existing.as_i64(), value.as_i64()) {
                    if b < a {
                        merged.insert(&arg, value.clone());
                    }
                }
            }
            (Some(_), false) => {}
        }
    }
    merged
}

impl State {
    /// The policy that applies to a queue (`queue` = true) or exchange name.
    pub(crate) fn policy_for(&self, vhost: &str, queue: bool, name: &str) -> Option<&Policy> {
        self.topology
            .policies
            .iter()
            .filter(|p| p.policy.vhost == vhost && p.matches(queue, name))
            .max_by_key(|p| p.policy.priority)
            .map(|p| &p.policy)
    }

    /// Recomputes a queue's effective configuration after a policy change.
    pub(crate) fn apply_policies_to_queue(&mut self, id: QueueId) {
        let Some(q) = self.topology.queues.get(id) else { return };
        let policy = self.policy_for(&q.vhost, true, &q.name).cloned();
        let merged = merged_arguments(&q.arguments, policy.as_ref());
        let flags = DeclareFlags { durable: q.durable, exclusive: q.exclusive_owner.is_some(), auto_delete: q.auto_delete };
        let Ok(mut config) = QueueConfig::parse(&merged, &flags, &q.name, &q.vhost) else { return };
        let Some(q) = self.topology.queues.get_mut(id) else { return };
        // The priority levels are fixed when a queue is created.
        config.max_priority = q.config.max_priority;
        q.config = config;
        q.policy = policy.map(|p| p.name);
        // Limits apply at once: trim, and (re)arm the timers.
        loop {
            let Some(q) = self.topology.queues.get_mut(id) else { return };
            if !q.over_limit() {
                break;
            }
            let Some(head) = q.ready.pop() else { break };
            self.dead_letter(id, head, crate::broker::deadletter::Reason::MaxLen);
        }
        queues::arm_ttl_timer(self, id);
        queues::arm_expires_timer(self, id);
    }

    fn apply_policies_to_exchanges(&mut self, vhost: &str) {
        let Some(vh) = self.topology.vhosts.get(vhost) else { return };
        let ids: Vec<_> = vh.exchanges.values().copied().collect();
        for id in ids {
            let Some(x) = self.topology.exchanges.get(id) else { continue };
            let from_args = match x.arguments.get("alternate-exchange") {
                Some(FieldValue::LongStr(s)) => Some(String::from_utf8_lossy(s).into_owned()),
                _ => None,
            };
            let from_policy = self
                .policy_for(vhost, false, &x.name)
                .and_then(|p| p.definition.get("alternate-exchange"))
                .and_then(|v| v.as_str().map(str::to_string));
            if let Some(x) = self.topology.exchanges.get_mut(id) {
                x.alternate_exchange = from_args.or(from_policy).map(ShortStr::from);
            }
        }
    }

    fn reapply_policies(&mut self, vhost: &str) {
        let queues: Vec<QueueId> = self.topology.vhosts.get(vhost).map(|v| v.queues.values().copied().collect()).unwrap_or_default();
        for q in queues {
            self.apply_policies_to_queue(q);
        }
        self.apply_policies_to_exchanges(vhost);
    }
}

impl Broker {
    /// Adds or replaces a policy and applies it at once. Errors name what is
    /// wrong (unknown vhost, bad pattern, bad definition value).
    pub fn set_policy(&mut self, policy: Policy) -> Result<(), String> {
        if !self.state.topology.vhosts.contains_key(&policy.vhost) {
            return Err(format!("no vhost '{}'", policy.vhost));
        }
        let regex = Regex::new(&policy.pattern).map_err(|e| format!("invalid pattern '{}': {e}", policy.pattern))?;
        // Validate the queue part of the definition the way a declare would.
        let probe = merged_arguments(&FieldTable::new(), Some(&policy));
        let flags = DeclareFlags { durable: true, exclusive: false, auto_delete: false };
        QueueConfig::parse(&probe, &flags, "policy", &policy.vhost).map_err(|e| e.text)?;
        for (key, _) in policy.definition.iter() {
            if key != "alternate-exchange" && !QUEUE_KEYS.iter().any(|(k, _)| *k == key) {
                return Err(format!("unsupported policy key '{key}'"));
            }
        }
        let vhost = policy.vhost.clone();
        self.state.topology.policies.retain(|p| !(p.policy.vhost == policy.vhost && p.policy.name == policy.name));
        self.state.topology.policies.push(CompiledPolicy { policy, regex });
        self.state.reapply_policies(&vhost);
        self.state.definitions_changed();
        self.flush();
        Ok(())
    }

    pub fn delete_policy(&mut self, vhost: &str, name: &str) -> bool {
        let before = self.state.topology.policies.len();
        self.state.topology.policies.retain(|p| !(p.policy.vhost == vhost && p.policy.name == name));
        let removed = self.state.topology.policies.len() != before;
        if removed {
            self.state.definitions_changed();
            self.state.reapply_policies(vhost);
            self.flush();
        }
        removed
    }

    pub fn policies(&self, vhost: Option<&str>) -> Vec<Policy> {
        let mut v: Vec<Policy> =
            self.state.topology.policies.iter().filter(|p| vhost.is_none_or(|v| v == p.policy.vhost)).map(|p| p.policy.clone()).collect();
        v.sort_by(|a, b| (&a.vhost, &a.name).cmp(&(&b.vhost, &b.name)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(def: &[(&str, FieldValue)]) -> Policy {
        let mut definition = FieldTable::new();
        for (k, v) in def {
            definition.insert(k, v.clone());
        }
        Policy { vhost: "/".into(), name: "p".into(), pattern: "^q".into(), apply_to: ApplyTo::Queues, priority: 0, definition }
    }

    #[test]
    fn arguments_win_except_limits_where_the_lower_wins() {
        let args = FieldTable::from([("x-message-ttl", FieldValue::I32(5000)), ("x-dead-letter-exchange", FieldValue::str("from-args"))]);
        let p = policy(&[
            ("message-ttl", FieldValue::I32(1000)),
            ("dead-letter-exchange", FieldValue::str("from-policy")),
            ("max-length", FieldValue::I32(10)),
        ]);
        let m = merged_arguments(&args, Some(&p));
        assert_eq!(m.get("x-message-ttl"), Some(&FieldValue::I32(1000)));
        assert_eq!(m.get("x-dead-letter-exchange"), Some(&FieldValue::str("from-args")));
        assert_eq!(m.get("x-max-length"), Some(&FieldValue::I32(10)));
    }
}
