//! The management API on warren's HTTP port, checked field by field and
//! status by status against what RabbitMQ 3.10's management plugin answers
//! (the expected bodies below were taken from a real RabbitMQ): auth and
//! tag rules, every resource group, AMQP errors mapped to HTTP errors, and
//! a definitions export → import → export round trip between two brokers.
//!
//! Runs against freshly started warrens; with `WARREN_TEST_AMQP_URL` and
//! `WARREN_TEST_HTTP_URL` set it talks to that broker instead (the
//! Warren-only checks — product name, browse, round trip — are skipped; the
//! counting checks assume a fresh broker, and RabbitMQ's statistics lag a
//! few seconds behind, so some of those fail against a busy RabbitMQ).

#[path = "api_support/mod.rs"]
mod api_support;
mod common;

use api_support::{creds, named, Api};
use common::{unique, Broker};
use reqwest::Method;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------

#[tokio::test]
async fn auth_failures_and_tag_rules() {
    let broker = Broker::start();
    let Some(api) = Api::new(&broker) else { return };

    // No credentials: a bare 401 with a challenge.
    let r = api.call(Method::GET, "/overview", None, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"RabbitMQ Management\""));
    assert_eq!(r.text, "");

    // Wrong password or unknown user: "not_authorized" (with a z) and a challenge.
    for user in [("guest", "wrong"), ("nobody", "x")] {
        let r = api.as_user(user, Method::GET, "/overview", None).await;
        r.assert_error(401, "not_authorized", "Login failed");
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"RabbitMQ Management\""));
    }

    // No management tag at all.
    let plain = api.user(&unique("plain"), "").await;
    api.as_user(creds(&plain), Method::GET, "/whoami", None).await.assert_error(401, "not_authorised", "Not management user");

    // management: may look, may not administer.
    let mgmt = api.user(&unique("mgmt"), "management").await;
    let r = api.as_user(creds(&mgmt), Method::GET, "/whoami", None).await;
    assert_eq!((r.status, r.body.clone()), (200, json!({"name": mgmt.0, "tags": ["management"]})));
    for (method, path) in [
        (Method::GET, "/users".to_string()),
        (Method::GET, "/permissions".to_string()),
        (Method::GET, "/definitions".to_string()),
        (Method::GET, "/vhosts/%2F".to_string()),
        (Method::PUT, "/vhosts/somewhere".to_string()),
        (Method::DELETE, format!("/users/{}", mgmt.0)),
    ] {
        api.as_user(creds(&mgmt), method, &path, Some(json!({}))).await.assert_error(401, "not_authorised", "Not administrator user");
    }
    // Without permissions on a vhost its objects are out of reach.
    api.as_user(creds(&mgmt), Method::GET, "/queues/%2F", None).await.assert_error(
        401,
        "not_authorised",
        "User not authorised to access virtual host",
    );
    let r = api.as_user(creds(&mgmt), Method::GET, "/queues", None).await;
    assert_eq!((r.status, r.body.clone()), (200, json!([])));

    // Policies: only policymakers change them.
    api.as_user(creds(&mgmt), Method::PUT, "/policies/%2F/p", Some(json!({"pattern": "x", "definition": {"max-length": 1}})))
        .await
        .assert_error(401, "not_authorised", "User not authorised to access object");

    // Unknown paths, with or without credentials.
    api.get("/no-such-thing").await.assert_error(404, "Object Not Found", "Not Found");
    api.call(Method::GET, "/no-such-thing", None, None).await.assert_error(404, "Object Not Found", "Not Found");
}

