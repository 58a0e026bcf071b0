//! RabbitMQ's definitions format (feature `json`): a document in, typed
//! values out, and back. The one reading and writing of definitions, for
//! the gateway's `/api/definitions` import and export, for its data
//! directory (the durable definitions saved as `definitions.json` and
//! restored at start; the file I/O is the gateway's) and for the
//! playground's definitions import and export.
//!
//! A document has `users` (with `password_hash`, `hashing_algorithm`,
//! `tags` and `limits`), `vhosts`, `permissions`, `topic_permissions` (none
//! in Warren: written empty, not read), `parameters` (of which Warren reads
//! the vhost limits: component `vhost-limits`, name `limits`),
//! `global_parameters` (written empty), `policies`, `queues`, `exchanges`
//! and `bindings`. A per-vhost document has no users, vhosts or
//! permissions, and its entries no `vhost`. Left out of exports, as in
//! RabbitMQ: exclusive queues, the default and `amq.*` exchanges, and the
//! default exchange's bindings. Lists come sorted, so importing an export
//! into a fresh broker and exporting again gives the same document.
//!
//! Importing declares queues, exchanges and bindings with full AMQP
//! validation, as an internal user that exists only for the length of the
//! import (one call, so nothing else can use it).
//!
//! What survives a restart is decided here too
//! ([`Broker::durable_definitions`]): durable queues and exchanges, and the
//! bindings whose both ends are durable.

mod entries;

pub use entries::{
    limit_mut, limits_from_json, limits_json, parse_tags, permission_json, policy_from_json, policy_json, set_limit, user_from_json,
    user_json, HASHING_ALGORITHM, USER_LIMITS, VHOST_LIMITS,
};

use serde_json::{json, Map, Value};

use crate::amqp::method::{ExchangeBind, ExchangeDeclare, QueueBind, QueueDeclare};
use crate::amqp::{FieldTable, Method, ReplyCode};
use crate::management::json::{bool_field, json_to_table, table_to_json, RABBITMQ_VERSION};
use crate::management::policy::Policy;
use crate::{Broker, Limits, Permission, User};

/// Definitions as typed values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Definitions {
    pub users: Vec<UserDefinition>,
    pub vhosts: Vec<Vhost>,
    pub permissions: Vec<Permission>,
    /// The `vhost-limits` parameters.
    pub vhost_limits: Vec<(String, Limits)>,
    pub policies: Vec<Policy>,
    pub queues: Vec<Queue>,
    pub exchanges: Vec<Exchange>,
    pub bindings: Vec<Binding>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserDefinition {
    pub user: User,
    /// The entry's `limits` (`{}`: none); `None` when the entry has no
    /// `limits` key: an import then leaves the user's limits as they are.
    /// Exports always have it.
    pub limits: Option<Limits>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Vhost {
    pub name: String,
    /// What else RabbitMQ writes for a vhost (`description`, `tags`,
    /// `metadata`, …), kept as read and written back; Warren's vhosts have
    /// none of it, so an import ignores it.
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Queue {
    pub vhost: String,
    pub name: String,
    pub durable: bool,
    pub auto_delete: bool,
    pub arguments: FieldTable,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    pub vhost: String,
    pub name: String,
    /// `direct`, `fanout`, `topic`, `headers`, … (checked when declared).
    pub kind: String,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub vhost: String,
    pub source: String,
    pub destination: String,
    pub destination_type: DestinationType,
    pub routing_key: String,
    pub arguments: FieldTable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationType {
    Queue,
    Exchange,
}

impl DestinationType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "queue" => Some(DestinationType::Queue),
            "exchange" => Some(DestinationType::Exchange),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DestinationType::Queue => "queue",
            DestinationType::Exchange => "exchange",
        }
    }
}

/// The entries under `key`, each an object (absent or null: none).
fn items<'a>(doc: &'a Map<String, Value>, key: &str) -> Result<Vec<&'a Map<String, Value>>, Value> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => {
            a.iter().map(|v| v.as_object().ok_or_else(|| json!(format!("{key}: every entry must be an object")))).collect()
        }
        Some(_) => Err(json!(format!("{key} must be an array"))),
    }
}

