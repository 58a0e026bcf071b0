//! Durable definitions (vhosts, users, permissions, durable exchanges and
//! queues, bindings) as one JSON document in RabbitMQ's definitions shape,
//! so a `rabbitmqctl export_definitions` file can be read and ours can be
//! imported by RabbitMQ.
//!
//! The document is small and changes rarely, so it is rewritten whole on
//! each change, atomically: write `definitions.json.tmp`, fsync it, rename
//! it over `definitions.json`, fsync the directory. A crash leaves either
//! the old or the new document, never a mix. Keys this module does not
//! model (policies, parameters, vhost metadata, ...) are kept as they were
//! read and written back unchanged.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::data_dir::{sync_dir, DataDir};
use super::StoreError;

pub const FILE_NAME: &str = "definitions.json";
/// The only password hashing RabbitMQ's default configuration writes.
pub const SHA256_HASHING: &str = "rabbit_password_hashing_sha256";

/// Optional arguments (`x-message-ttl`, `alternate-exchange`, ...).
pub type Arguments = Map<String, Value>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Definitions {
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub vhosts: Vec<Vhost>,
    #[serde(default)]
    pub permissions: Vec<Permission>,
    #[serde(default)]
    pub exchanges: Vec<Exchange>,
    #[serde(default)]
    pub queues: Vec<Queue>,
    #[serde(default)]
    pub bindings: Vec<Binding>,
    /// Everything else in the document (`rabbit_version`, `policies`, ...).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    /// Base64 of a 4-byte salt followed by SHA-256(salt ++ password).
    pub password_hash: String,
    #[serde(default = "default_hashing")]
    pub hashing_algorithm: String,
    /// Written as a list; RabbitMQ before 3.10 wrote a comma-separated
    /// string, which is accepted too.
    #[serde(default, deserialize_with = "tags_list_or_string")]
    pub tags: Vec<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vhost {
    pub name: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Permission {
    pub user: String,
    pub vhost: String,
    pub configure: String,
    pub write: String,
    pub read: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    pub name: String,
    pub vhost: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default = "yes")]
    pub durable: bool,
    #[serde(default)]
    pub auto_delete: bool,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub arguments: Arguments,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    pub name: String,
    pub vhost: String,
    #[serde(default = "yes")]
    pub durable: bool,
    #[serde(default)]
    pub auto_delete: bool,
    #[serde(default)]
    pub arguments: Arguments,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    pub source: String,
    pub vhost: String,
    pub destination: String,
    /// `"queue"` or `"exchange"`.
    pub destination_type: String,
    pub routing_key: String,
    #[serde(default)]
    pub arguments: Arguments,
}

fn default_hashing() -> String {
    SHA256_HASHING.to_string()
}

fn yes() -> bool {
    true
}

fn tags_list_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Tags {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Tags::deserialize(d)? {
        Tags::List(tags) => tags,
        Tags::Text(text) => text.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect(),
    })
}

/// Reads the definitions of `data`; a missing file means none yet.
pub fn load(data: &DataDir) -> Result<Definitions, StoreError> {
    load_from(data.path())
}

/// Replaces the definitions of `data` atomically.
pub fn save(data: &DataDir, definitions: &Definitions) -> Result<(), StoreError> {
    save_to(data.path(), definitions)
}

fn load_from(dir: &Path) -> Result<Definitions, StoreError> {
    let path = dir.join(FILE_NAME);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Definitions::default()),
        Err(e) => return Err(StoreError::io(&path, "read", e)),
    };
    serde_json::from_slice(&text).map_err(|e| {
        let offset = byte_offset(&text, e.line(), e.column());
        StoreError::corrupt(&path, offset, format!("invalid definitions JSON (line {}, column {}): {e}", e.line(), e.column()))
    })
}

