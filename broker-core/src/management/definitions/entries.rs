//! The entries of a definitions document that the management API also
//! shows and takes on their own: users (`/api/users`), permissions
//! (`/api/permissions`), policies (`/api/policies`) and limits
//! (`/api/vhost-limits`, `/api/user-limits`, a user's `limits`, the
//! `vhost-limits` parameters). Refusals are RabbitMQ's reasons, as JSON
//! values (strings, or Erlang terms as arrays).

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::management::json::{int_value, json_to_table, keys_missing, table_to_json};
use crate::management::policy::{ApplyTo, Policy};
use crate::{hash_password, Limits, Permission, User};

/// The only password hashing Warren (and RabbitMQ's default configuration)
/// writes: base64 of a 4-octet salt followed by SHA-256(salt ++ password).
pub const HASHING_ALGORITHM: &str = "rabbit_password_hashing_sha256";

/// Limit names a vhost takes.
pub const VHOST_LIMITS: &[&str] = &["max-connections", "max-queues"];
/// Limit names a user takes.
pub const USER_LIMITS: &[&str] = &["max-connections", "max-channels"];

// ----- users -----

/// A user as listed and exported, with its limits (`{}` for none).
pub fn user_json(u: &User, limits: Option<&Limits>) -> Value {
    json!({
        "name": u.name,
        "password_hash": u.password_hash,
        "hashing_algorithm": HASHING_ALGORITHM,
        "tags": u.tags,
        "limits": limits.map_or(json!({}), limits_json),
    })
}

/// Tags as a comma-separated string (RabbitMQ trims around commas; before
/// 3.10 it wrote them so) or an array.
pub fn parse_tags(v: &Value) -> Result<Vec<String>, Value> {
    match v {
        Value::String(s) => Ok(s.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect()),
        Value::Array(items) => items
            .iter()
            .map(|t| t.as_str().map(|s| s.trim().to_string()).ok_or_else(|| json!("tags must be strings")))
            .filter(|t| !matches!(t, Ok(s) if s.is_empty()))
            .collect(),
        _ => Err(json!("tags must be a string or an array")),
    }
}

/// A user from a PUT body or a definitions entry: `password` (hashed with
/// a fresh salt) or `password_hash`; without either the user gets a random
/// password, i.e. cannot log in with one, as in RabbitMQ. `random` gives
/// the salt and that password (the core has no randomness of its own).
/// `loopback_only` is left false: it depends on the broker.
pub fn user_from_json(name: &str, body: &Map<String, Value>, random: &mut dyn FnMut() -> u64) -> Result<User, Value> {
    let tags = match body.get("tags") {
        Some(v) => parse_tags(v)?,
        None => return Err(json!("tags_not_present")),
    };
    if let Some(alg) = body.get("hashing_algorithm").and_then(Value::as_str) {
        if alg != HASHING_ALGORITHM {
            return Err(json!(format!("unsupported hashing_algorithm '{alg}': only {HASHING_ALGORITHM}")));
        }
    }
    let password_hash = match (body.get("password").and_then(Value::as_str), body.get("password_hash").and_then(Value::as_str)) {
        (Some(p), _) => hash_password(p, (random() as u32).to_le_bytes()),
        (None, Some(h)) => {
            if !h.is_empty() && base64::engine::general_purpose::STANDARD.decode(h).is_err() {
                return Err(json!(["not_base64", h]));
            }
            h.to_string()
        }
        (None, None) => {
            let salt = (random() as u32).to_le_bytes();
            hash_password(&format!("{:016x}{:016x}", random(), random()), salt)
        }
    };
    Ok(User { name: name.to_string(), password_hash, tags, loopback_only: false })
}

// ----- permissions -----

pub fn permission_json(p: &Permission) -> Value {
    json!({"user": p.user, "vhost": p.vhost, "configure": p.configure, "write": p.write, "read": p.read})
}

// ----- policies -----

pub fn policy_json(p: &Policy) -> Value {
    json!({
        "vhost": p.vhost,
        "name": p.name,
        "pattern": p.pattern,
        "apply-to": p.apply_to.as_str(),
        "definition": table_to_json(&p.definition),
        "priority": p.priority,
    })
}

