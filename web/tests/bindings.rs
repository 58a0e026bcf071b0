//! The bindings' Rust side, natively: operations, snapshots, trace events
//! and the frame decoder (the JavaScript side is tested in Chromium and
//! Node by tests/playground).

use serde_json::json;
use web::frames::{Decoder, FrameView};
use web::{bench, convert, TabBroker};

fn drain(tb: &mut TabBroker) -> Vec<(f64, Vec<u8>)> {
    std::iter::from_fn(|| tb.poll().map(|mut o| (o.connection(), o.take_data()))).collect()
}

#[test]
fn operations_run_through_the_loopback_with_amqp_errors() {
    let mut tb = TabBroker::create(1_000, 7).expect("the tab configuration is valid");
    tb.run_op(json!({"op": "exchange.declare", "name": "logs", "type": "topic"})).unwrap();
    let r =
        tb.run_op(json!({"op": "queue.declare", "name": "q", "arguments": {"x-message-ttl": 5000, "x-dead-letter-exchange": ""}})).unwrap();
    assert_eq!(r.method, "queue.declare-ok");
    tb.run_op(json!({"op": "bind", "source": "logs", "destination": "q", "routing_key": "*.orange.*"})).unwrap();
    // Redeclaring with other arguments is refused as AMQP refuses it.
    let e = tb.run_op(json!({"op": "queue.declare", "name": "q"})).unwrap_err();
    assert!(e.starts_with("PRECONDITION_FAILED") || e.contains("406"), "{e}");
    let e = tb.run_op(json!({"op": "bind", "source": "nope", "destination": "q"})).unwrap_err();
    assert!(e.contains("NOT_FOUND"), "{e}");
    assert!(tb.run_op(json!({"op": "frobnicate"})).unwrap_err().starts_with("bad operation"));

    let s = tb.snapshot_data();
    let q = s.queues.iter().find(|q| q["name"] == "q").unwrap();
    assert_eq!(q["arguments"], json!({"x-message-ttl": 5000, "x-dead-letter-exchange": ""}));
    assert!(s.exchanges.iter().any(|x| x["name"] == "logs" && x["type"] == "topic"));
    assert!(s.bindings.iter().any(|b| b["source"] == "logs" && b["destination"] == "q" && b["routing_key"] == "*.orange.*"));
}

