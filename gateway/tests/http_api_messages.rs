//! The management API's message and connection endpoints, permission
//! refusals, the request body cap and the definitions round trip between
//! two warrens, checked against RabbitMQ 3.10's answers (see `http_api.rs`).

#[path = "api_support/mod.rs"]
mod api_support;
mod common;

use api_support::{connect, creds, Api, GUEST};
use common::{unique, within, Broker};
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable as LapinTable;
use lapin::BasicProperties;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn publish_get_purge_and_browse() {
    let broker = Broker::start();
    let Some(api) = Api::new(&broker) else { return };
    let q = unique("msgs");
    let qp = format!("/queues/%2F/{q}");
    api.put(&qp, json!({})).await;
    let publish = |payload: Value, enc: &str, props: Value| json!({"properties": props, "routing_key": q, "payload": payload, "payload_encoding": enc});

    let props = json!({"delivery_mode": 2, "priority": 3, "content_type": "text/plain", "headers": {"i": 1, "s": "x", "b": true,
                        "n": {"a": 1}, "arr": [1, "two"]}, "correlation_id": "c", "message_id": "m", "timestamp": 1700000000,
                        "type": "t", "app_id": "a", "user_id": "guest"});
    let r = api.post("/exchanges/%2F/amq.default/publish", publish(json!("hello"), "string", props.clone())).await;
    assert_eq!((r.status, r.body), (200, json!({"routed": true})));
    let r = api.post("/exchanges/%2F/amq.default/publish", publish(json!("////"), "base64", json!({}))).await;
    assert_eq!(r.body, json!({"routed": true}));
    let r = api.post("/exchanges/%2F/amq.direct/publish", publish(json!("x"), "string", json!({}))).await;
    assert_eq!(r.body, json!({"routed": false}));

    // Publish errors, in RabbitMQ's words.
    api.post("/exchanges/%2F/nope/publish", publish(json!("x"), "string", json!({}))).await.assert_error(
        400,
        "bad_request",
        "404 NOT_FOUND - no exchange 'nope' in vhost '/'",
    );
    api.post("/exchanges/%2F/amq.default/publish", json!({"properties": {}, "routing_key": "k"})).await.assert_error(
        400,
        "bad_request",
        "[{key_missing,payload},{key_missing,payload_encoding}]",
    );
    let r = api.post("/exchanges/%2F/amq.default/publish", publish(json!("x"), "string", json!({"delivery_mode": "x"}))).await;
    assert_eq!(r.body, json!({"error": "bad_request", "reason": ["not_int", "delivery_mode"]}));
    let r = api.post("/exchanges/%2F/amq.default/publish", publish(json!("!!"), "base64", json!({}))).await;
    assert_eq!(r.body, json!({"error": "bad_request", "reason": ["not_base64", "!!"]}));
    let r = api.post("/exchanges/%2F/amq.default/publish", publish(json!("x"), "rot13", json!({}))).await;
    assert_eq!(r.body, json!({"error": "bad_request", "reason": ["unsupported_encoding", "rot13"]}));
    api.post("/exchanges/%2F/amq.default/publish", publish(json!("x"), "string", json!({"headers": {"h": null}}))).await.assert_error(
        400,
        "bad_request",
        "null_not_allowed",
    );
    api.post("/exchanges/%2F/amq.default/publish", publish(json!("x"), "string", json!({"user_id": "mallory"}))).await.assert_error(
        400,
        "bad_request",
        "406 PRECONDITION_FAILED - user_id property set to 'mallory' but authenticated user was 'guest'",
    );

    if api.warren {
        // Browse shows both messages and takes none.
        let b = api.get(&format!("{qp}/browse?count=5")).await;
        assert_eq!(b.status, 200, "{}", b.text);
        assert_eq!(b.body.as_array().map(Vec::len), Some(2));
        assert_eq!(b.body[0]["payload"], "hello");
        assert_eq!(b.body[0]["message_count"], 1);
        assert_eq!(b.body[1]["payload_encoding"], "base64");
        let b = api.get(&format!("{qp}/browse?count=1&encoding=base64")).await;
        assert_eq!(b.body[0]["payload"], "aGVsbG8=");
        api.get("/queues/%2F/nope/browse").await.assert_error(404, "Object Not Found", "Not Found");
    }

    // Get with requeue: the messages stay, now redelivered.
    let get = |count: Value, ackmode: &str, encoding: &str| json!({"count": count, "ackmode": ackmode, "encoding": encoding});
    let r = api.post(&format!("{qp}/get"), get(json!(5), "ack_requeue_true", "auto")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body[0],
        json!({"payload_bytes": 5, "redelivered": false, "exchange": "", "routing_key": q, "message_count": 1,
               "properties": props, "payload": "hello", "payload_encoding": "string"})
    );
    // No properties at all: RabbitMQ shows an empty list, not an object.
    assert_eq!(
        r.body[1],
        json!({"payload_bytes": 3, "redelivered": false, "exchange": "", "routing_key": q, "message_count": 0,
               "properties": [], "payload": "////", "payload_encoding": "base64"})
    );
    let r =
        api.post(&format!("{qp}/get"), json!({"count": "1", "ackmode": "ack_requeue_false", "encoding": "base64", "truncate": 2})).await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(1));
    assert_eq!((r.body[0]["redelivered"].clone(), r.body[0]["payload"].clone()), (json!(true), json!("aGU=")));
    assert_eq!(r.body[0]["payload_bytes"], 5);
    api.post(&format!("{qp}/get"), json!({"count": 1})).await.assert_error(
        400,
        "bad_request",
        "[{key_missing,ackmode},{key_missing,encoding}]",
    );
    api.post(&format!("{qp}/get"), get(json!(1), "ack_requeue_true", "x")).await.assert_error(
        400,
        "bad_request",
        "Unsupported encoding. Please use auto or base64.",
    );
    api.post("/queues/%2F/nope/get", get(json!(1), "ack_requeue_true", "auto")).await.assert_error(
        404,
        "not_found",
        "NOT_FOUND - no queue 'nope' in vhost '/'",
    );
    // reject_requeue_false drops the last one; then the queue is empty.
    assert_eq!(api.post(&format!("{qp}/get"), get(json!(5), "reject_requeue_false", "auto")).await.body.as_array().map(Vec::len), Some(1));
    assert_eq!(api.post(&format!("{qp}/get"), get(json!(5), "ack_requeue_true", "auto")).await.body, json!([]));

    // Purge.
    for _ in 0..3 {
        api.post("/exchanges/%2F/amq.default/publish", publish(json!("p"), "string", json!({}))).await;
    }
    assert_eq!(api.get(&qp).await.body["messages_ready"], 3);
    assert_eq!(api.delete(&format!("{qp}/contents")).await.status, 204);
    assert_eq!(api.get(&qp).await.body["messages_ready"], 0);
}