fn text<'a>(m: &'a Map<String, Value>, key: &str) -> Result<&'a str, Value> {
    m.get(key).and_then(Value::as_str).ok_or_else(|| json!(["key_missing", key]))
}

fn arguments(m: &Map<String, Value>) -> Result<FieldTable, Value> {
    json_to_table(m.get("arguments").unwrap_or(&Value::Null))
}

impl Definitions {
    /// Reads a definitions document, refusing what RabbitMQ's import
    /// refuses with its reasons. `vhost` reads a per-vhost document into
    /// that vhost (its users, vhosts and permissions are not read).
    /// `random` gives salts for `password` entries and the random password
    /// of users with neither password nor hash.
    pub fn parse(doc: &Map<String, Value>, vhost: Option<&str>, random: &mut dyn FnMut() -> u64) -> Result<Definitions, Value> {
        let mut defs = Definitions::default();
        let vhost_of = |m: &Map<String, Value>| -> Result<String, Value> {
            match vhost {
                Some(v) => Ok(v.to_string()),
                None => text(m, "vhost").map(str::to_string),
            }
        };
        if vhost.is_none() {
            for u in items(doc, "users")? {
                let name = text(u, "name")?;
                // Definitions may leave the tags out; the user API may not.
                let mut u = u.clone();
                u.entry("tags").or_insert(json!([]));
                let limits = u.get("limits").map(|l| limits_from_json(l, USER_LIMITS, true)).transpose()?;
                defs.users.push(UserDefinition { user: user_from_json(name, &u, random)?, limits });
            }
            for v in items(doc, "vhosts")? {
                let mut other = v.clone();
                other.remove("name");
                defs.vhosts.push(Vhost { name: text(v, "name")?.to_string(), other });
            }
            for p in items(doc, "permissions")? {
                defs.permissions.push(Permission {
                    user: text(p, "user")?.into(),
                    vhost: text(p, "vhost")?.into(),
                    configure: text(p, "configure")?.into(),
                    write: text(p, "write")?.into(),
                    read: text(p, "read")?.into(),
                });
            }
        }
        // Of the runtime parameters only vhost limits mean something here.
        for p in items(doc, "parameters")? {
            if p.get("component").and_then(Value::as_str) == Some("vhost-limits") {
                let value = p.get("value").ok_or_else(|| json!(["key_missing", "value"]))?;
                defs.vhost_limits.push((vhost_of(p)?, limits_from_json(value, VHOST_LIMITS, false)?));
            }
        }
        for p in items(doc, "policies")? {
            defs.policies.push(policy_from_json(&vhost_of(p)?, text(p, "name")?, p)?);
        }
        for q in items(doc, "queues")? {
            defs.queues.push(Queue {
                name: text(q, "name")?.to_string(),
                durable: bool_field(q, "durable")?,
                auto_delete: bool_field(q, "auto_delete")?,
                arguments: arguments(q)?,
                vhost: vhost_of(q)?,
            });
        }
        for x in items(doc, "exchanges")? {
            defs.exchanges.push(Exchange {
                name: text(x, "name")?.to_string(),
                kind: text(x, "type")?.to_string(),
                durable: bool_field(x, "durable")?,
                auto_delete: bool_field(x, "auto_delete")?,
                internal: bool_field(x, "internal")?,
                arguments: arguments(x)?,
                vhost: vhost_of(x)?,
            });
        }
        for b in items(doc, "bindings")? {
            let (source, destination, routing_key) = (text(b, "source")?, text(b, "destination")?, text(b, "routing_key")?);
            let arguments = arguments(b)?;
            let kind = text(b, "destination_type")?;
            let destination_type = DestinationType::parse(kind).ok_or_else(|| json!(["bad_destination_type", kind]))?;
            defs.bindings.push(Binding {
                vhost: vhost_of(b)?,
                source: source.to_string(),
                destination: destination.to_string(),
                destination_type,
                routing_key: routing_key.to_string(),
                arguments,
            });
        }
        Ok(defs)
    }