/// RabbitMQ's text for a policy or vhost limit it refuses.
fn invalid(why: impl std::fmt::Display) -> Value {
    json!(format!("Validation failed\n\n{why}\n"))
}

/// A policy from a PUT body or a definitions entry
/// (`{pattern, definition, apply-to, priority}`).
pub fn policy_from_json(vhost: &str, name: &str, body: &Map<String, Value>) -> Result<Policy, Value> {
    let missing: Vec<&str> = ["pattern", "definition"].into_iter().filter(|k| body.get(*k).is_none_or(Value::is_null)).collect();
    if !missing.is_empty() {
        return Err(json!(keys_missing(&missing)));
    }
    let pattern = body["pattern"].as_str().ok_or_else(|| invalid("pattern should be a string"))?.to_string();
    let definition = match body.get("definition") {
        Some(Value::Object(m)) if m.is_empty() => return Err(invalid("no policy provided")),
        Some(d @ Value::Object(_)) => json_to_table(d)?,
        _ => return Err(invalid("definition should be an object")),
    };
    let apply_to = match body.get("apply-to") {
        None | Some(Value::Null) => ApplyTo::All,
        Some(v) => {
            let s = v.as_str().unwrap_or_default();
            ApplyTo::parse(s).ok_or_else(|| invalid(format!("apply-to '{s}' unrecognised; should be 'queues', 'exchanges' or 'all'")))?
        }
    };
    let priority = match body.get("priority") {
        None | Some(Value::Null) => 0,
        Some(v) => int_value(v).ok_or_else(|| invalid(format!("priority should be a number, actually was {v}")))?,
    };
    Ok(Policy { vhost: vhost.to_string(), name: name.to_string(), pattern, apply_to, priority, definition })
}

// ----- limits -----

/// The slot of limit `name` in `l`, if it is one Warren knows.
pub fn limit_mut<'a>(l: &'a mut Limits, name: &str) -> Option<&'a mut Option<u64>> {
    match name {
        "max-connections" => Some(&mut l.max_connections),
        "max-queues" => Some(&mut l.max_queues),
        "max-channels" => Some(&mut l.max_channels),
        _ => None,
    }
}

/// `{"max-connections": 10, ...}` with only the limits that are set.
pub fn limits_json(l: &Limits) -> Value {
    let mut m = Map::new();
    for (name, v) in [("max-connections", l.max_connections), ("max-queues", l.max_queues), ("max-channels", l.max_channels)] {
        if let Some(v) = v {
            m.insert(name.into(), json!(v));
        }
    }
    Value::Object(m)
}

/// Sets `name` on `l` from a JSON value: an integer, negative = no limit
/// (RabbitMQ's `-1`). `allowed` are the names this kind of limit takes;
/// `user` picks RabbitMQ's error texts for user limits.
pub fn set_limit(l: &mut Limits, allowed: &[&str], name: &str, value: &Value, user: bool) -> Result<(), Value> {
    let Some(slot) = limit_mut(l, name).filter(|_| allowed.contains(&name)) else {
        let text =
            format!("Unrecognised terms [{{<<\"{name}\">>,{}}}] in {}", erlang_term(value), if user { "user-limits" } else { "limits" });
        return Err(if user { json!(text) } else { invalid(text) });
    };
    let Some(n) = value.as_i64() else {
        let text = format!("{name} should be a number, actually was {}", erlang_term(value));
        return Err(if user { json!(text) } else { invalid(text) });
    };
    *slot = u64::try_from(n).ok();
    Ok(())
}

/// How RabbitMQ prints the offending JSON value in its texts.
fn erlang_term(v: &Value) -> String {
    match v {
        Value::String(s) => format!("<<\"{s}\">>"),
        other => other.to_string(),
    }
}

