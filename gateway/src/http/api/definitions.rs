//! `/api/definitions[/{vhost}]` (administrators): export and import in
//! RabbitMQ's JSON format: users (with `password_hash`,
//! `hashing_algorithm` and `limits`), vhosts, permissions, vhost limits (a
//! `parameters` entry of component `vhost-limits`), policies, queues,
//! exchanges and bindings. Left out of exports, as in RabbitMQ: exclusive queues, the
//! default and `amq.*` exchanges, and the default exchange's bindings.
//! Lists are sorted, so importing an export into a fresh broker and
//! exporting again gives the same document.
//!
//! Queues, exchanges and bindings are declared with full AMQP validation by
//! an internal user that exists only for the length of the import (one
//! step of the core task, so nothing else can use it).

use axum::extract::Path;
use axum::response::Response;
use broker_core::amqp::method::{ExchangeBind, ExchangeDeclare, QueueBind, QueueDeclare};
use broker_core::amqp::{Method, ReplyCode};
use broker_core::management::info::{BindingInfo, ExchangeInfo, QueueInfo};
use broker_core::management::policy::Policy;
use broker_core::{Broker, Limits, Permission, User};
use serde_json::{json, Map, Value};

use super::auth::authenticate;
use super::convert::{json_to_table, table_to_json};
use super::error::{ApiError, ApiResult};
use super::limits::{limits_from_json, limits_json, USER_LIMITS, VHOST_LIMITS};
use super::permissions::permission_json;
use super::policies::{policy_from_json, policy_json};
use super::request::{bool_field, Req};
use super::users::{salt, user_from_json, user_json_with_limits};
use super::{reply, Ctx};
use broker_core::management::json::RABBITMQ_VERSION as RABBITMQ_COMPAT_VERSION;

/// The importing user: a name no AMQP client or API request can log in as.
const IMPORTER: &str = "\u{0}warren-definitions-import";

struct Snapshot {
    users: Vec<User>,
    vhosts: Vec<String>,
    permissions: Vec<Permission>,
    policies: Vec<Policy>,
    queues: Vec<QueueInfo>,
    exchanges: Vec<ExchangeInfo>,
    bindings: Vec<BindingInfo>,
    vhost_limits: Vec<(String, Limits)>,
    user_limits: Vec<(String, Limits)>,
}

fn snapshot(b: &Broker, vhost: Option<&str>) -> Snapshot {
    Snapshot {
        vhost_limits: b.vhost_limits().into_iter().filter(|(v, _)| vhost.is_none_or(|only| only == v)).collect(),
        user_limits: b.user_limits(),
        users: b.users(),
        vhosts: b.vhost_names(),
        permissions: b.permissions(),
        policies: b.policies(vhost),
        queues: b.queues(vhost).into_iter().filter(|q| !q.exclusive).collect(),
        exchanges: b.exchanges(vhost).into_iter().filter(|x| !x.name.is_empty() && !x.name.starts_with("amq.")).collect(),
        bindings: b.bindings(vhost).into_iter().filter(|b| !b.source.is_empty()).collect(),
    }
}

/// What survives a restart: durable queues and exchanges, and bindings
/// whose both ends are durable (the `amq.*` exchanges are).
fn durable_snapshot(b: &Broker) -> Snapshot {
    let mut s = snapshot(b, None);
    s.queues.retain(|q| q.durable);
    let durable_exchanges: Vec<(String, String)> = b.exchanges(None).into_iter().filter(|x| x.durable).map(|x| (x.vhost, x.name)).collect();
    let durable_queues: Vec<(String, String)> = s.queues.iter().map(|q| (q.vhost.clone(), q.name.clone())).collect();
    s.exchanges.retain(|x| x.durable);
    s.bindings.retain(|bd| {
        let ends = |name: &str, list: &[(String, String)]| list.iter().any(|(v, n)| *v == bd.vhost && n == name);
        let dest_durable =
            if bd.destination_type == "queue" { ends(&bd.destination, &durable_queues) } else { ends(&bd.destination, &durable_exchanges) };
        ends(&bd.source, &durable_exchanges) && dest_durable
    });
    s
}

