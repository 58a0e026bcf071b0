//! What `definitions` promises: RabbitMQ's documents read and written
//! back the same, exports that import into a fresh broker as the same
//! document, the durable-definitions rule, what warren 0.1.0 saved, and
//! an import's refusals and skips.

use super::*;
use crate::amqp::method::ExchangeDelete;
use crate::amqp::FieldValue;
use crate::Config;

/// Trimmed from a RabbitMQ 3.13 `export_definitions`.
const RABBIT_EXPORT: &str = r#"{
  "rabbit_version": "3.13.7",
  "users": [{"name": "guest", "password_hash": "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR",
             "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["administrator"], "limits": {}},
            {"name": "old", "password_hash": "eA==", "tags": "management, monitoring"}],
  "vhosts": [{"name": "/", "description": "Default virtual host", "tags": [], "metadata": {"description": "", "tags": []}}],
  "permissions": [{"user": "guest", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}],
  "topic_permissions": [],
  "parameters": [{"vhost": "/", "component": "vhost-limits", "name": "limits", "value": {"max-queues": 9}},
                 {"vhost": "/", "component": "federation-upstream", "name": "up", "value": {"uri": "amqp://"}}],
  "policies": [{"vhost": "/", "name": "ttl", "pattern": "^t", "definition": {"message-ttl": 1000}}],
  "queues": [{"name": "orders", "vhost": "/", "durable": true, "auto_delete": false,
              "arguments": {"x-queue-type": "classic", "x-message-ttl": 60000, "x-single-active-consumer": true}}],
  "exchanges": [{"name": "events", "vhost": "/", "type": "topic", "durable": true, "auto_delete": false,
                 "internal": false, "arguments": {"alternate-exchange": "unrouted", "x-nested": {"a": [1, "b"]}}}],
  "bindings": [{"source": "events", "vhost": "/", "destination": "orders", "destination_type": "queue",
                "routing_key": "order.*", "arguments": {}}]
}"#;