/// Limits from a JSON object (a `vhost-limits` parameter's value, a user's
/// `limits`).
pub fn limits_from_json(v: &Value, allowed: &[&str], user: bool) -> Result<Limits, Value> {
    let Some(m) = v.as_object() else { return Err(json!("limits must be an object")) };
    let mut l = Limits::default();
    for (name, value) in m {
        set_limit(&mut l, allowed, name, value, user)?;
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> impl FnMut() -> u64 {
        let mut n = 0u64;
        move || {
            n += 1;
            n.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        }
    }

    #[test]
    fn users_take_a_password_a_hash_or_neither() {
        let body = json!({"password": "pw", "tags": "monitoring, policymaker"});
        let u = user_from_json("ops", body.as_object().unwrap(), &mut counter()).unwrap();
        assert_eq!(u.tags, ["monitoring", "policymaker"]);
        assert!(u.check_password(b"pw"));
        let again =
            user_from_json("ops", json!({"password_hash": u.password_hash, "tags": ["x", " "]}).as_object().unwrap(), &mut counter());
        assert_eq!(
            again.as_ref().map(|u| (u.password_hash.as_str(), u.tags.clone())),
            Ok((u.password_hash.as_str(), vec!["x".to_string()]))
        );
        let random = user_from_json("r", json!({"tags": []}).as_object().unwrap(), &mut counter()).unwrap();
        assert!(!random.check_password(b"") && !random.password_hash.is_empty());
        let no_tags = user_from_json("r", &Map::new(), &mut counter());
        assert_eq!(no_tags.unwrap_err(), json!("tags_not_present"));
        let bad = json!({"tags": [], "password_hash": "!!"});
        assert_eq!(user_from_json("r", bad.as_object().unwrap(), &mut counter()).unwrap_err(), json!(["not_base64", "!!"]));
        let md5 = json!({"tags": [], "hashing_algorithm": "rabbit_password_hashing_md5"});
        assert!(user_from_json("r", md5.as_object().unwrap(), &mut counter()).is_err());
        let limits = Limits { max_channels: Some(7), ..Default::default() };
        assert_eq!(
            user_json(&u, Some(&limits)),
            json!({"name": "ops", "password_hash": u.password_hash, "hashing_algorithm": HASHING_ALGORITHM,
                   "tags": ["monitoring", "policymaker"], "limits": {"max-channels": 7}})
        );
        assert_eq!(user_json(&u, None)["limits"], json!({}));
    }

    #[test]
    fn policies_validate_as_rabbitmq() {
        let body = json!({"pattern": "^q", "definition": {"max-length": 100}, "apply-to": "queues", "priority": "2"});
        let p = policy_from_json("/", "p", body.as_object().unwrap()).unwrap();
        assert_eq!((p.apply_to, p.priority), (ApplyTo::Queues, 2));
        assert_eq!(
            policy_json(&p),
            json!({"vhost": "/", "name": "p", "pattern": "^q", "apply-to": "queues", "definition": {"max-length": 100}, "priority": 2})
        );
        let e = |v: Value| policy_from_json("/", "p", v.as_object().unwrap()).unwrap_err();
        assert_eq!(e(json!({})), json!("[{key_missing,pattern},{key_missing,definition}]"));
        assert_eq!(e(json!({"pattern": "x", "definition": {}})), json!("Validation failed\n\nno policy provided\n"));
        assert_eq!(
            e(json!({"pattern": "x", "definition": {"a": 1}, "apply-to": "both"})),
            json!("Validation failed\n\napply-to 'both' unrecognised; should be 'queues', 'exchanges' or 'all'\n")
        );
    }

    #[test]
    fn limits_json_forms() {
        let l = limits_from_json(&json!({"max-connections": 10, "max-queues": 5}), VHOST_LIMITS, false).unwrap();
        assert_eq!((l.max_connections, l.max_queues, l.max_channels), (Some(10), Some(5), None));
        assert_eq!(limits_json(&l), json!({"max-connections": 10, "max-queues": 5}));
        assert_eq!(limits_from_json(&limits_json(&l), VHOST_LIMITS, false).unwrap(), l);
        assert_eq!(limits_from_json(&json!({"max-channels": -1}), USER_LIMITS, true).unwrap(), Limits::default());
        let e = limits_from_json(&json!({"max-queues": 1}), USER_LIMITS, true).unwrap_err();
        assert_eq!(e, json!("Unrecognised terms [{<<\"max-queues\">>,1}] in user-limits"));
        let e = limits_from_json(&json!({"max-queues": "x"}), VHOST_LIMITS, false).unwrap_err();
        assert_eq!(e, json!("Validation failed\n\nmax-queues should be a number, actually was <<\"x\">>\n"));
    }
}