#[tokio::test]
async fn permissions_refuse_operations_as_amqp_would() {
    let broker = Broker::start();
    let Some(api) = Api::new(&broker) else { return };
    let prefix = unique("own");
    let user = api.user(&unique("limited"), "management").await;
    let who = creds(&user);
    let allowed = format!("^{prefix}");
    assert_eq!(
        api.put(&format!("/permissions/%2F/{}", user.0), json!({"configure": allowed, "write": allowed, "read": allowed})).await.status,
        201
    );
    let other = unique("other");
    api.put(&format!("/queues/%2F/{other}"), json!({})).await;

    // Declare and delete: the bare "Access refused.".
    let mine = format!("{prefix}-q");
    assert_eq!(api.as_user(who, Method::PUT, &format!("/queues/%2F/{mine}"), Some(json!({}))).await.status, 201);
    api.as_user(who, Method::PUT, &format!("/queues/%2F/{}", unique("theirs")), Some(json!({}))).await.assert_error(
        401,
        "not_authorised",
        "Access refused.",
    );
    api.as_user(who, Method::DELETE, &format!("/queues/%2F/{other}"), None).await.assert_error(401, "not_authorised", "Access refused.");
    // Get: the AMQP reply text.
    api.as_user(
        who,
        Method::POST,
        &format!("/queues/%2F/{other}/get"),
        Some(json!({"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"})),
    )
    .await
    .assert_error(
        401,
        "not_authorised",
        &format!("ACCESS_REFUSED - access to queue '{other}' in vhost '/' refused for user '{}'", user.0),
    );
    // Publish: 400 with the reply code in front.
    api.as_user(
        who,
        Method::POST,
        "/exchanges/%2F/amq.direct/publish",
        Some(json!({"properties": {}, "routing_key": "k", "payload": "x", "payload_encoding": "string"})),
    )
    .await
    .assert_error(
        400,
        "bad_request",
        &format!("403 ACCESS_REFUSED - access to exchange 'amq.direct' in vhost '/' refused for user '{}'", user.0),
    );
    // Bind from an exchange it may not read.
    api.as_user(who, Method::POST, &format!("/bindings/%2F/e/amq.direct/q/{mine}"), Some(json!({"routing_key": "k"}))).await.assert_error(
        401,
        "not_authorised",
        "Access refused.",
    );
    // Its own queue is fine, and it sees only vhosts it has permissions on.
    let r = api
        .as_user(
            who,
            Method::POST,
            &format!("/queues/%2F/{mine}/get"),
            Some(json!({"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"})),
        )
        .await;
    assert_eq!((r.status, r.body), (200, json!([])));
    if api.warren {
        api.as_user(who, Method::GET, &format!("/queues/%2F/{other}/browse"), None).await.assert_error(
            401,
            "not_authorised",
            &format!("ACCESS_REFUSED - access to queue '{other}' in vhost '/' refused for user '{}'", user.0),
        );
    }
    let vhost = unique("private");
    api.put(&format!("/vhosts/{vhost}"), json!({})).await;
    api.as_user(who, Method::PUT, &format!("/queues/{vhost}/{prefix}"), Some(json!({}))).await.assert_error(
        401,
        "not_authorised",
        "User not authorised to access virtual host",
    );
    let vhosts = api.as_user(who, Method::GET, "/vhosts", None).await.body;
    assert_eq!(vhosts.as_array().unwrap().iter().map(|v| v["name"].clone()).collect::<Vec<_>>(), [json!("/")]);
    // An administrator without permissions on a vhost may look but not act.
    api.delete(&format!("/permissions/{vhost}/guest")).await;
    assert_eq!(api.get(&format!("/queues/{vhost}")).await.status, 200);
    api.put(&format!("/queues/{vhost}/q"), json!({})).await.assert_error(401, "not_authorised", "Access refused.");
}