    /// The whole document, as `GET /api/definitions` returns it.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("rabbit_version".into(), json!(RABBITMQ_VERSION));
        out.insert("rabbitmq_version".into(), json!(RABBITMQ_VERSION));
        out.insert("product_name".into(), json!("Warren"));
        out.insert("product_version".into(), json!(env!("CARGO_PKG_VERSION")));
        let users = self.users.iter().map(|u| {
            let mut v = user_json(&u.user, u.limits.as_ref());
            if u.limits.is_none() {
                v.as_object_mut().map(|m| m.remove("limits"));
            }
            v
        });
        out.insert("users".into(), users.collect());
        let vhosts = self.vhosts.iter().map(|v| {
            let mut m = v.other.clone();
            m.insert("name".into(), json!(v.name));
            Value::Object(m)
        });
        out.insert("vhosts".into(), vhosts.collect());
        out.insert("permissions".into(), self.permissions.iter().map(permission_json).collect());
        out.insert("topic_permissions".into(), json!([]));
        out.insert("parameters".into(), self.parameters(true));
        out.insert("global_parameters".into(), json!([]));
        self.objects(true, &mut out);
        Value::Object(out)
    }

    /// A per-vhost document, as `GET /api/definitions/{vhost}` returns it:
    /// no users, vhosts or permissions, and no `vhost` in the entries.
    pub fn to_vhost_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("rabbit_version".into(), json!(RABBITMQ_VERSION));
        out.insert("parameters".into(), self.parameters(false));
        self.objects(false, &mut out);
        Value::Object(out)
    }

    /// Runtime parameters: vhost limits, as RabbitMQ keeps them.
    fn parameters(&self, with_vhost: bool) -> Value {
        let entries = self.vhost_limits.iter().map(|(vhost, l)| {
            let mut p = json!({"component": "vhost-limits", "name": "limits", "value": limits_json(l)});
            if with_vhost {
                p["vhost"] = json!(vhost);
            }
            p
        });
        entries.collect()
    }

    /// The vhost-specific parts; `with_vhost` adds the `vhost` field.
    fn objects(&self, with_vhost: bool, out: &mut Map<String, Value>) {
        let tag = |mut v: Value, vhost: &str| {
            if with_vhost {
                v["vhost"] = json!(vhost);
            }
            v
        };
        let policies = self.policies.iter().map(|p| {
            let mut v = policy_json(p);
            if !with_vhost {
                v.as_object_mut().map(|m| m.remove("vhost"));
            }
            v
        });
        out.insert("policies".into(), policies.collect());
        let queues = self.queues.iter().map(|q| {
            tag(
                json!({"name": q.name, "durable": q.durable, "auto_delete": q.auto_delete, "arguments": table_to_json(&q.arguments)}),
                &q.vhost,
            )
        });
        out.insert("queues".into(), queues.collect());
        let exchanges = self.exchanges.iter().map(|x| {
            tag(
                json!({"name": x.name, "type": x.kind, "durable": x.durable, "auto_delete": x.auto_delete,
                       "internal": x.internal, "arguments": table_to_json(&x.arguments)}),
                &x.vhost,
            )
        });
        out.insert("exchanges".into(), exchanges.collect());
        let bindings = self.bindings.iter().map(|b| {
            tag(
                json!({"source": b.source, "destination": b.destination, "destination_type": b.destination_type.as_str(),
                       "routing_key": b.routing_key, "arguments": table_to_json(&b.arguments)}),
                &b.vhost,
            )
        });
        out.insert("bindings".into(), bindings.collect());
    }

    /// Keeps what survives a restart: durable queues and exchanges, and
    /// bindings whose both ends are durable (the `amq.*` exchanges are,
    /// though they are not listed). `durable_exchanges` are every durable
    /// exchange's (vhost, name), listed or not.
    fn retain_durable(&mut self, durable_exchanges: &[(String, String)]) {
        self.queues.retain(|q| q.durable);
        self.exchanges.retain(|x| x.durable);
        let queues: Vec<(&str, &str)> = self.queues.iter().map(|q| (q.vhost.as_str(), q.name.as_str())).collect();
        let exchange = |vhost: &str, name: &str| durable_exchanges.iter().any(|(v, n)| v == vhost && n == name);
        self.bindings.retain(|b| {
            let destination = match b.destination_type {
                DestinationType::Queue => queues.contains(&(b.vhost.as_str(), b.destination.as_str())),
                DestinationType::Exchange => exchange(&b.vhost, &b.destination),
            };
            exchange(&b.vhost, &b.source) && destination
        });
    }
}