fn full_document(s: &Snapshot) -> Value {
    let mut out = Map::new();
    out.insert("rabbit_version".into(), json!(RABBITMQ_COMPAT_VERSION));
    out.insert("rabbitmq_version".into(), json!(RABBITMQ_COMPAT_VERSION));
    out.insert("product_name".into(), json!("Warren"));
    out.insert("product_version".into(), json!(env!("CARGO_PKG_VERSION")));
    out.insert("users".into(), Value::Array(s.users.iter().map(|u| user_json_with_limits(u, &s.user_limits)).collect()));
    out.insert("vhosts".into(), Value::Array(s.vhosts.iter().map(|v| json!({"name": v})).collect()));
    out.insert("permissions".into(), Value::Array(s.permissions.iter().map(permission_json).collect()));
    out.insert("topic_permissions".into(), json!([]));
    out.insert("parameters".into(), parameters(s, true));
    out.insert("global_parameters".into(), json!([]));
    objects(s, true, &mut out);
    Value::Object(out)
}

/// Runtime parameters: vhost limits, as RabbitMQ keeps them (component
/// `vhost-limits`, name `limits`).
fn parameters(s: &Snapshot, with_vhost: bool) -> Value {
    let entries = s
        .vhost_limits
        .iter()
        .map(|(vhost, l)| {
            let mut p = json!({"component": "vhost-limits", "name": "limits", "value": limits_json(l)});
            if with_vhost {
                p["vhost"] = json!(vhost);
            }
            p
        })
        .collect();
    Value::Array(entries)
}

/// The definitions that must survive a restart, as a RabbitMQ document
/// (what the gateway saves in its data directory).
pub fn durable_document(b: &Broker) -> Value {
    full_document(&durable_snapshot(b))
}

/// Loads a definitions document into the broker (at start, before any
/// client connects).
pub fn load_document(b: &mut Broker, doc: &Map<String, Value>) -> Result<(), String> {
    let imp = parse(doc, None).map_err(|e| e.reason_text())?;
    apply(b, imp).map_err(|e| e.reason_text())
}

/// The vhost-specific parts; `with_vhost` adds the `vhost` field (full
/// exports have it, per-vhost exports do not).
fn objects(s: &Snapshot, with_vhost: bool, out: &mut Map<String, Value>) {
    let tag = |mut v: Value, vhost: &str| {
        if with_vhost {
            v["vhost"] = json!(vhost);
        }
        v
    };
    let mut policies: Vec<Value> = s.policies.iter().map(policy_json).collect();
    if !with_vhost {
        for p in &mut policies {
            p.as_object_mut().map(|m| m.remove("vhost"));
        }
    }
    out.insert("policies".into(), Value::Array(policies));
    let queues = s
        .queues
        .iter()
        .map(|q| {
            tag(
                json!({"name": q.name, "durable": q.durable, "auto_delete": q.auto_delete, "arguments": table_to_json(&q.arguments)}),
                &q.vhost,
            )
        })
        .collect();
    out.insert("queues".into(), Value::Array(queues));
    let exchanges = s
        .exchanges
        .iter()
        .map(|x| {
            tag(
                json!({"name": x.name, "type": x.kind, "durable": x.durable, "auto_delete": x.auto_delete,
                       "internal": x.internal, "arguments": table_to_json(&x.arguments)}),
                &x.vhost,
            )
        })
        .collect();
    out.insert("exchanges".into(), Value::Array(exchanges));
    let bindings = s
        .bindings
        .iter()
        .map(|b| {
            tag(
                json!({"source": b.source, "destination": b.destination, "destination_type": b.destination_type,
                       "routing_key": b.routing_key, "arguments": table_to_json(&b.arguments)}),
                &b.vhost,
            )
        })
        .collect();
    out.insert("bindings".into(), Value::Array(bindings));
}

pub async fn export(ctx: Ctx, req: Req) -> ApiResult<Response> {
    authenticate(&ctx, &req).await?.require_admin()?;
    let s = ctx.core.call(|b| snapshot(b, None)).await?;
    Ok(reply::object(&req.query, full_document(&s)))
}

