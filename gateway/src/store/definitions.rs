//! The durable definitions file: `definitions.json` in the data directory,
//! one document in RabbitMQ's definitions format, so a `rabbitmqctl
//! export_definitions` file can be read and ours can be imported by
//! RabbitMQ. The format and what is in it (users, vhosts, permissions,
//! limits, policies, durable exchanges and queues, bindings between durable
//! ends) are `broker_core::management::definitions`'s; this module only
//! reads and writes the file. It reads what earlier warren versions wrote
//! (the same document, `tests/fixtures/definitions-0.1.0.json`).
//!
//! The document is small and changes rarely, so it is rewritten whole on
//! each change, atomically: write `definitions.json.tmp`, fsync it, rename
//! it over `definitions.json`, fsync the directory. A crash leaves either
//! the old or the new document, never a mix.

use std::path::Path;

use broker_core::management::definitions::Definitions;
use broker_core::management::json::reason_text;
use serde_json::Value;

use super::data_dir::{replace_file, DataDir};
use super::StoreError;

pub const FILE_NAME: &str = "definitions.json";

/// Reads the definitions of `data`; a missing file means none yet.
/// `random` gives what a user entry with a plain `password` (or none)
/// needs (see `Definitions::parse`); saved files have only hashes.
pub fn load(data: &DataDir, random: &mut dyn FnMut() -> u64) -> Result<Definitions, StoreError> {
    load_from(data.path(), random)
}

/// Replaces the definitions of `data` atomically.
pub fn save(data: &DataDir, definitions: &Definitions) -> Result<(), StoreError> {
    save_to(data.path(), definitions)
}

fn load_from(dir: &Path, random: &mut dyn FnMut() -> u64) -> Result<Definitions, StoreError> {
    let path = dir.join(FILE_NAME);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Definitions::default()),
        Err(e) => return Err(StoreError::io(&path, "read", e)),
    };
    let doc: Value = serde_json::from_slice(&text).map_err(|e| {
        let offset = byte_offset(&text, e.line(), e.column());
        StoreError::corrupt(&path, offset, format!("invalid definitions JSON (line {}, column {}): {e}", e.line(), e.column()))
    })?;
    let Value::Object(doc) = doc else { return Err(StoreError::corrupt(&path, 0, "the definitions are not a JSON object")) };
    Definitions::parse(&doc, None, random).map_err(|e| StoreError::corrupt(&path, 0, format!("invalid definitions: {}", reason_text(&e))))
}

fn byte_offset(text: &[u8], line: usize, column: usize) -> u64 {
    let line_start: usize = text.split(|&b| b == b'\n').take(line.saturating_sub(1)).map(|l| l.len() + 1).sum();
    (line_start + column.saturating_sub(1)) as u64
}

