//! Warren extension: tracing one queue of a live broker through the API
//! (`/api/queues/{vhost}/{name}/trace`).

#[path = "api_support/mod.rs"]
mod api_support;
mod common;

use api_support::Api;
use common::{unique, Broker};
use serde_json::json;

#[tokio::test]
async fn a_traced_queue_explains_its_messages() {
    let broker = Broker::start();
    let Some(api) = Api::new(&broker) else { return };
    if std::env::var_os("WARREN_TEST_AMQP_URL").is_some() {
        return; // Warren only.
    }
    let (q, other) = (unique("traced"), unique("untraced"));
    api.put(&format!("/queues/%2F/{q}"), json!({})).await;
    api.put(&format!("/queues/%2F/{other}"), json!({})).await;
    let trace = format!("/queues/%2F/{q}/trace");
    assert_eq!(api.put("/queues/%2F/missing/trace", json!({})).await.status, 404);
    assert_eq!(api.put(&trace, json!({})).await.status, 204);
    let publish = |key: &str| json!({"properties": {}, "routing_key": key, "payload": "x", "payload_encoding": "string"});
    api.post("/exchanges/%2F/amq.default/publish", publish(&q)).await;
    api.post("/exchanges/%2F/amq.default/publish", publish(&other)).await;
    api.post(&format!("/queues/%2F/{q}/get"), json!({"count": 1, "ackmode": "ack_requeue_false", "encoding": "auto"})).await;
    let events = api.get(&trace).await.body;
    let kinds: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["published", "routed", "enqueued", "delivered", "acked"], "{events}");
    assert_eq!(events[1]["destination"], json!(q));
    assert_eq!(events[3]["consumer_tag"], json!(""), "a basic.get");
    let id = &events[0]["message"];
    assert!(events.as_array().unwrap().iter().all(|e| &e["message"] == id));
    // Drained by the GET; off after DELETE.
    assert_eq!(api.get(&trace).await.body, json!([]));
    assert_eq!(api.delete(&trace).await.status, 204);
    api.post("/exchanges/%2F/amq.default/publish", publish(&q)).await;
    assert_eq!(api.get(&trace).await.body, json!([]));
}