/// The importing user: a name no AMQP client or API request can log in as.
const IMPORTER: &str = "\u{0}warren-definitions-import";

/// What an import did.
#[derive(Debug, PartialEq)]
pub struct Imported {
    /// Bindings skipped because their exchange type refuses their
    /// arguments (a bad `x-match`), each with why: RabbitMQ 3.10 skips them
    /// with a warning, so one saved before Warren checked `x-match` does not
    /// stop a restart.
    pub skipped: Vec<String>,
    /// Ok, or the reason the import stopped at (what came before stays, as
    /// in RabbitMQ).
    pub result: Result<(), Value>,
}

impl Default for Imported {
    fn default() -> Self {
        Imported { skipped: Vec::new(), result: Ok(()) }
    }
}

impl Broker {
    /// The definitions an export shows: of every vhost, or of one (then
    /// only its parameters, policies, queues, exchanges and bindings).
    pub fn definitions(&self, vhost: Option<&str>) -> Definitions {
        let mut defs = Definitions {
            vhost_limits: self.vhost_limits().into_iter().filter(|(v, _)| vhost.is_none_or(|only| only == v)).collect(),
            policies: self.policies(vhost),
            queues: self
                .queues(vhost)
                .into_iter()
                .filter(|q| !q.exclusive)
                .map(|q| Queue { vhost: q.vhost, name: q.name, durable: q.durable, auto_delete: q.auto_delete, arguments: q.arguments })
                .collect(),
            exchanges: self
                .exchanges(vhost)
                .into_iter()
                .filter(|x| !x.name.is_empty() && !x.name.starts_with("amq."))
                .map(|x| Exchange {
                    vhost: x.vhost,
                    name: x.name,
                    kind: x.kind.to_string(),
                    durable: x.durable,
                    auto_delete: x.auto_delete,
                    internal: x.internal,
                    arguments: x.arguments,
                })
                .collect(),
            bindings: self
                .bindings(vhost)
                .into_iter()
                .filter(|b| !b.source.is_empty())
                .map(|b| Binding {
                    vhost: b.vhost,
                    source: b.source,
                    destination: b.destination,
                    destination_type: if b.destination_type == "exchange" { DestinationType::Exchange } else { DestinationType::Queue },
                    routing_key: b.routing_key,
                    arguments: b.arguments,
                })
                .collect(),
            ..Definitions::default()
        };
        if vhost.is_none() {
            let limits = self.user_limits();
            defs.users = self
                .users()
                .into_iter()
                .map(|mut user| {
                    let limits = limits.iter().find(|(name, _)| *name == user.name).map(|(_, l)| *l);
                    // Not in the format: an import decides it (guest is
                    // loopback-only), so what is read back is what was written.
                    user.loopback_only = false;
                    UserDefinition { user, limits: Some(limits.unwrap_or_default()) }
                })
                .collect();
            defs.vhosts = self.vhost_names().into_iter().map(|name| Vhost { name, other: Map::new() }).collect();
            defs.permissions = self.permissions();
        }
        defs
    }

    /// The definitions that must survive a restart (what the gateway saves
    /// in its data directory): users, vhosts, permissions, limits and
    /// policies; durable queues and exchanges; bindings between durable
    /// ends.
    pub fn durable_definitions(&self) -> Definitions {
        let mut defs = self.definitions(None);
        let durable: Vec<(String, String)> = self.exchanges(None).into_iter().filter(|x| x.durable).map(|x| (x.vhost, x.name)).collect();
        defs.retain_durable(&durable);
        defs
    }