#[tokio::test]
async fn overview_and_whoami() {
    let broker = Broker::start();
    let Some(api) = Api::new(&broker) else { return };
    let queue = unique("ov");
    assert_eq!(api.put(&format!("/queues/%2F/{queue}"), json!({})).await.status, 201);
    for i in 0..3 {
        let r = api
            .post(
                "/exchanges/%2F/amq.default/publish",
                json!({"properties": {}, "routing_key": queue, "payload": format!("m{i}"), "payload_encoding": "string"}),
            )
            .await;
        assert_eq!(r.body, json!({"routed": true}));
    }
    let r = api.get("/whoami").await;
    assert_eq!((r.status, r.body), (200, json!({"name": "guest", "tags": ["administrator"]})));
    assert_eq!(r.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-cache"));

    let o = api.get("/overview").await;
    assert_eq!(o.status, 200);
    let b = &o.body;
    assert_eq!(b["rabbitmq_version"], "3.10.8", "{b}");
    assert_eq!(b["management_version"], "3.10.8");
    assert_eq!(b["rates_mode"], "basic");
    assert_eq!(b["exchange_types"].as_array().map(Vec::len), Some(4));
    assert!(b["node"].is_string() && b["cluster_name"].is_string());
    assert_eq!(b["queue_totals"]["messages_ready"], 3);
    assert_eq!(b["queue_totals"]["messages_unacknowledged"], 0);
    assert_eq!(b["queue_totals"]["messages"], 3);
    assert!(b["queue_totals"]["messages_details"]["rate"].is_number());
    assert_eq!(b["message_stats"]["publish"], 3);
    assert!(b["message_stats"]["publish_details"]["rate"].is_number());
    assert_eq!(b["message_stats"]["deliver_get"], 0);
    let totals = &b["object_totals"];
    assert_eq!((totals["queues"].clone(), totals["connections"].clone(), totals["consumers"].clone()), (json!(1), json!(0), json!(0)));
    // 7 exchanges on `/`: the default one and the six amq.* ones... minus amq.rabbitmq.trace on warren.
    assert!(totals["exchanges"].as_u64().unwrap() >= 6);
    if api.warren {
        assert_eq!(b["product_name"], "Warren");
        // The listeners are the ones this warren printed.
        let listeners = b["listeners"].as_array().unwrap();
        let http_port: u64 = broker.http_url.as_ref().unwrap().rsplit(':').next().unwrap().parse().unwrap();
        let prom_port: u64 = broker.prometheus_url.as_ref().unwrap().rsplit(':').next().unwrap().parse().unwrap();
        let find = |proto: &str| listeners.iter().find(|l| l["protocol"] == proto).unwrap_or_else(|| panic!("no {proto} in {listeners:?}"));
        assert_eq!(find("amqp")["port"], broker.port);
        assert_eq!(find("amqp")["ip_address"], "127.0.0.1");
        assert_eq!(find("http")["port"], http_port);
        assert_eq!(find("http/prometheus")["port"], prom_port);
    }
    // columns reduce the object to dotted paths.
    let r = api.get("/overview?columns=object_totals.queues,message_stats.publish").await;
    assert_eq!(r.body, json!({"object_totals": {"queues": 1}, "message_stats": {"publish": 3}}));
}

#[tokio::test]
async fn vhosts_users_and_permissions() {
    let broker = Broker::start();
    let Some(api) = Api::new(&broker) else { return };
    let vhost = unique("vh");
    let name = unique("alice");

    assert_eq!(api.put(&format!("/vhosts/{vhost}"), json!({})).await.status, 201);
    assert_eq!(api.put(&format!("/vhosts/{vhost}"), json!({})).await.status, 204);
    let v = api.get(&format!("/vhosts/{vhost}")).await;
    assert_eq!(v.body["name"], vhost.as_str());
    assert_eq!(v.body["tracing"], false);
    assert_eq!(v.body["messages"], 0);
    assert!(named(&api.get("/vhosts").await.body, &vhost).is_object());
    // As in RabbitMQ, the creator gets full permissions on a new vhost.
    let p = api.get(&format!("/permissions/{vhost}/guest")).await;
    assert_eq!(p.body, json!({"user": "guest", "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}));

    // Users: a password is stored hashed; tags as a string or a list.
    assert_eq!(api.put(&format!("/users/{name}"), json!({"password": "s3cret", "tags": "monitoring, policymaker"})).await.status, 201);
    let u = api.get(&format!("/users/{name}")).await;
    assert_eq!(u.body["tags"], json!(["monitoring", "policymaker"]));
    assert_eq!(u.body["hashing_algorithm"], "rabbit_password_hashing_sha256");
    assert_eq!(u.body["limits"], json!({}));
    let hash = u.body["password_hash"].as_str().unwrap().to_string();
    assert_eq!(hash.len(), 48, "base64 of 4 salt octets and a SHA-256 digest");
    let r = api.as_user((&name, "s3cret"), Method::GET, "/whoami", None).await;
    assert_eq!(r.body, json!({"name": name, "tags": ["monitoring", "policymaker"]}));
    // The same hash under another name logs in with the same password.
    let twin = unique("twin");
    assert_eq!(api.put(&format!("/users/{twin}"), json!({"password_hash": hash, "tags": ["management"]})).await.status, 201);
    assert_eq!(api.as_user((&twin, "s3cret"), Method::GET, "/whoami", None).await.status, 200);
    assert_eq!(api.put(&format!("/users/{twin}"), json!({"password": "new", "tags": ""})).await.status, 204);
    assert_eq!(api.as_user((&twin, "s3cret"), Method::GET, "/whoami", None).await.status, 401);
    api.put(&format!("/users/{}", unique("x")), json!({"password": "x"})).await.assert_error(400, "bad_request", "tags_not_present");
    let r = api.put(&format!("/users/{}", unique("x")), json!({"password_hash": "abc", "tags": ""})).await;
    assert_eq!((r.status, r.body.clone()), (400, json!({"error": "bad_request", "reason": ["not_base64", "abc"]})));

    // Permissions.
    let path = format!("/permissions/{vhost}/{name}");
    assert_eq!(api.put(&path, json!({"configure": "^a", "write": ".*", "read": ""})).await.status, 201);
    assert_eq!(api.put(&path, json!({"configure": "^b", "write": ".*", "read": ""})).await.status, 204);
    assert_eq!(api.get(&path).await.body, json!({"user": name, "vhost": vhost, "configure": "^b", "write": ".*", "read": ""}));
    let mine = api.get(&format!("/users/{name}/permissions")).await.body;
    assert_eq!(mine.as_array().map(Vec::len), Some(1));
    assert_eq!(api.get(&format!("/vhosts/{vhost}/permissions")).await.body.as_array().map(Vec::len), Some(2));
    api.put(&path, json!({"configure": ".*"})).await.assert_error(400, "bad_request", "[{key_missing,write},{key_missing,read}]");
    api.put(&format!("/permissions/{vhost}/nobody"), json!({"configure": "", "write": "", "read": ""})).await.assert_error(
        400,
        "bad_request",
        "vhost_or_user_not_found",
    );
    assert_eq!(api.delete(&path).await.status, 204);
    api.delete(&path).await.assert_error(404, "Object Not Found", "Not Found");
    api.get(&path).await.assert_error(404, "Object Not Found", "Not Found");

    // Deleting.
    assert_eq!(api.delete(&format!("/users/{name}")).await.status, 204);
    api.delete(&format!("/users/{name}")).await.assert_error(404, "Object Not Found", "Not Found");
    assert_eq!(api.as_user((&name, "s3cret"), Method::GET, "/whoami", None).await.status, 401);
    assert_eq!(api.delete(&format!("/vhosts/{vhost}")).await.status, 204);
    api.delete(&format!("/vhosts/{vhost}")).await.assert_error(404, "Object Not Found", "Not Found");
    api.get(&format!("/vhosts/{vhost}")).await.assert_error(404, "Object Not Found", "Not Found");
}

#[tokio::test]
async fn queues_and_exchanges() {
    let broker = Broker::start();
    let Some(api) = Api::new(&broker) else { return };
    let (q, x) = (unique("q"), unique("x"));
    let qp = format!("/queues/%2F/{q}");

    let r = api.put(&qp, json!({"durable": true, "arguments": {"x-max-length": 10, "x-dead-letter-exchange": "dlx"}})).await;
    assert_eq!((r.status, r.text.as_str()), (201, ""));
    assert_eq!(
        api.put(&qp, json!({"durable": true, "arguments": {"x-max-length": 10, "x-dead-letter-exchange": "dlx"}})).await.status,
        204
    );
    api.put(&qp, json!({"durable": false})).await.assert_error(
        400,
        "bad_request",
        &format!("inequivalent arg 'durable' for queue '{q}' in vhost '/': received 'false' but current is 'true'"),
    );
    let bad = unique("bad");
    api.put(&format!("/queues/%2F/{bad}"), json!({"arguments": {"x-max-length": "ten"}})).await.assert_error(
        400,
        "bad_request",
        &format!("invalid arg 'x-max-length' for queue '{bad}' in vhost '/': \"expected integer, got longstr\""),
    );
    api.put("/queues/%2F/amq.reserved", json!({})).await.assert_error(401, "not_authorised", "Access refused.");
    api.put("/queues/nowhere/q", json!({})).await.assert_error(404, "not_found", "vhost_not_found");

    let info = api.get(&qp).await;
    assert_eq!(info.status, 200);
    let b = &info.body;
    assert_eq!((b["name"].clone(), b["vhost"].clone(), b["durable"].clone()), (json!(q), json!("/"), json!(true)));
    assert_eq!(b["auto_delete"], false);
    assert_eq!(b["exclusive"], false);
    assert_eq!(b["arguments"], json!({"x-max-length": 10, "x-dead-letter-exchange": "dlx"}));
    assert_eq!(b["type"], "classic");
    assert_eq!(b["state"], "running");
    assert_eq!((b["messages"].clone(), b["messages_ready"].clone(), b["consumers"].clone()), (json!(0), json!(0), json!(0)));
    assert_eq!(b["consumer_details"], json!([]));
    assert_eq!(b["policy"], Value::Null);
    api.get("/queues/%2F/nope").await.assert_error(404, "Object Not Found", "Not Found");
    api.get("/queues/nowhere").await.assert_error(404, "Object Not Found", "Not Found");

    // Exchanges.
    let xp = format!("/exchanges/%2F/{x}");
    assert_eq!(
        api.put(&xp, json!({"type": "topic", "durable": true, "arguments": {"alternate-exchange": "amq.fanout"}})).await.status,
        201
    );
    assert_eq!(
        api.put(&xp, json!({"type": "topic", "durable": true, "arguments": {"alternate-exchange": "amq.fanout"}})).await.status,
        204
    );
    api.put(&xp, json!({"type": "direct", "durable": true})).await.assert_error(
        400,
        "bad_request",
        &format!("inequivalent arg 'type' for exchange '{x}' in vhost '/': received 'direct' but current is 'topic'"),
    );
    api.put("/exchanges/%2F/amq.mine", json!({"type": "direct"})).await.assert_error(401, "not_authorised", "Access refused.");
    let e = api.get(&xp).await.body;
    assert_eq!(e["type"], "topic");
    assert_eq!(e["durable"], true);
    assert_eq!(e["internal"], false);
    assert_eq!(e["arguments"], json!({"alternate-exchange": "amq.fanout"}));
    let default = api.get("/exchanges/%2F/amq.default").await.body;
    assert_eq!((default["name"].clone(), default["type"].clone()), (json!(""), json!("direct")));
    let all = api.get("/exchanges/%2F").await.body;
    assert!(named(&all, "amq.topic")["durable"] == true);

    // A binding makes the exchange "in use".
    assert_eq!(api.post(&format!("/bindings/%2F/e/{x}/q/{q}"), json!({"routing_key": "k"})).await.status, 201);
    api.delete(&format!("{xp}?if-unused=true")).await.assert_error(400, "bad_request", &format!("exchange '{x}' in vhost '/' in use"));
    api.delete("/exchanges/%2F/amq.direct").await.assert_error(401, "not_authorised", "Access refused.");
    assert_eq!(api.delete(&xp).await.status, 204);
    api.delete(&xp).await.assert_error(404, "Object Not Found", "Not Found");

    // A queue with a message is not empty.
    api.post(
        "/exchanges/%2F/amq.default/publish",
        json!({"properties": {}, "routing_key": q, "payload": "x", "payload_encoding": "string"}),
    )
    .await;
    let r = api.delete(&format!("{qp}?if-empty=true")).await;
    assert_eq!((r.status, r.body["error"].clone()), (400, json!("bad_request")));
    assert_eq!(r.body["reason"], json!(format!("queue '{q}' in vhost '/' not empty")));
    assert_eq!(api.delete(&format!("{qp}/contents")).await.status, 204);
    assert_eq!(api.get(&qp).await.body["messages_ready"], 0);
    assert_eq!(api.delete(&format!("{qp}?if-empty=true")).await.status, 204);
    api.delete(&qp).await.assert_error(404, "Object Not Found", "Not Found");
    api.delete(&format!("{qp}/contents")).await.assert_error(404, "Object Not Found", "Not Found");
}

#[tokio::test]
async fn lists_sort_columns_and_pages() {
    let broker = Broker::start();
    let Some(api) = Api::new(&broker) else { return };
    let prefix = unique("page");
    for n in ["b", "a", "c"] {
        assert_eq!(api.put(&format!("/queues/%2F/{prefix}-{n}"), json!({})).await.status, 201);
    }
    let names = |v: &Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_string()).filter(|n| n.starts_with(&prefix)).collect()
    };
    let r = api.get("/queues?columns=name,vhost&sort=name&sort_reverse=true").await;
    assert_eq!(names(&r.body), [format!("{prefix}-c"), format!("{prefix}-b"), format!("{prefix}-a")]);
    assert_eq!(r.body[0].as_object().unwrap().len(), 2, "only the asked columns: {}", r.body);
    let r = api.get(&format!("/queues/%2F?page=2&page_size=1&name={prefix}&columns=name")).await;
    assert_eq!(
        r.body,
        json!({"filtered_count": 3, "item_count": 1, "items": [{"name": format!("{prefix}-b")}], "page": 2,
               "page_count": 3, "page_size": 1, "total_count": 3})
    );
    let r = api.get(&format!("/queues?page=1&name={}-[ab]$&use_regex=true&columns=name", prefix.to_uppercase())).await;
    assert_eq!(r.body["filtered_count"], 2, "{}", r.text);
    api.get("/queues?page=0").await.assert_error(
        400,
        "invalid_pagination_parameters",
        "Invalid pagination parameters: page number 0, page size undefined",
    );
    api.get("/queues?page=1&page_size=1000").await.assert_error(
        400,
        "invalid_pagination_parameters",
        "Invalid pagination parameters: page number 1, page size 1000",
    );
    api.get("/queues?page=9").await.assert_error(400, "page_out_of_range", "Page out of range, page: 9 page size: 100, len: 3");
    // A nested column.
    let r = api.get(&format!("/queues/%2F/{prefix}-a?columns=message_stats.publish_details.rate,name")).await;
    assert_eq!(r.body, json!({"name": format!("{prefix}-a"), "message_stats": {"publish_details": {"rate": 0.0}}}));
}

#[tokio::test]
async fn bindings() {
    let broker = Broker::start();
    let Some(api) = Api::new(&broker) else { return };
    let (q, x) = (unique("bq"), unique("bx"));
    api.put(&format!("/queues/%2F/{q}"), json!({})).await;
    api.put(&format!("/exchanges/%2F/{x}"), json!({"type": "topic"})).await;

    let r = api.post(&format!("/bindings/%2F/e/{x}/q/{q}"), json!({"routing_key": "a.#"})).await;
    assert_eq!((r.status, r.header("location")), (201, Some(format!("{q}/a.%2523").as_str())));
    let r = api.post(&format!("/bindings/%2F/e/{x}/q/{q}"), json!({"routing_key": "", "arguments": {"x-match": "all"}})).await;
    assert_eq!(r.status, 201);
    // The argument hash is RabbitMQ's own (Erlang's phash2): same key as there.
    assert_eq!(r.header("location"), Some(format!("{q}/~3ujGfg").as_str()));
    let with_args = "3ujGfg";
    let r = api.post(&format!("/bindings/%2F/e/{x}/q/{q}"), json!({"routing_key": "r k", "arguments": {"x-match": "any", "n": 1}})).await;
    assert_eq!(r.header("location"), Some(format!("{q}/r%2Bk~HgZJ7Q").as_str()));
    assert_eq!(api.delete(&format!("/bindings/%2F/e/{x}/q/{q}/r+k~HgZJ7Q")).await.status, 204);
    let r = api.post(&format!("/bindings/%2F/e/{x}/e/amq.direct"), json!({"routing_key": "k k"})).await;
    assert_eq!((r.status, r.header("location")), (201, Some("amq.direct/k%2Bk")));
    api.post(&format!("/bindings/%2F/e/nope/q/{q}"), json!({})).await.assert_error(404, "not_found", "no exchange 'nope' in vhost '/'");

    let list = api.get(&format!("/bindings/%2F/e/{x}/q/{q}")).await.body;
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    let hash_binding = list.as_array().unwrap().iter().find(|b| b["routing_key"] == "").unwrap();
    assert_eq!(hash_binding["arguments"], json!({"x-match": "all"}));
    assert_eq!(hash_binding["properties_key"], format!("~{with_args}"));
    let one = api.get(&format!("/bindings/%2F/e/{x}/q/{q}/a.%2523")).await;
    assert_eq!(
        one.body,
        json!({"source": x, "vhost": "/", "destination": q, "destination_type": "queue", "routing_key": "a.#",
               "arguments": {}, "properties_key": "a.%23"})
    );
    let e2e = api.get(&format!("/bindings/%2F/e/{x}/e/amq.direct/k+k")).await;
    assert_eq!(e2e.body["destination_type"], "exchange");
    assert_eq!(e2e.body["routing_key"], "k k");
    api.get(&format!("/bindings/%2F/e/{x}/q/{q}/nope")).await.assert_error(404, "Object Not Found", "Not Found");

    let source = api.get(&format!("/exchanges/%2F/{x}/bindings/source")).await.body;
    assert_eq!(source.as_array().map(Vec::len), Some(3));
    let dest = api.get("/exchanges/%2F/amq.direct/bindings/destination").await.body;
    assert_eq!(dest.as_array().unwrap().iter().filter(|b| b["source"] == x.as_str()).count(), 1);
    // A queue's bindings include the default exchange's implicit one.
    let of_queue = api.get(&format!("/queues/%2F/{q}/bindings")).await.body;
    assert_eq!(
        of_queue[0],
        json!({"source": "", "vhost": "/", "destination": q, "destination_type": "queue", "routing_key": q,
                                   "arguments": {}, "properties_key": q})
    );
    assert_eq!(of_queue.as_array().map(Vec::len), Some(3));
    assert!(api.get("/bindings/%2F").await.body.as_array().unwrap().len() >= 4);

    assert_eq!(api.delete(&format!("/bindings/%2F/e/{x}/q/{q}/a.%2523")).await.status, 204);
    api.delete(&format!("/bindings/%2F/e/{x}/q/{q}/a.%2523")).await.assert_error(404, "Object Not Found", "Not Found");
    assert_eq!(api.delete(&format!("/bindings/%2F/e/{x}/q/{q}/~{with_args}")).await.status, 204);
    assert_eq!(api.get(&format!("/bindings/%2F/e/{x}/q/{q}")).await.body, json!([]));
}

/// A headers binding with a bad `x-match` is a 400 with RabbitMQ's text
/// (the AMQP code stripped); a definitions import skips it and goes on, as
/// RabbitMQ 3.10 does, answering 204.
#[tokio::test]
async fn headers_bindings_with_a_bad_x_match() {
    let broker = Broker::start();
    let Some(api) = Api::new(&broker) else { return };
    let (q, x) = (unique("hxq"), unique("hxx"));
    api.put(&format!("/queues/%2F/{q}"), json!({})).await;
    api.put(&format!("/exchanges/%2F/{x}"), json!({"type": "headers"})).await;
    let bindings = format!("/bindings/%2F/e/{x}/q/{q}");
    api.post(&bindings, json!({"routing_key": "", "arguments": {"x-match": "foo"}})).await.assert_error(
        400,
        "bad_request",
        "Invalid x-match field value <<\"foo\">>; expected all, any, all-with-x, or any-with-x",
    );
    // A JSON integer arrives as a long.
    api.post(&bindings, json!({"routing_key": "", "arguments": {"x-match": 5}})).await.assert_error(
        400,
        "bad_request",
        "Invalid x-match field type long (value 5); expected longstr",
    );
    let binding = |key: &str, mode: &str| {
        json!({"source": x, "vhost": "/", "destination": q, "destination_type": "queue", "routing_key": key,
               "arguments": {"x-match": mode}})
    };
    let r = api.post("/definitions", json!({"bindings": [binding("bad", "foo"), binding("good", "any")]})).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let bound = api.get(&bindings).await.body;
    let keys: Vec<&str> = bound.as_array().unwrap().iter().map(|b| b["routing_key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["good"]);
    api.delete(&format!("/queues/%2F/{q}")).await;
    api.delete(&format!("/exchanges/%2F/{x}")).await;
}

#[tokio::test]
async fn policies() {
    let broker = Broker::start();
    let Some(api) = Api::new(&broker) else { return };
    let name = unique("pol");
    let q = format!("{name}-q");
    let path = format!("/policies/%2F/{name}");
    api.put(&format!("/queues/%2F/{q}"), json!({})).await;

    api.put(&path, json!({"pattern": "^x"})).await.assert_error(400, "bad_request", "[{key_missing,definition}]");
    api.put(&path, json!({"pattern": "^x", "definition": {}})).await.assert_error(
        400,
        "bad_request",
        "Validation failed\n\nno policy provided\n",
    );
    api.put(&path, json!({"pattern": "^x", "definition": {"max-length": 1}, "apply-to": "bogus"})).await.assert_error(
        400,
        "bad_request",
        "Validation failed\n\napply-to 'bogus' unrecognised; should be 'queues', 'exchanges' or 'all'\n",
    );
    api.put("/policies/nowhere/p", json!({"pattern": "^x", "definition": {"max-length": 1}})).await.assert_error(
        404,
        "not_found",
        "vhost_not_found",
    );

    let body = json!({"pattern": format!("^{name}"), "definition": {"max-length": 5}, "apply-to": "queues", "priority": 2});
    assert_eq!(api.put(&path, body.clone()).await.status, 201);
    assert_eq!(api.put(&path, body).await.status, 204);
    assert_eq!(
        api.get(&path).await.body,
        json!({"vhost": "/", "name": name, "pattern": format!("^{name}"), "apply-to": "queues", "definition": {"max-length": 5}, "priority": 2})
    );
    assert_eq!(api.get("/policies/%2F").await.body.as_array().map(Vec::len), Some(1));
    let info = api.get(&format!("/queues/%2F/{q}")).await.body;
    assert_eq!((info["policy"].clone(), info["effective_policy_definition"].clone()), (json!(name), json!({"max-length": 5})));
    // A policymaker may change policies on its vhosts.
    let maker = api.user(&unique("maker"), "policymaker").await;
    api.put(&format!("/permissions/%2F/{}", maker.0), json!({"configure": "", "write": "", "read": ""})).await;
    let r = api
        .as_user(
            creds(&maker),
            Method::PUT,
            &format!("/policies/%2F/{name}-2"),
            Some(json!({"pattern": "^zz", "definition": {"expires": 100000}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(api.as_user(creds(&maker), Method::DELETE, &format!("/policies/%2F/{name}-2"), None).await.status, 204);

    assert_eq!(api.delete(&path).await.status, 204);
    api.delete(&path).await.assert_error(404, "Object Not Found", "Not Found");
    assert_eq!(api.get(&format!("/queues/%2F/{q}")).await.body["policy"], Value::Null);
}

#[tokio::test]
async fn nodes_and_health_checks() {
    let broker = Broker::start();
    let Some(api) = Api::new(&broker) else { return };
    let nodes = api.get("/nodes").await;
    assert_eq!(nodes.status, 200);
    let node = &nodes.body[0];
    assert_eq!((node["type"].clone(), node["running"].clone()), (json!("disc"), json!(true)));
    assert!(node["mem_used"].is_u64() && node["uptime"].is_u64(), "{node}");
    let name = node["name"].as_str().unwrap().to_string();
    assert_eq!(api.get(&format!("/nodes/{name}")).await.body["name"], name.as_str());
    let mgmt = api.user(&unique("nomon"), "management").await;
    api.as_user(creds(&mgmt), Method::GET, "/nodes", None).await.assert_error(401, "not_authorised", "Not monitor user");
    for path in ["/health/checks/alarms", "/healthchecks/node", "/aliveness-test/%2F"] {
        let r = api.get(path).await;
        assert_eq!((r.status, r.body), (200, json!({"status": "ok"})), "{path}");
    }
    // The aliveness test really went through a queue, and left it empty.
    assert_eq!(api.get("/queues/%2F/aliveness-test").await.body["messages"], 0);
    api.get("/aliveness-test/nowhere").await.assert_error(404, "Object Not Found", "Not Found");
}