pub async fn export_vhost(ctx: Ctx, Path(vhost): Path<String>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_admin()?;
    if !user.vhost_exists(&vhost) {
        return Err(ApiError::object_not_found());
    }
    let s = ctx.core.call(move |b| snapshot(b, Some(&vhost))).await?;
    let mut out = Map::new();
    out.insert("rabbit_version".into(), json!(RABBITMQ_COMPAT_VERSION));
    out.insert("parameters".into(), parameters(&s, false));
    objects(&s, false, &mut out);
    Ok(reply::object(&req.query, Value::Object(out)))
}

/// Definitions parsed and checked, ready to apply in one core step.
#[derive(Default)]
struct Import {
    users: Vec<User>,
    vhosts: Vec<String>,
    permissions: Vec<Permission>,
    policies: Vec<Policy>,
    vhost_limits: Vec<(String, Limits)>,
    /// Users' `limits`, for users whose entry has the key.
    user_limits: Vec<(String, Limits)>,
    /// (vhost, declare or bind method), in the order queues, exchanges, bindings.
    methods: Vec<(String, Method)>,
}

fn items<'a>(doc: &'a Map<String, Value>, key: &str) -> ApiResult<Vec<&'a Map<String, Value>>> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => {
            a.iter().map(|v| v.as_object().ok_or_else(|| ApiError::bad_request(format!("{key}: every entry must be an object")))).collect()
        }
        Some(_) => Err(ApiError::bad_request(format!("{key} must be an array"))),
    }
}

fn text<'a>(m: &'a Map<String, Value>, key: &str) -> ApiResult<&'a str> {
    m.get(key).and_then(Value::as_str).ok_or_else(|| ApiError::bad_request(json!(["key_missing", key])))
}