    /// Applies definitions: users, vhosts, permissions, limits, policies,
    /// then queues, exchanges and bindings (declared with AMQP's checks).
    /// Stops at the first error, except a binding with arguments its
    /// exchange type refuses, which is skipped (see [`Imported`]).
    pub fn import_definitions(&mut self, defs: Definitions) -> Imported {
        let mut imported = Imported::default();
        imported.result = self.apply_definitions(defs, &mut imported.skipped);
        imported
    }

    fn apply_definitions(&mut self, defs: Definitions, skipped: &mut Vec<String>) -> Result<(), Value> {
        let Definitions { users, vhosts, permissions, vhost_limits, policies, queues, exchanges, bindings } = defs;
        let mut user_limits = Vec::new();
        for UserDefinition { mut user, limits } in users {
            // RabbitMQ's default loopback_users is [guest]: keep the rule.
            user.loopback_only = self.user(&user.name).map_or(user.name == "guest", |e| e.loopback_only);
            user_limits.extend(limits.map(|l| (user.name.clone(), l)));
            self.put_user(user);
        }
        for v in &vhosts {
            self.add_vhost(&v.name);
        }
        for p in permissions {
            self.set_permission(p).map_err(Value::String)?;
        }
        for (user, l) in &user_limits {
            self.set_user_limits(user, *l);
        }
        let known = |b: &Broker, vhost: &str| -> Result<(), Value> {
            if b.vhost_names().iter().any(|v| v == vhost) {
                Ok(())
            } else {
                Err(json!(["no_such_vhost", vhost]))
            }
        };
        for (vhost, l) in &vhost_limits {
            known(self, vhost)?;
            self.set_vhost_limits(vhost, *l);
        }
        for p in policies {
            known(self, &p.vhost)?;
            self.set_policy(p).map_err(Value::String)?;
        }
        let mut methods: Vec<(String, Method)> = Vec::new();
        for q in queues {
            let m = QueueDeclare {
                queue: q.name.as_str().into(),
                durable: q.durable,
                auto_delete: q.auto_delete,
                arguments: q.arguments,
                ..Default::default()
            };
            methods.push((q.vhost, m.into()));
        }
        for x in exchanges {
            let m = ExchangeDeclare {
                exchange: x.name.as_str().into(),
                kind: x.kind.as_str().into(),
                durable: x.durable,
                auto_delete: x.auto_delete,
                internal: x.internal,
                arguments: x.arguments,
                ..Default::default()
            };
            methods.push((x.vhost, m.into()));
        }
        for b in bindings {
            let (source, destination, routing_key) =
                (b.source.as_str().into(), b.destination.as_str().into(), b.routing_key.as_str().into());
            let m: Method = match b.destination_type {
                DestinationType::Queue => {
                    QueueBind { queue: destination, exchange: source, routing_key, arguments: b.arguments, ..Default::default() }.into()
                }
                DestinationType::Exchange => {
                    ExchangeBind { destination, source, routing_key, arguments: b.arguments, ..Default::default() }.into()
                }
            };
            methods.push((b.vhost, m));
        }
        if methods.is_empty() {
            return Ok(());
        }
        let vhosts = self.vhost_names();
        self.put_user(User { name: IMPORTER.into(), password_hash: String::new(), tags: Vec::new(), loopback_only: true });
        let mut result = Ok(());
        for (vhost, method) in methods {
            if !vhosts.contains(&vhost) {
                result = Err(json!(["no_such_vhost", vhost]));
                break;
            }
            let _ = self.set_permission(Permission::all(IMPORTER, &vhost));
            let binding = matches!(method, Method::QueueBind(_) | Method::ExchangeBind(_));
            if let Err(e) = self.execute(IMPORTER, &vhost, method) {
                if binding && e.code == ReplyCode::PreconditionFailed {
                    skipped.push(format!("binding skipped in vhost '{vhost}': {}", e.text));
                    continue;
                }
                result = Err(json!(e.text));
                break;
            }
        }
        self.delete_user(IMPORTER);
        result
    }
}

#[cfg(test)]
mod tests;