fn byte_offset(text: &[u8], line: usize, column: usize) -> u64 {
    let line_start: usize = text.split(|&b| b == b'\n').take(line.saturating_sub(1)).map(|l| l.len() + 1).sum();
    (line_start + column.saturating_sub(1)) as u64
}

fn save_to(dir: &Path, definitions: &Definitions) -> Result<(), StoreError> {
    let path = dir.join(FILE_NAME);
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let mut text = serde_json::to_vec_pretty(definitions).map_err(|e| StoreError::Invalid(format!("cannot encode definitions: {e}")))?;
    text.push(b'\n');
    let mut file = std::fs::File::create(&tmp).map_err(|e| StoreError::io(&tmp, "create", e))?;
    file.write_all(&text).map_err(|e| StoreError::io(&tmp, "write", e))?;
    file.sync_all().map_err(|e| StoreError::io(&tmp, "fsync", e))?;
    drop(file);
    std::fs::rename(&tmp, &path).map_err(|e| StoreError::io(&path, "replace", e))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from a RabbitMQ 3.13 `export_definitions`.
    const RABBIT_EXPORT: &str = r#"{
      "rabbit_version": "3.13.7",
      "users": [{"name": "guest", "password_hash": "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR",
                 "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["administrator"], "limits": {}},
                {"name": "old", "password_hash": "x", "tags": "management, monitoring"}],
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

    #[test]
    fn reads_a_rabbitmq_export_and_writes_it_back_atomically() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(FILE_NAME), RABBIT_EXPORT).unwrap();
        let defs = load_from(tmp.path()).unwrap();
        assert_eq!(defs.users[0].tags, vec!["administrator"]);
        assert_eq!(defs.users[1].tags, vec!["management", "monitoring"], "pre-3.10 tag string");
        assert_eq!(defs.users[1].hashing_algorithm, SHA256_HASHING);
        assert_eq!(defs.queues[0].arguments["x-message-ttl"], 60000);
        assert_eq!(defs.exchanges[0].kind, "topic");
        assert_eq!(defs.exchanges[0].arguments["x-nested"]["a"][1], "b");
        assert_eq!(defs.bindings[0].destination_type, "queue");
        assert_eq!(defs.permissions[0].configure, ".*");
        assert!(defs.other.contains_key("policies"), "unmodelled keys are kept");

        save_to(tmp.path(), &defs).unwrap();
        assert!(!tmp.path().join(format!("{FILE_NAME}.tmp")).exists());
        let again = load_from(tmp.path()).unwrap();
        assert_eq!(again, defs);
        let json: Value = serde_json::from_slice(&std::fs::read(tmp.path().join(FILE_NAME)).unwrap()).unwrap();
        assert_eq!(json["exchanges"][0]["type"], "topic");
        assert_eq!(json["users"][1]["tags"], serde_json::json!(["management", "monitoring"]));
        assert_eq!(json["vhosts"][0]["description"], "Default virtual host");
    }

    #[test]
    fn missing_file_is_empty_and_bad_json_names_file_and_position() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(load_from(tmp.path()).unwrap(), Definitions::default());
        std::fs::write(tmp.path().join(FILE_NAME), "{\n  \"queues\": [}\n").unwrap();
        let err = load_from(tmp.path()).unwrap_err().to_string();
        assert!(err.contains(FILE_NAME) && err.contains("line 2"), "{err}");
    }

    #[test]
    fn save_replaces_the_previous_document() {
        let tmp = tempfile::tempdir().unwrap();
        let mut defs = Definitions::default();
        defs.vhosts.push(Vhost { name: "/".into(), other: Map::new() });
        save_to(tmp.path(), &defs).unwrap();
        defs.queues.push(Queue {
            name: "q".into(),
            vhost: "/".into(),
            durable: true,
            auto_delete: false,
            arguments: Arguments::new(),
            other: Map::new(),
        });
        save_to(tmp.path(), &defs).unwrap();
        assert_eq!(load_from(tmp.path()).unwrap(), defs);
    }
}