fn counter() -> impl FnMut() -> u64 {
    let mut n = 0u64;
    move || {
        n += 1;
        n.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

fn parse(doc: &Value, vhost: Option<&str>) -> Result<Definitions, Value> {
    Definitions::parse(doc.as_object().unwrap(), vhost, &mut counter())
}

#[test]
fn reads_a_rabbitmq_export_and_writes_it_back() {
    let doc: Value = serde_json::from_str(RABBIT_EXPORT).unwrap();
    let defs = parse(&doc, None).unwrap();
    assert_eq!(defs.users[0].user.tags, vec!["administrator"]);
    assert_eq!(defs.users[0].limits, Some(Limits::default()));
    assert_eq!(defs.users[1].user.tags, vec!["management", "monitoring"], "pre-3.10 tag string");
    assert_eq!(defs.users[1].limits, None);
    assert_eq!(defs.queues[0].arguments.get("x-message-ttl"), Some(&FieldValue::I64(60000)));
    assert_eq!(defs.exchanges[0].kind, "topic");
    assert_eq!(defs.bindings[0].destination_type, DestinationType::Queue);
    assert_eq!(defs.permissions[0].configure, ".*");
    assert_eq!((defs.policies[0].name.as_str(), defs.policies[0].priority), ("ttl", 0));
    assert_eq!(
        defs.vhost_limits,
        vec![("/".to_string(), Limits { max_queues: Some(9), ..Default::default() })],
        "other components skipped"
    );

    let json = defs.to_json();
    assert_eq!(json["exchanges"][0]["type"], "topic");
    assert_eq!(json["exchanges"][0]["arguments"]["x-nested"]["a"][1], "b");
    assert_eq!(json["users"][1]["tags"], json!(["management", "monitoring"]));
    assert_eq!(json["users"][1]["hashing_algorithm"], HASHING_ALGORITHM);
    assert_eq!(json["vhosts"][0]["description"], "Default virtual host");
    assert_eq!(
        json["policies"][0],
        json!({"vhost": "/", "name": "ttl", "pattern": "^t", "apply-to": "all", "definition": {"message-ttl": 1000}, "priority": 0})
    );
    assert_eq!(parse(&json, None).unwrap(), defs, "what it writes, it reads back the same");
}

#[test]
fn refusals_are_rabbitmqs_reasons() {
    let e = |doc: Value| parse(&doc, None).unwrap_err();
    assert_eq!(e(json!({"queues": [{"vhost": "/"}]})), json!(["key_missing", "name"]));
    assert_eq!(e(json!({"queues": {}})), json!("queues must be an array"));
    assert_eq!(e(json!({"queues": [1]})), json!("queues: every entry must be an object"));
    assert_eq!(e(json!({"queues": [{"vhost": "/", "name": "q", "durable": "yes"}]})), json!(["not_bool", "durable"]));
    assert_eq!(e(json!({"queues": [{"vhost": "/", "name": "q", "arguments": {"x": null}}]})), json!("null_not_allowed"));
    let b = json!({"source": "x", "vhost": "/", "destination": "q", "destination_type": "stream", "routing_key": ""});
    assert_eq!(e(json!({"bindings": [b]})), json!(["bad_destination_type", "stream"]));
    // A per-vhost document's entries need no vhost; its users are not read.
    let part = parse(&json!({"users": [{"bad": 1}], "queues": [{"name": "q", "durable": true}]}), Some("v")).unwrap();
    assert_eq!((part.users.len(), part.queues[0].vhost.as_str()), (0, "v"));
}

fn declare(b: &mut Broker, vhost: &str, m: impl Into<Method>) {
    b.execute("guest", vhost, m.into()).unwrap();
}

fn queue(name: &str, durable: bool) -> QueueDeclare {
    QueueDeclare { queue: name.into(), durable, ..Default::default() }
}

fn exchange(name: &str, kind: &str, durable: bool) -> ExchangeDeclare {
    ExchangeDeclare { exchange: name.into(), kind: kind.into(), durable, ..Default::default() }
}

fn bind(queue: &str, exchange: &str, key: &str) -> QueueBind {
    QueueBind { queue: queue.into(), exchange: exchange.into(), routing_key: key.into(), ..Default::default() }
}

/// A broker with one of each thing definitions carry.
fn populated() -> Broker {
    let mut b = Broker::new(Config::default(), 0).unwrap();
    b.add_vhost("prod");
    b.set_permission(Permission::all("guest", "prod")).unwrap();
    b.put_user(User::new("ops", "pw", [1, 2, 3, 4]));
    b.set_permission(Permission {
        user: "ops".into(),
        vhost: "prod".into(),
        configure: "^ops".into(),
        write: ".*".into(),
        read: "".into(),
    })
    .unwrap();
    b.set_user_limits("ops", Limits { max_channels: Some(7), ..Default::default() });
    b.set_vhost_limits("prod", Limits { max_queues: Some(50), ..Default::default() });
    let p = json!({"pattern": "^q", "definition": {"max-length": 100}, "apply-to": "queues", "priority": 1});
    b.set_policy(policy_from_json("prod", "limit", p.as_object().unwrap()).unwrap()).unwrap();
    let args = FieldTable::from([("x-message-ttl", FieldValue::I64(60000))]);
    declare(&mut b, "prod", QueueDeclare { arguments: args, ..queue("q1", true) });
    declare(&mut b, "prod", queue("transient", false));
    declare(&mut b, "prod", exchange("events", "topic", true));
    declare(&mut b, "prod", ExchangeDeclare { internal: true, ..exchange("hdrs", "headers", true) });
    declare(&mut b, "prod", exchange("gone", "fanout", false));
    declare(&mut b, "prod", QueueBind { arguments: FieldTable::from([("x-n", FieldValue::I64(1))]), ..bind("q1", "events", "a.*") });
    let any = FieldTable::from([("x-match", FieldValue::str("any"))]);
    declare(&mut b, "prod", ExchangeBind { destination: "hdrs".into(), source: "events".into(), arguments: any, ..Default::default() });
    declare(&mut b, "prod", bind("q1", "amq.direct", "k"));
    declare(&mut b, "prod", bind("transient", "events", "t"));
    declare(&mut b, "prod", bind("q1", "gone", ""));
    b
}

#[test]
fn exports_import_into_a_fresh_broker_as_the_same_document() {
    let b = populated();
    let doc = b.definitions(None).to_json();
    assert_eq!(doc["vhosts"], json!([{"name": "/"}, {"name": "prod"}]));
    assert_eq!(doc["parameters"], json!([{"component": "vhost-limits", "name": "limits", "value": {"max-queues": 50}, "vhost": "prod"}]));
    let ops = doc["users"].as_array().unwrap().iter().find(|u| u["name"] == "ops").unwrap();
    assert_eq!(ops["limits"], json!({"max-channels": 7}));
    assert_eq!(doc["queues"].as_array().unwrap().len(), 2);
    let names: Vec<&str> = doc["exchanges"].as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["events", "gone", "hdrs"], "no amq.* or default exchange");
    assert_eq!(doc["bindings"].as_array().unwrap().len(), 5, "no default-exchange bindings");
    assert_eq!((doc["topic_permissions"].clone(), doc["global_parameters"].clone()), (json!([]), json!([])));

    let mut fresh = Broker::new(Config::default(), 0).unwrap();
    let imported = fresh.import_definitions(parse(&doc, None).unwrap());
    assert_eq!(imported, Imported { skipped: vec![], result: Ok(()) });
    assert_eq!(fresh.definitions(None).to_json(), doc);
    assert!(fresh.authenticate("ops", "pw").is_some(), "the hash came across");
    assert!(fresh.user("guest").unwrap().loopback_only && !fresh.user("ops").unwrap().loopback_only);
    assert!(fresh.user(IMPORTER).is_none(), "the importer is gone");

    let part = b.definitions(Some("prod")).to_vhost_json();
    let keys: Vec<&str> = part.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 6, "{keys:?}");
    assert!(part["queues"][0].get("vhost").is_none() && part["policies"][0].get("vhost").is_none());
    assert_eq!(part["parameters"], json!([{"component": "vhost-limits", "name": "limits", "value": {"max-queues": 50}}]));
    fresh.add_vhost("copy");
    let copy = Definitions::parse(part.as_object().unwrap(), Some("copy"), &mut counter()).unwrap();
    assert_eq!(fresh.import_definitions(copy).result, Ok(()));
    assert_eq!(fresh.definitions(Some("copy")).to_vhost_json(), part);
}