#[tokio::test]
async fn connections_channels_and_consumers() {
    let broker = Broker::start();
    let Some(api) = Api::new(&broker) else { return };
    let q = unique("cq");
    let conn = connect(&broker).await;
    let ch = within("channel", conn.create_channel()).await.unwrap();
    within("qos", ch.basic_qos(7, BasicQosOptions::default())).await.unwrap();
    within("declare", ch.queue_declare(q.as_str().into(), QueueDeclareOptions::default(), LapinTable::default())).await.unwrap();
    let mut consumer =
        within("consume", ch.basic_consume(q.as_str().into(), "ctag-1".into(), BasicConsumeOptions::default(), LapinTable::default()))
            .await
            .unwrap();

    let conns = api.get("/connections").await.body;
    assert_eq!(conns.as_array().map(Vec::len), Some(1), "{conns}");
    let c = &conns[0];
    assert_eq!((c["user"].clone(), c["vhost"].clone(), c["state"].clone()), (json!("guest"), json!("/"), json!("running")));
    assert_eq!(c["channels"], 1);
    assert_eq!(c["peer_host"], "127.0.0.1");
    assert_eq!(c["protocol"], "AMQP 0-9-1");
    assert!(c["client_properties"]["product"].is_string(), "{c}");
    let name = c["name"].as_str().unwrap().to_string();
    // RabbitMQ's naming: "peer -> local".
    assert_eq!(name, format!("127.0.0.1:{} -> 127.0.0.1:{}", c["peer_port"], broker.port));
    assert_eq!((c["host"].clone(), c["port"].clone()), (json!("127.0.0.1"), json!(broker.port)));
    let encoded: String =
        name.bytes().map(|b| if b.is_ascii_alphanumeric() || b == b'.' { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
    assert_eq!(api.get(&format!("/connections/{encoded}")).await.body["name"], name.as_str());

    let chans = api.get("/channels").await.body;
    assert_eq!(chans[0]["prefetch_count"], 7);
    assert_eq!(chans[0]["consumer_count"], 1);
    assert_eq!(chans[0]["number"], 1);
    assert_eq!(chans[0]["connection_details"]["name"], name.as_str());
    assert_eq!(chans[0]["name"], format!("{name} (1)"));

    let consumers = api.get("/consumers/%2F").await.body;
    assert_eq!(consumers.as_array().map(Vec::len), Some(1));
    let k = &consumers[0];
    assert_eq!(k["consumer_tag"], "ctag-1");
    assert_eq!(k["queue"], json!({"name": q, "vhost": "/"}));
    assert_eq!(k["ack_required"], true);
    assert_eq!(k["channel_details"]["number"], 1);
    assert_eq!(k["channel_details"]["user"], "guest");
    assert_eq!(api.get(&format!("/queues/%2F/{q}")).await.body["consumer_details"][0]["consumer_tag"], "ctag-1");

    // Another user sees none of it; a monitor sees all.
    let plain = api.user(&unique("plainmgmt"), "management").await;
    assert_eq!(api.as_user(creds(&plain), Method::GET, "/connections", None).await.body, json!([]));
    assert_eq!(api.as_user(creds(&plain), Method::GET, "/channels", None).await.body, json!([]));
    api.as_user(creds(&plain), Method::DELETE, &format!("/connections/{encoded}"), None).await.assert_error(
        401,
        "not_authorised",
        "User not authorised to access object",
    );
    let monitor = api.user(&unique("mon"), "monitoring").await;
    assert_eq!(api.as_user(creds(&monitor), Method::GET, "/connections", None).await.body.as_array().map(Vec::len), Some(1));

    // DELETE closes it with 320 and the X-Reason text.
    let r = api
        .client
        .delete(format!("{}/connections/{encoded}", api.base))
        .basic_auth("guest", Some("guest"))
        .header("X-Reason", "go away")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let ended = within("consumer stream ends", consumer.next()).await;
    assert!(!matches!(ended, Some(Ok(_))), "no more deliveries: {ended:?}");
    for _ in 0..50 {
        if !conn.status().connected() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!conn.status().connected());
    for _ in 0..50 {
        if api.get("/connections").await.body == json!([]) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(api.get("/connections").await.body, json!([]));
    api.delete(&format!("/connections/{encoded}")).await.assert_error(404, "Object Not Found", "Not Found");
}

#[tokio::test]
async fn definitions_round_trip_between_two_brokers() {
    let source = Broker::start();
    let Some(api) = Api::new(&source) else { return };
    if !api.warren {
        eprintln!("skipped: needs two fresh brokers");
        return;
    }
    let vhost = "defs";
    api.put(&format!("/vhosts/{vhost}"), json!({})).await;
    api.put("/users/ops", json!({"password": "pw", "tags": "monitoring,policymaker"})).await;
    api.put(&format!("/permissions/{vhost}/ops"), json!({"configure": "^ops", "write": ".*", "read": ""})).await;
    api.put(
        "/policies/defs/limit",
        json!({"pattern": "^q", "definition": {"max-length": 100, "overflow": "reject-publish"}, "apply-to": "queues", "priority": 1}),
    )
    .await;
    api.put("/queues/defs/q1", json!({"durable": true, "arguments": {"x-message-ttl": 60000, "x-queue-type": "classic"}})).await;
    api.put("/queues/defs/q2", json!({"durable": false, "auto_delete": true})).await;
    api.put("/queues/%2F/plain", json!({"durable": true})).await;
    api.put("/exchanges/defs/events", json!({"type": "topic", "durable": true, "arguments": {"alternate-exchange": "amq.fanout"}})).await;
    api.put("/exchanges/defs/hdrs", json!({"type": "headers", "durable": true, "internal": true})).await;
    api.post("/bindings/defs/e/events/q/q1", json!({"routing_key": "a.*", "arguments": {"x-n": 1}})).await;
    api.post("/bindings/defs/e/events/e/hdrs", json!({"routing_key": "", "arguments": {"x-match": "any"}})).await;
    api.post("/bindings/defs/e/amq.direct/q/q2", json!({"routing_key": "k"})).await;
    // An exclusive queue is not exported.
    let conn = connect(&source).await;
    let ch = within("channel", conn.create_channel()).await.unwrap();
    within(
        "declare",
        ch.queue_declare("mine".into(), QueueDeclareOptions { exclusive: true, ..Default::default() }, LapinTable::default()),
    )
    .await
    .unwrap();

    let exported = api.get("/definitions").await;
    assert_eq!(exported.status, 200);
    let doc = exported.body;
    assert_eq!(doc["rabbit_version"], "3.10.8");
    assert!(doc["users"].as_array().unwrap().iter().any(|u| u["name"] == "ops"
        && u["tags"] == json!(["monitoring", "policymaker"])
        && u["hashing_algorithm"] == "rabbit_password_hashing_sha256"));
    assert_eq!(doc["vhosts"], json!([{"name": "/"}, {"name": "defs"}]));
    let queues: Vec<&Value> = doc["queues"].as_array().unwrap().iter().collect();
    assert_eq!(queues.len(), 3, "no exclusive queue: {queues:?}");
    assert!(queues.contains(&&json!({"name": "q1", "vhost": "defs", "durable": true, "auto_delete": false,
                                     "arguments": {"x-message-ttl": 60000, "x-queue-type": "classic"}})));
    let exchanges = doc["exchanges"].as_array().unwrap();
    assert_eq!(exchanges.len(), 2, "no amq.* or default exchanges: {exchanges:?}");
    assert!(exchanges.contains(&json!({"name": "hdrs", "vhost": "defs", "type": "headers", "durable": true, "auto_delete": false,
                                        "internal": true, "arguments": {}})));
    let bindings = doc["bindings"].as_array().unwrap();
    assert_eq!(bindings.len(), 3, "no default-exchange bindings: {bindings:?}");
    assert!(bindings.contains(&json!({"source": "events", "vhost": "defs", "destination": "hdrs", "destination_type": "exchange",
                                       "routing_key": "", "arguments": {"x-match": "any"}})));
    assert_eq!(doc["policies"][0]["definition"], json!({"max-length": 100, "overflow": "reject-publish"}));

    // Into a fresh broker, and out again: the same document.
    let target = Broker::start();
    let api2 = Api::new(&target).unwrap();
    let r = api2.post("/definitions", doc.clone()).await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    let again = api2.get("/definitions").await.body;
    assert_eq!(again, doc);
    // The imported user logs in with its old password; the objects work.
    assert_eq!(api2.as_user(("ops", "pw"), Method::GET, "/whoami", None).await.status, 200);
    let r = api2
        .post(
            "/exchanges/defs/events/publish",
            json!({"properties": {}, "routing_key": "a.b", "payload": "x", "payload_encoding": "string"}),
        )
        .await;
    assert_eq!(r.body, json!({"routed": true}));
    assert_eq!(api2.get("/queues/defs/q1").await.body["policy"], "limit");

    // Per-vhost export and import.
    let part = api.get("/definitions/defs").await.body;
    assert_eq!(part["queues"].as_array().map(Vec::len), Some(2));
    assert!(part["queues"][0].get("vhost").is_none());
    api2.put("/vhosts/copy", json!({})).await;
    assert_eq!(api2.post("/definitions/copy", part.clone()).await.status, 204);
    assert_eq!(api2.get("/definitions/copy").await.body, part);

    // Errors.
    api2.call(Method::POST, "/definitions", Some(GUEST), Some(b"garbage".to_vec())).await.assert_error(
        400,
        "bad_request",
        "failed_to_parse_json",
    );
    let r = api2
        .post(
            "/definitions",
            json!({"queues": [{"name": "q", "vhost": "nowhere", "durable": true, "auto_delete": false, "arguments": {}}]}),
        )
        .await;
    assert_eq!((r.status, r.body), (400, json!({"error": "bad_request", "reason": ["no_such_vhost", "nowhere"]})));
    drop(conn);
}

#[tokio::test]
async fn request_bodies_are_capped() {
    let broker = Broker::start();
    let Some(api) = Api::new(&broker) else { return };
    if !api.warren {
        return;
    }
    // A declared length over 16 MiB is refused at once, before the body is read.
    let addr = broker.http_url.as_ref().unwrap().trim_start_matches("http://").to_string();
    let mut tcp = within("connect", tokio::net::TcpStream::connect(&addr)).await.unwrap();
    let head = format!(
        "PUT /api/queues/%2F/big HTTP/1.1\r\nHost: warren\r\nAuthorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{{",
        17 * 1024 * 1024
    );
    tokio::io::AsyncWriteExt::write_all(&mut tcp, head.as_bytes()).await.unwrap();
    let mut got = vec![0u8; 4096];
    let n = within("413 response", tokio::io::AsyncReadExt::read(&mut tcp, &mut got)).await.unwrap();
    let text = String::from_utf8_lossy(&got[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains(r#""error":"payload_too_large""#), "{text}");
    // A body that grows past the cap without a declared length is cut off too.
    let big = vec![b' '; 17 * 1024 * 1024];
    let stream = futures_lite::stream::iter(big.chunks(1 << 20).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>());
    // A client of its own: the server closes this connection.
    let sent = reqwest::Client::new()
        .put(format!("{}/queues/%2F/big", api.base))
        .basic_auth("guest", Some("guest"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    if let Ok(resp) = sent {
        assert_eq!(resp.status().as_u16(), 413);
    }
    assert_eq!(api.get("/queues/%2F/big").await.status, 404);
    api.call(Method::PUT, "/queues/%2F/big", Some(GUEST), Some(b"not json".to_vec())).await.assert_error(400, "bad_request", "not_json");
}

#[tokio::test]
async fn vhost_paths_decode_percent_2f() {
    let broker = Broker::start();
    let Some(api) = Api::new(&broker) else { return };
    let conn = connect(&broker).await;
    let ch = within("channel", conn.create_channel()).await.unwrap();
    let q = unique("slash");
    within("declare", ch.queue_declare(q.as_str().into(), QueueDeclareOptions::default(), LapinTable::default())).await.unwrap();
    within(
        "publish",
        ch.basic_publish("".into(), q.as_str().into(), BasicPublishOptions::default(), b"over amqp", BasicProperties::default()),
    )
    .await
    .unwrap();
    for path in [format!("/queues/%2F/{q}"), format!("/queues/%2f/{q}")] {
        let r = api.get(&path).await;
        assert_eq!((r.status, r.body["vhost"].clone()), (200, json!("/")), "{path}");
    }
    let r = api.post(&format!("/queues/%2F/{q}/get"), json!({"count": 1, "ackmode": "ack_requeue_false", "encoding": "auto"})).await;
    assert_eq!(r.body[0]["payload"], "over amqp");
}