fn save_to(dir: &Path, definitions: &Definitions) -> Result<(), StoreError> {
    let mut text =
        serde_json::to_vec_pretty(&definitions.to_json()).map_err(|e| StoreError::Invalid(format!("cannot encode definitions: {e}")))?;
    text.push(b'\n');
    replace_file(dir, FILE_NAME, &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use broker_core::amqp::{FieldTable, FieldValue};
    use broker_core::management::definitions::{Queue, Vhost, HASHING_ALGORITHM};
    use serde_json::Map;

    /// Trimmed from a RabbitMQ 3.13 `export_definitions`.
    const RABBIT_EXPORT: &str = r#"{
      "rabbit_version": "3.13.7",
      "users": [{"name": "guest", "password_hash": "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR",
                 "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["administrator"], "limits": {}},
                {"name": "old", "password_hash": "eA==", "tags": "management, monitoring"}],
      "vhosts": [{"name": "/", "description": "Default virtual host", "tags": [], "metadata": {"description": "", "tags": []}}],
      "permissions": [{"user": "guest", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}],
      "topic_permissions": [],
      "policies": [{"vhost": "/", "name": "ttl", "pattern": "^t", "definition": {"message-ttl": 1000}}],
      "queues": [{"name": "orders", "vhost": "/", "durable": true, "auto_delete": false,
                  "arguments": {"x-queue-type": "classic", "x-message-ttl": 60000, "x-single-active-consumer": true}}],
      "exchanges": [{"name": "events", "vhost": "/", "type": "topic", "durable": true, "auto_delete": false,
                     "internal": false, "arguments": {"alternate-exchange": "unrouted", "x-nested": {"a": [1, "b"]}}}],
      "bindings": [{"source": "events", "vhost": "/", "destination": "orders", "destination_type": "queue",
                    "routing_key": "order.*", "arguments": {}}]
    }"#;

    fn random() -> u64 {
        7
    }

    #[test]
    fn reads_a_rabbitmq_export_and_writes_it_back_atomically() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(FILE_NAME), RABBIT_EXPORT).unwrap();
        let defs = load_from(tmp.path(), &mut random).unwrap();
        assert_eq!(defs.users[0].user.tags, vec!["administrator"]);
        assert_eq!(defs.users[1].user.tags, vec!["management", "monitoring"], "pre-3.10 tag string");
        assert_eq!(defs.queues[0].arguments.get("x-message-ttl"), Some(&FieldValue::I64(60000)));
        assert_eq!(defs.exchanges[0].kind, "topic");
        assert_eq!(defs.bindings[0].destination_type.as_str(), "queue");
        assert_eq!(defs.permissions[0].configure, ".*");
        assert_eq!(defs.policies[0].name, "ttl", "policies are read");

        save_to(tmp.path(), &defs).unwrap();
        assert!(!tmp.path().join(format!("{FILE_NAME}.tmp")).exists());
        let again = load_from(tmp.path(), &mut random).unwrap();
        assert_eq!(again, defs);
        let json: Value = serde_json::from_slice(&std::fs::read(tmp.path().join(FILE_NAME)).unwrap()).unwrap();
        assert_eq!(json["exchanges"][0]["type"], "topic");
        assert_eq!(json["exchanges"][0]["arguments"]["x-nested"]["a"][1], "b");
        assert_eq!(json["users"][1]["tags"], serde_json::json!(["management", "monitoring"]));
        assert_eq!(json["users"][1]["hashing_algorithm"], HASHING_ALGORITHM);
        assert_eq!(json["vhosts"][0]["description"], "Default virtual host");
        assert_eq!(json["policies"][0]["pattern"], "^t");
    }

    /// What warren 0.1.0 wrote before the definitions had a module of
    /// their own (`tests/fixtures/definitions-0.1.0.json`).
    #[test]
    fn reads_what_earlier_warrens_wrote() {
        let tmp = tempfile::tempdir().unwrap();
        let old = include_str!("../../tests/fixtures/definitions-0.1.0.json");
        std::fs::write(tmp.path().join(FILE_NAME), old).unwrap();
        let defs = load_from(tmp.path(), &mut random).unwrap();
        let users: Vec<(&str, Option<u64>)> =
            defs.users.iter().map(|u| (u.user.name.as_str(), u.limits.and_then(|l| l.max_channels))).collect();
        assert_eq!(users, [("guest", None), ("ops", Some(7))]);
        assert_eq!((defs.vhosts.len(), defs.permissions.len(), defs.policies.len(), defs.vhost_limits.len()), (2, 3, 1, 1));
        assert_eq!((defs.queues.len(), defs.exchanges.len(), defs.bindings.len()), (2, 2, 4));
        // Written again, it is the same document (keys in another order;
        // the product version is this build's).
        save_to(tmp.path(), &defs).unwrap();
        let read = |text: &[u8]| {
            let mut v: Value = serde_json::from_slice(text).unwrap();
            v.as_object_mut().unwrap().remove("product_version");
            v
        };
        assert_eq!(read(&std::fs::read(tmp.path().join(FILE_NAME)).unwrap()), read(old.as_bytes()));
    }

    #[test]
    fn missing_file_is_empty_and_bad_json_names_file_and_position() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(load_from(tmp.path(), &mut random).unwrap(), Definitions::default());
        std::fs::write(tmp.path().join(FILE_NAME), "{\n  \"queues\": [}\n").unwrap();
        let err = load_from(tmp.path(), &mut random).unwrap_err().to_string();
        assert!(err.contains(FILE_NAME) && err.contains("line 2"), "{err}");
        std::fs::write(tmp.path().join(FILE_NAME), "{\"queues\": [{\"vhost\": \"/\"}]}").unwrap();
        let err = load_from(tmp.path(), &mut random).unwrap_err().to_string();
        assert!(err.contains(FILE_NAME) && err.contains("key_missing"), "{err}");
    }

    #[test]
    fn save_replaces_the_previous_document() {
        let tmp = tempfile::tempdir().unwrap();
        let mut defs = Definitions::default();
        defs.vhosts.push(Vhost { name: "/".into(), other: Map::new() });
        save_to(tmp.path(), &defs).unwrap();
        defs.queues.push(Queue { name: "q".into(), vhost: "/".into(), durable: true, auto_delete: false, arguments: FieldTable::new() });
        save_to(tmp.path(), &defs).unwrap();
        assert_eq!(load_from(tmp.path(), &mut random).unwrap(), defs);
    }
}