#[test]
fn only_durable_things_and_bindings_between_durable_ends_survive() {
    let mut b = populated();
    let durable = b.durable_definitions();
    let queues: Vec<&str> = durable.queues.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(queues, ["q1"]);
    let exchanges: Vec<&str> = durable.exchanges.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(exchanges, ["events", "hdrs"]);
    let bindings: Vec<(&str, &str)> = durable.bindings.iter().map(|b| (b.source.as_str(), b.destination.as_str())).collect();
    assert_eq!(bindings, [("amq.direct", "q1"), ("events", "hdrs"), ("events", "q1")], "amq.* ends are durable");
    assert_eq!((durable.users.len(), durable.policies.len(), durable.vhost_limits.len()), (2, 1, 1));
    // A durable end deleted takes its bindings out of the saved ones.
    declare(&mut b, "prod", ExchangeDelete { exchange: "hdrs".into(), ..Default::default() });
    assert_eq!(b.durable_definitions().bindings.len(), 2);
}

#[test]
fn an_import_skips_a_binding_its_exchange_refuses_and_stops_at_an_unknown_vhost() {
    let mut b = Broker::new(Config::default(), 0).unwrap();
    let binding = |key: &str, mode: &str| {
        json!({"source": "h", "vhost": "/", "destination": "q", "destination_type": "queue", "routing_key": key,
               "arguments": {"x-match": mode}})
    };
    let doc = json!({
        "queues": [{"name": "q", "vhost": "/", "durable": true}],
        "exchanges": [{"name": "h", "vhost": "/", "type": "headers", "durable": true}],
        "bindings": [binding("bad", "foo"), binding("good", "any")],
    });
    let imported = b.import_definitions(parse(&doc, None).unwrap());
    assert_eq!(imported.result, Ok(()));
    assert_eq!(imported.skipped.len(), 1);
    assert!(imported.skipped[0].contains("Invalid x-match field value <<\"foo\">>"), "{:?}", imported.skipped);
    let keys: Vec<String> = b.bindings(Some("/")).into_iter().filter(|b| b.source == "h").map(|b| b.routing_key).collect();
    assert_eq!(keys, ["good"]);
    let nowhere = json!({"queues": [{"name": "q", "vhost": "nowhere", "durable": true}]});
    assert_eq!(b.import_definitions(parse(&nowhere, None).unwrap()).result, Err(json!(["no_such_vhost", "nowhere"])));
    let limits = json!({"parameters": [{"component": "vhost-limits", "name": "limits", "vhost": "nope", "value": {"max-queues": 1}}]});
    assert_eq!(b.import_definitions(parse(&limits, None).unwrap()).result, Err(json!(["no_such_vhost", "nope"])));
}