/// Parses a definitions document; `vhost` is the target of a per-vhost
/// import (whose entries carry no `vhost` field).
fn parse(doc: &Map<String, Value>, vhost: Option<&str>) -> ApiResult<Import> {
    let mut imp = Import::default();
    let vhost_of = |m: &Map<String, Value>| -> ApiResult<String> {
        match vhost {
            Some(v) => Ok(v.to_string()),
            None => text(m, "vhost").map(str::to_string),
        }
    };
    if vhost.is_none() {
        for u in items(doc, "users")? {
            let mut u = u.clone();
            u.entry("tags").or_insert(json!([]));
            imp.users.push(user_from_json(text(&u, "name")?, &u, salt())?);
            if let Some(l) = u.get("limits") {
                imp.user_limits.push((text(&u, "name")?.to_string(), limits_from_json(l, USER_LIMITS, true)?));
            }
        }
        for v in items(doc, "vhosts")? {
            imp.vhosts.push(text(v, "name")?.to_string());
        }
        for p in items(doc, "permissions")? {
            imp.permissions.push(Permission {
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
            let value = p.get("value").ok_or_else(|| ApiError::bad_request(json!(["key_missing", "value"])))?;
            imp.vhost_limits.push((vhost_of(p)?, limits_from_json(value, VHOST_LIMITS, false)?));
        }
    }
    for p in items(doc, "policies")? {
        imp.policies.push(policy_from_json(&vhost_of(p)?, text(p, "name")?, p)?);
    }
    for q in items(doc, "queues")? {
        let m = QueueDeclare {
            queue: text(q, "name")?.into(),
            durable: bool_field(q, "durable")?,
            auto_delete: bool_field(q, "auto_delete")?,
            arguments: json_to_table(q.get("arguments"))?,
            ..Default::default()
        };
        imp.methods.push((vhost_of(q)?, m.into()));
    }
    for x in items(doc, "exchanges")? {
        let m = ExchangeDeclare {
            exchange: text(x, "name")?.into(),
            kind: text(x, "type")?.into(),
            durable: bool_field(x, "durable")?,
            auto_delete: bool_field(x, "auto_delete")?,
            internal: bool_field(x, "internal")?,
            arguments: json_to_table(x.get("arguments"))?,
            ..Default::default()
        };
        imp.methods.push((vhost_of(x)?, m.into()));
    }
    for b in items(doc, "bindings")? {
        let (source, destination, key) = (text(b, "source")?, text(b, "destination")?, text(b, "routing_key")?);
        let arguments = json_to_table(b.get("arguments"))?;
        let m: Method = match text(b, "destination_type")? {
            "queue" => {
                QueueBind { queue: destination.into(), exchange: source.into(), routing_key: key.into(), arguments, ..Default::default() }
                    .into()
            }
            "exchange" => ExchangeBind {
                destination: destination.into(),
                source: source.into(),
                routing_key: key.into(),
                arguments,
                ..Default::default()
            }
            .into(),
            other => return Err(ApiError::bad_request(json!(["bad_destination_type", other]))),
        };
        imp.methods.push((vhost_of(b)?, m));
    }
    Ok(imp)
}

/// Applies an import: users, vhosts, permissions, policies, then queues,
/// exchanges and bindings. Stops at the first error (what came before
/// stays, as in RabbitMQ), except a binding with arguments its exchange
/// type refuses, which is skipped.
fn apply(b: &mut Broker, imp: Import) -> Result<(), ApiError> {
    for mut u in imp.users {
        u.loopback_only = b.user(&u.name).map_or(u.name == "guest", |e| e.loopback_only);
        b.put_user(u);
    }
    for v in &imp.vhosts {
        b.add_vhost(v);
    }
    for p in imp.permissions {
        b.set_permission(p).map_err(ApiError::bad_request)?;
    }
    for (user, l) in &imp.user_limits {
        b.set_user_limits(user, *l);
    }
    for (vhost, l) in &imp.vhost_limits {
        if !b.vhost_names().contains(vhost) {
            return Err(ApiError::bad_request(json!(["no_such_vhost", vhost])));
        }
        b.set_vhost_limits(vhost, *l);
    }
    for p in imp.policies {
        if !b.vhost_names().contains(&p.vhost) {
            return Err(ApiError::bad_request(json!(["no_such_vhost", p.vhost])));
        }
        b.set_policy(p).map_err(ApiError::bad_request)?;
    }
    if imp.methods.is_empty() {
        return Ok(());
    }
    let vhosts = b.vhost_names();
    b.put_user(User { name: IMPORTER.into(), password_hash: String::new(), tags: Vec::new(), loopback_only: true });
    let mut result = Ok(());
    for (vhost, method) in imp.methods {
        if !vhosts.contains(&vhost) {
            result = Err(ApiError::bad_request(json!(["no_such_vhost", vhost])));
            break;
        }
        let _ = b.set_permission(Permission::all(IMPORTER, &vhost));
        let binding = matches!(method, Method::QueueBind(_) | Method::ExchangeBind(_));
        if let Err(e) = b.execute(IMPORTER, &vhost, method) {
            // A binding its exchange type refuses (a bad x-match) is skipped
            // with a warning, as RabbitMQ 3.10 does; so one saved before
            // Warren checked x-match does not stop a restart.
            if binding && e.code == ReplyCode::PreconditionFailed {
                tracing::warn!("definitions: binding skipped in vhost '{vhost}': {}", e.text);
                continue;
            }
            result = Err(ApiError::bad_request(e.text));
            break;
        }
    }
    b.delete_user(IMPORTER);
    result
}

fn document(req: &Req) -> ApiResult<Map<String, Value>> {
    // RabbitMQ's reason for a body that is not a JSON object.
    req.json().map_err(|_| ApiError::bad_request("failed_to_parse_json"))
}

pub async fn import(ctx: Ctx, req: Req) -> ApiResult<Response> {
    authenticate(&ctx, &req).await?.require_admin()?;
    let imp = parse(&document(&req)?, None)?;
    ctx.core.call(move |b| apply(b, imp)).await??;
    Ok(reply::no_content())
}

pub async fn import_vhost(ctx: Ctx, Path(vhost): Path<String>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_admin()?;
    if !user.vhost_exists(&vhost) {
        return Err(ApiError::object_not_found());
    }
    let imp = parse(&document(&req)?, Some(&vhost))?;
    ctx.core.call(move |b| apply(b, imp)).await??;
    Ok(reply::no_content())
}