#[test]
fn trace_events_explain_routing_and_expiry_on_a_virtual_clock() {
    let mut tb = TabBroker::create(1_000, 7).expect("the tab configuration is valid");
    tb.broker().set_tracing(Some(broker_core::TraceFilter::All));
    tb.run_op(json!({"op": "queue.declare", "name": "dlq"})).unwrap();
    tb.run_op(json!({"op": "queue.declare", "name": "work", "arguments": {"x-message-ttl": 100, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq"}})).unwrap();
    let props = convert::properties_from_json(&json!({})).unwrap();
    assert!(tb.broker().publish_as("guest", "/", "", "work", &props, bytes::Bytes::from_static(b"hi")).unwrap());
    tb.broker().handle_timeout(1_200);
    let events: Vec<_> = std::iter::from_fn(|| tb.broker().poll_trace()).map(|e| broker_core::management::json::trace_event(&e)).collect();
    let v = serde_json::Value::Array(events);
    let types: Vec<&str> = v.as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(types, ["published", "routed", "enqueued", "expired", "dead_lettered", "published", "routed", "enqueued"]);
    assert_eq!(v[2]["expires_at"], json!(1_100));
    assert_eq!(v[4]["reason"], json!("expired"));
    assert_eq!(v[4]["new_message"], v[5]["message"]);
    assert_eq!(tb.broker().queue_counts("/", "dlq").unwrap().0, 1);
}

#[test]
fn in_tab_connections_carry_the_bench_octets_and_the_decoder_reads_them() {
    let mut tb = TabBroker::create(0, 1).expect("the tab configuration is valid");
    let p = tb.connect(0.0, Some("pub".into()));
    let c = tb.connect(0.0, Some("con".into()));
    let mut client = Decoder::new(true);
    let hs = bench::handshake();
    let frames = client.push(&hs[..5]);
    assert!(frames.is_empty(), "a split protocol header waits for the rest");
    let frames = client.push(&hs[5..]);
    let names: Vec<String> = frames
        .iter()
        .map(|f| match f {
            FrameView::ProtocolHeader { .. } => "header".to_string(),
            FrameView::Method { name, .. } => name.to_string(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["header", "connection.start-ok", "connection.tune-ok", "connection.open", "channel.open"]);
    tb.send(p, 0.0, &hs);
    tb.send(c, 0.0, &hs);
    tb.send(p, 0.0, &bench::setup(3));
    tb.send(c, 0.0, &bench::consume());
    let mut server = Decoder::new(false);
    for (conn, data) in drain(&mut tb) {
        if conn == c {
            server.push(&data);
        }
    }
    tb.send(p, 0.0, &bench::publishes(10, 16));
    let mut delivered = 0;
    let mut bodies = 0;
    for (conn, data) in drain(&mut tb) {
        assert_eq!(conn, c, "only the consumer gets output (no confirms)");
        for f in server.push(&data) {
            match f {
                FrameView::Method { name: "basic.deliver", fields, .. } => {
                    assert!(fields.contains("routing_key: \"k.0.x\""), "{fields}");
                    delivered += 1;
                }
                FrameView::Body { preview, .. } => {
                    assert_eq!(preview, "x".repeat(16));
                    bodies += 1;
                }
                _ => {}
            }
        }
    }
    assert_eq!((delivered, bodies), (10, 10));
    let s = tb.snapshot_data();
    assert_eq!(s.connections.len(), 2);
    assert!(s.consumers.iter().any(|k| k["consumer_tag"] == "bench" && k["ack_required"] == false));
    assert_eq!(s.overview["message_stats"]["deliver_no_ack"], json!(10));
}

/// Messages and refusals as the management API gives them
/// (`broker_core::management::json`): no properties is `[]`, a body that is
/// not UTF-8 is base64, an unknown ack mode or an out-of-range
/// `delivery_mode` is refused with the API's reason.
#[test]
fn messages_and_refusals_are_the_apis() {
    let mut tb = TabBroker::create(1_000, 7).expect("the tab configuration is valid");
    tb.run_op(json!({"op": "queue.declare", "name": "m"})).unwrap();
    let none = convert::properties_from_json(&json!({})).unwrap();
    assert!(tb.broker().publish_as("guest", "/", "", "m", &none, bytes::Bytes::from_static(b"\xff\x00")).unwrap());
    let rich = convert::properties_from_json(&json!({"delivery_mode": 2, "headers": {"n": 1}, "cluster_id": "c"})).unwrap();
    assert!(tb.broker().publish_as("guest", "/", "", "m", &rich, bytes::Bytes::from_static(b"hi")).unwrap());
    let browsed = tb.browse_messages("m", 10);
    assert_eq!(
        browsed[0],
        json!({"payload_bytes": 2, "redelivered": false, "exchange": "", "routing_key": "m", "message_count": 1,
               "properties": [], "payload": "/wA=", "payload_encoding": "base64"})
    );
    assert_eq!(browsed[1]["properties"], json!({"delivery_mode": 2, "headers": {"n": 1}, "cluster_id": "c"}));
    assert_eq!((browsed[1]["payload"].as_str(), browsed[1]["payload_encoding"].as_str()), (Some("hi"), Some("string")));
    assert_eq!(tb.get_messages("m", 1, "nack").unwrap_err(), r#"["unsupported_ackmode","nack"]"#);
    assert_eq!(convert::properties_from_json(&json!({"delivery_mode": 300})).unwrap_err(), r#"["not_int","delivery_mode"]"#);
    // A get shows what browse showed, and takes it.
    assert_eq!(tb.get_messages("m", 5, "ack_requeue_false").unwrap(), browsed);
    assert!(tb.browse_messages("m", 10).is_empty());
}

#[test]
fn definitions_export_and_import_through_the_core_module() {
    let mut tb = TabBroker::create(1_000, 7).expect("the tab configuration is valid");
    tb.run_op(json!({"op": "exchange.declare", "name": "logs", "type": "topic", "durable": true})).unwrap();
    tb.run_op(json!({"op": "queue.declare", "name": "q", "durable": true, "arguments": {"x-message-ttl": 5000}})).unwrap();
    tb.run_op(json!({"op": "bind", "source": "logs", "destination": "q", "routing_key": "*.orange.*"})).unwrap();
    let doc = tb.definitions_json();
    assert_eq!(
        doc["queues"],
        json!([{"name": "q", "vhost": "/", "durable": true, "auto_delete": false, "arguments": {"x-message-ttl": 5000}}])
    );

    let mut other = TabBroker::create(0, 7).expect("the tab configuration is valid");
    assert_eq!(other.import_definitions_json(&doc), Ok(vec![]));
    assert_eq!(other.definitions_json(), doc, "the same document, as the gateway's export and import");
    let plain = json!({"users": [{"name": "ann", "password": "pw", "tags": ""}]});
    other.import_definitions_json(&plain).unwrap();
    assert!(other.broker().authenticate("ann", "pw").is_some());
    let nowhere = json!({"queues": [{"name": "q", "vhost": "nowhere", "durable": true}]});
    assert_eq!(other.import_definitions_json(&nowhere), Err(r#"["no_such_vhost","nowhere"]"#.to_string()));
    assert_eq!(other.import_definitions_json(&json!([])), Err("failed_to_parse_json".to_string()));
    // A binding its exchange type refuses is skipped with the line warren logs.
    let bad_match = json!({
        "exchanges": [{"name": "h", "vhost": "/", "type": "headers", "durable": false, "auto_delete": false, "internal": false, "arguments": {}}],
        "bindings": [{"source": "h", "vhost": "/", "destination": "q", "destination_type": "queue", "routing_key": "", "arguments": {"x-match": "foo"}}],
    });
    assert_eq!(
        other.import_definitions_json(&bad_match),
        Ok(vec!["binding skipped in vhost '/': PRECONDITION_FAILED - Invalid x-match field value <<\"foo\">>; expected all, any, all-with-x, or any-with-x".to_string()])
    );
}