#[test]
fn parse_then_to_json_then_parse_gives_the_same_definitions() {
    let b = populated();
    for defs in [b.definitions(None), b.durable_definitions()] {
        let doc = defs.to_json();
        let read = parse(&doc, None).unwrap();
        assert_eq!(read, defs);
        assert_eq!(read.to_json(), doc);
    }
    let part = b.definitions(Some("prod"));
    assert_eq!(parse(&part.to_vhost_json(), Some("prod")).unwrap(), part, "per-vhost documents too");
}

#[test]
fn a_binding_from_a_durable_exchange_to_a_transient_or_exclusive_queue_is_not_saved() {
    let mut b = Broker::new(Config::default(), 0).unwrap();
    declare(&mut b, "/", exchange("events", "topic", true));
    declare(&mut b, "/", queue("kept", true));
    declare(&mut b, "/", queue("transient", false));
    declare(&mut b, "/", QueueDeclare { exclusive: true, ..queue("mine", true) });
    assert!(b.queues(None).iter().any(|q| q.name == "mine" && q.exclusive && q.durable));
    for q in ["kept", "transient", "mine"] {
        declare(&mut b, "/", bind(q, "events", "k"));
    }
    let durable = b.durable_definitions();
    let queues: Vec<&str> = durable.queues.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(queues, ["kept"]);
    let bindings: Vec<(&str, &str)> = durable.bindings.iter().map(|b| (b.source.as_str(), b.destination.as_str())).collect();
    assert_eq!(bindings, [("events", "kept")]);
    // An export (what is there now) has the transient queue and its binding.
    let all = b.definitions(None);
    assert!(all.queues.iter().any(|q| q.name == "transient") && all.bindings.iter().any(|b| b.destination == "transient"));
}

/// What warren 0.1.0 saved in its data directory, before definitions had a
/// module of their own: the same document, its keys in serde's order.
const SAVED_BY_0_1_0: &str = include_str!("../../../../gateway/tests/fixtures/definitions-0.1.0.json");

#[test]
fn a_file_saved_by_warren_0_1_0_loads_and_is_saved_again_the_same() {
    let doc: Value = serde_json::from_str(SAVED_BY_0_1_0).unwrap();
    let defs = parse(&doc, None).unwrap();
    let mut b = Broker::new(Config::default(), 0).unwrap();
    assert_eq!(b.import_definitions(defs), Imported::default());
    assert!(b.queues(Some("prod")).iter().any(|q| q.name == "q1" && q.durable));
    assert!(b.bindings(Some("prod")).iter().any(|x| x.source == "events" && x.destination == "hdrs"));
    assert_eq!(b.user_limits(), [("ops".to_string(), Limits { max_channels: Some(7), ..Default::default() })]);
    let mut again = b.durable_definitions().to_json();
    again["product_version"] = doc["product_version"].clone();
    assert_eq!(again, doc);
}
