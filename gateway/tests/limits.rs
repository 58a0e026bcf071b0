//! Per-vhost and per-user limits from the outside: `--vhost-limit` and
//! `--user-limit` flags, `/api/vhost-limits` and `/api/user-limits` (paths,
//! bodies, status codes and error texts as RabbitMQ 3.10's management
//! plugin answers them, taken from a real node), definitions export/import
//! (RabbitMQ's shape: a `parameters` entry of component `vhost-limits`,
//! each user's `limits`), and limits surviving a restart.
//!
//! The HTTP checks also run against RabbitMQ (`WARREN_TEST_AMQP_URL` and
//! `WARREN_TEST_HTTP_URL`); the flag and restart checks are Warren's.

#[path = "api_support/mod.rs"]
mod api_support;
mod common;

use api_support::Api;
use common::{unique, within, Broker};
use serde_json::json;

async fn connect_as(broker: &Broker, user: &str, vhost: &str) -> Result<lapin::Connection, lapin::Error> {
    let url = broker.url_for(user, "pw", vhost);
    within("connect", lapin::Connection::connect(&url, lapin::ConnectionProperties::default())).await
}

#[tokio::test]
async fn flags_set_limits_that_refuse_connections_queues_and_channels() {
    let broker = Broker::start_with_args(&[
        "--vhost",
        "dev",
        "--user",
        "alice:pw",
        "--permission",
        "alice:dev:.*:.*:.*",
        "--vhost-limit",
        "dev:max-connections=1,max-queues=2",
        "--user-limit",
        "alice:max-channels=2",
    ]);
    if broker.is_external() {
        eprintln!("skipped: Warren's flags");
        return;
    }
    let api = Api::new(&broker).expect("warren has an HTTP port");
    let r = api.get("/vhost-limits").await;
    assert_eq!(r.body, json!([{"vhost": "dev", "value": {"max-connections": 1, "max-queues": 2}}]));
    let r = api.get("/user-limits/alice").await;
    assert_eq!(r.body, json!([{"user": "alice", "value": {"max-channels": 2}}]));
    assert_eq!(api.get("/users/alice").await.body["limits"], json!({"max-channels": 2}));

    let first = connect_as(&broker, "alice", "dev").await.expect("first connection");
    let second = connect_as(&broker, "alice", "dev").await;
    let e = second.expect_err("the vhost's second connection is refused").to_string();
    assert!(e.contains("access to vhost 'dev' refused for user 'alice': connection limit (1) is reached"), "{e}");

    let _ch1 = first.create_channel().await.expect("channel 1");
    let _ch2 = first.create_channel().await.expect("channel 2");
    // alice's third channel is refused, with a 530 that closes the connection.
    let e = first.create_channel().await.expect_err("third channel").to_string();
    assert!(e.contains("number of channels opened for user 'alice' has reached the maximum allowed user limit of (2)"), "{e}");

    // That connection is gone, so the vhost takes one again.
    let mut again = None;
    for _ in 0..50 {
        if let Ok(c) = connect_as(&broker, "alice", "dev").await {
            again = Some(c);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let conn = again.expect("a connection once the first is closed");
    let ch = conn.create_channel().await.expect("channel");
    let opts = lapin::options::QueueDeclareOptions::default();
    for i in 0..2 {
        ch.queue_declare(format!("q{i}").as_str().into(), opts, Default::default()).await.expect("queue within the limit");
    }
    let e = ch.queue_declare("q2".into(), opts, Default::default()).await.expect_err("third queue").to_string();
    assert!(e.contains("queue limit in vhost 'dev' (2) is reached"), "{e}");
}

#[tokio::test]
async fn bad_limit_flags_stop_warren() {
    if std::env::var("WARREN_TEST_AMQP_URL").is_ok_and(|u| !u.is_empty()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (args, text) in [
        (&["--vhost-limit", "nosuch:max-queues=1"][..], "no vhost 'nosuch'"),
        (&["--vhost-limit", "/:max-channels=1"][..], "unknown limit 'max-channels'"),
        (&["--user-limit", "guest:max-channels=x"][..], "is not an integer"),
        (&["--user-limit", "nobody:max-channels=1"][..], "no user 'nobody'"),
    ] {
        let (status, _, stderr) = common::run_to_exit(&dir.path().join("data"), args, std::time::Duration::from_secs(30));
        assert!(!status.success(), "{args:?}");
        assert!(stderr.contains(text), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn http_api_for_vhost_and_user_limits() {
    let broker = Broker::start();
    let Some(api) = Api::new(&broker) else { return };
    let vhost = unique("limits-vhost");
    let user = unique("limits-user");
    assert_eq!(api.put(&format!("/vhosts/{vhost}"), json!({})).await.status, 201);
    assert_eq!(api.put(&format!("/users/{user}"), json!({"password": "pw", "tags": ""})).await.status, 201);

    // Vhost limits: PUT one name at a time, GET per vhost and all.
    let base = format!("/vhost-limits/{vhost}");
    assert_eq!(api.get(&base).await.body, json!([]));
    assert_eq!(api.put(&format!("{base}/max-connections"), json!({"value": 10})).await.status, 204);
    assert_eq!(api.put(&format!("{base}/max-queues"), json!({"value": 5})).await.status, 204);
    let r = api.get(&base).await;
    assert_eq!((r.status, &r.body), (200, &json!([{"vhost": vhost, "value": {"max-connections": 10, "max-queues": 5}}])));
    let all = api.get("/vhost-limits").await.body;
    assert!(all.as_array().unwrap().iter().any(|e| e["vhost"] == vhost), "{all}");
    api.put(&format!("{base}/max-bogus"), json!({"value": 5})).await.assert_error(
        400,
        "bad_request",
        "Validation failed\n\nUnrecognised terms [{<<\"max-bogus\">>,5}] in limits\n",
    );
    api.put(&format!("{base}/max-queues"), json!({"value": "x"})).await.assert_error(
        400,
        "bad_request",
        "Validation failed\n\nmax-queues should be a number, actually was <<\"x\">>\n",
    );
    api.put(&format!("{base}/max-connections"), json!({"value": 1.5})).await.assert_error(
        400,
        "bad_request",
        "Validation failed\n\nmax-connections should be a number, actually was 1.5\n",
    );
    api.put(&format!("{base}/max-queues"), json!({})).await.assert_error(400, "bad_request", "[{key_missing,value}]");
    api.put("/vhost-limits/no-such-vhost/max-queues", json!({"value": 1})).await.assert_error(404, "not_found", "vhost_not_found");
    api.get("/vhost-limits/no-such-vhost").await.assert_error(404, "Object Not Found", "Not Found");
    assert_eq!(api.get(&format!("{base}/max-queues")).await.status, 405);
    assert_eq!(api.delete(&format!("{base}/max-queues")).await.status, 204);
    assert_eq!(api.get(&base).await.body, json!([{"vhost": vhost, "value": {"max-connections": 10}}]));
    assert_eq!(api.delete(&format!("{base}/max-queues")).await.status, 204);

    // User limits.
    let base = format!("/user-limits/{user}");
    assert_eq!(api.put(&format!("{base}/max-connections"), json!({"value": 3})).await.status, 204);
    assert_eq!(api.put(&format!("{base}/max-channels"), json!({"value": 7})).await.status, 204);
    let r = api.get(&base).await;
    assert_eq!(r.body, json!([{"user": user, "value": {"max-channels": 7, "max-connections": 3}}]));
    assert_eq!(api.get(&format!("/users/{user}")).await.body["limits"], json!({"max-channels": 7, "max-connections": 3}));
    api.put(&format!("{base}/max-queues"), json!({"value": 5})).await.assert_error(
        400,
        "bad_request",
        "Unrecognised terms [{<<\"max-queues\">>,5}] in user-limits",
    );
    api.put(&format!("{base}/max-channels"), json!({"value": "x"})).await.assert_error(
        400,
        "bad_request",
        "max-channels should be a number, actually was <<\"x\">>",
    );
    let r = api.put("/user-limits/no-such-user/max-channels", json!({"value": 1})).await;
    assert_eq!((r.status, &r.body), (400, &json!({"error": "bad_request", "reason": ["no_such_user", "no-such-user"]})));
    api.get("/user-limits/no-such-user").await.assert_error(404, "Object Not Found", "Not Found");
    assert_eq!(api.get(&format!("{base}/max-channels")).await.status, 405);
    assert_eq!(api.delete(&format!("{base}/max-channels")).await.status, 204);
    assert_eq!(api.delete(&format!("{base}/max-connections")).await.status, 204);
    assert_eq!(api.get(&base).await.body, json!([]));

    // Only administrators change limits.
    let (name, pw) = api.user(&unique("limits-monitor"), "monitoring").await;
    let r = api.as_user((&name, &pw), reqwest::Method::PUT, &format!("/vhost-limits/{vhost}/max-queues"), Some(json!({"value": 1}))).await;
    assert_eq!(r.status, 401);

    assert_eq!(api.delete(&format!("/vhosts/{vhost}")).await.status, 204);
    assert_eq!(api.delete(&format!("/users/{user}")).await.status, 204);
    assert_eq!(api.delete(&format!("/users/{name}")).await.status, 204);
}

/// Export shape as RabbitMQ's `export_definitions`; import into a fresh
/// warren; limits survive a restart on the same data directory.
#[tokio::test]
async fn definitions_carry_limits_and_they_survive_a_restart() {
    if std::env::var("WARREN_TEST_AMQP_URL").is_ok_and(|u| !u.is_empty()) {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let args = [
        "--vhost",
        "lim",
        "--user",
        "bob:pw",
        "--vhost-limit",
        "lim:max-connections=10,max-queues=5",
        "--user-limit",
        "bob:max-connections=3,max-channels=7",
    ];
    let mut broker = Broker::start_on(data.path(), &args);
    let api = Api::new(&broker).unwrap();
    let doc = api.get("/definitions").await.body;
    let params = doc["parameters"].as_array().unwrap();
    assert_eq!(
        params,
        &vec![json!({"component": "vhost-limits", "name": "limits", "value": {"max-connections": 10, "max-queues": 5}, "vhost": "lim"})]
    );
    let bob = doc["users"].as_array().unwrap().iter().find(|u| u["name"] == "bob").unwrap();
    assert_eq!(bob["limits"], json!({"max-channels": 7, "max-connections": 3}));
    let guest = doc["users"].as_array().unwrap().iter().find(|u| u["name"] == "guest").unwrap();
    assert_eq!(guest["limits"], json!({}));
    let per_vhost = api.get("/definitions/lim").await.body;
    assert_eq!(
        per_vhost["parameters"],
        json!([{"component": "vhost-limits", "name": "limits", "value": {"max-connections": 10, "max-queues": 5}}])
    );

    // Into a fresh warren.
    let fresh = Broker::start();
    let fresh_api = Api::new(&fresh).unwrap();
    assert_eq!(fresh_api.post("/definitions", doc.clone()).await.status, 204);
    assert_eq!(fresh_api.get("/vhost-limits/lim").await.body, json!([{"vhost": "lim", "value": {"max-connections": 10, "max-queues": 5}}]));
    assert_eq!(fresh_api.get("/user-limits/bob").await.body, json!([{"user": "bob", "value": {"max-channels": 7, "max-connections": 3}}]));
    let bad = json!({"parameters": [{"component": "vhost-limits", "name": "limits", "vhost": "nope", "value": {"max-queues": 1}}]});
    let r = fresh_api.post("/definitions", bad).await;
    assert_eq!((r.status, &r.body["reason"]), (400, &json!(["no_such_vhost", "nope"])));

    // Changed over HTTP, then a restart without the flags: still there.
    assert_eq!(api.put("/vhost-limits/lim/max-queues", json!({"value": 6})).await.status, 204);
    broker.terminate(std::time::Duration::from_secs(15));
    let broker = Broker::start_on(data.path(), &[]);
    let api = Api::new(&broker).unwrap();
    assert_eq!(api.get("/vhost-limits").await.body, json!([{"vhost": "lim", "value": {"max-connections": 10, "max-queues": 6}}]));
    assert_eq!(api.get("/user-limits").await.body, json!([{"user": "bob", "value": {"max-channels": 7, "max-connections": 3}}]));
}

/// `--max-message-size` as RabbitMQ's `max_message_size`: a publish whose
/// content header announces a larger body closes the channel with 406
/// before the body is read; a body at the limit is delivered.
#[tokio::test]
async fn max_message_size_flag_refuses_larger_bodies() {
    if std::env::var("WARREN_TEST_AMQP_URL").is_ok_and(|u| !u.is_empty()) {
        return;
    }
    let broker = Broker::start_with_args(&["--max-message-size", "1KiB"]);
    let conn = lapin::Connection::connect(&broker.url, Default::default()).await.expect("connection");
    let ch = conn.create_channel().await.expect("channel");
    let q = unique("maxsize");
    ch.queue_declare(q.as_str().into(), Default::default(), Default::default()).await.expect("declare");
    let publish = |body: Vec<u8>| {
        let ch = ch.clone();
        let q = q.clone();
        async move { ch.basic_publish("".into(), q.as_str().into(), Default::default(), &body, Default::default()).await }
    };
    publish(vec![7u8; 1024]).await.expect("a body at the limit is accepted");
    let got = ch.basic_get(q.as_str().into(), lapin::options::BasicGetOptions { no_ack: true }).await.expect("get");
    assert_eq!(got.expect("the message at the limit").delivery.data.len(), 1024);

    let _ = publish(vec![7u8; 1025]).await;
    let e = ch.queue_declare(q.as_str().into(), Default::default(), Default::default()).await.expect_err("channel closed");
    let text = e.to_string();
    assert!(text.contains("PRECONDITION_FAILED - message size 1025 is larger than configured max size 1024"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    for (args, text) in
        [(&["--max-message-size", "1GiB"][..], "must be between 1 octet and 512MiB"), (&["--max-message-size", "lots"][..], "lots")]
    {
        let (status, _, stderr) = common::run_to_exit(&dir.path().join("data"), args, std::time::Duration::from_secs(30));
        assert!(!status.success(), "{args:?}");
        assert!(stderr.contains(text), "{args:?}: {stderr}");
    }
}
