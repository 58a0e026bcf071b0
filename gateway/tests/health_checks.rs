//! What monitoring sees of resource alarms, with the status codes, JSON
//! bodies and metric lines RabbitMQ 3.10 gives (recorded from RabbitMQ
//! 3.10.8 with `disk_free_limit.absolute = 100000GB`, with
//! `vm_memory_high_watermark.absolute = 20MB`, and with neither):
//!
//! * no alarm: every health check answers 200 `{"status":"ok"}`,
//!   `/api/nodes` has `mem_alarm` and `disk_free_alarm` false, and the
//!   `rabbitmq_alarms_*` series are 0;
//! * a disk alarm (warren with `--disk-free-limit 100000GB`) or a memory
//!   alarm (`--memory-high-watermark 1MiB`, below any resident set): the
//!   alarm checks and `/api/healthchecks/node` answer 503 `failed` naming
//!   it, the virtual-hosts check and the aliveness test still pass;
//! * the aliveness test fails with 503 when its message does not come back
//!   (a `max-length` 0 policy), and with RabbitMQ's 400 when an
//!   inequivalent `aliveness-test` queue exists.
//!
//! (A core that is gone or does not answer fails every check: unit tests in
//! gateway/src/http/api/nodes.rs.)
//!
//! Against an external broker (`WARREN_TEST_AMQP_URL`, `WARREN_TEST_HTTP_URL`,
//! `WARREN_TEST_PROMETHEUS_URL`) the no-alarm and aliveness tests run as
//! they are; the alarm tests run only when `WARREN_TEST_ALARM` says which
//! alarm that broker is in (`disk` or `memory`), e.g. a RabbitMQ started
//! with one of the settings above.

#[path = "api_support/mod.rs"]
mod api_support;
mod common;

use api_support::Api;
use common::{unique, within, Broker};
use serde_json::{json, Value};

const CHECKS: [&str; 5] =
    ["/health/checks/alarms", "/health/checks/local-alarms", "/health/checks/virtual-hosts", "/healthchecks/node", "/aliveness-test/%2F"];

/// The broker to test an alarm on: a warren started with `args`, or the
/// external broker if `WARREN_TEST_ALARM` names `alarm`; None to skip.
fn broker_in_alarm(alarm: &str, args: &[&str]) -> Option<Broker> {
    let broker = Broker::start_with_args(args);
    if broker.is_external() && std::env::var("WARREN_TEST_ALARM").ok().as_deref() != Some(alarm) {
        eprintln!("skipped: set WARREN_TEST_ALARM={alarm} if the external broker is in a {alarm} alarm");
        return None;
    }
    Some(broker)
}

/// The one node of `/api/nodes`.
async fn node(api: &Api) -> Value {
    let r = api.get("/nodes").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body[0].clone()
}

/// The metrics text of `path`, if the broker's metrics port is known.
async fn metrics(broker: &Broker, path: &str) -> Option<String> {
    let base = broker.prometheus_url.as_ref()?;
    let resp = within("scrape", reqwest::get(format!("{base}{path}"))).await.expect("scrape");
    assert_eq!(resp.status().as_u16(), 200);
    Some(within("scrape body", resp.text()).await.expect("body"))
}

/// The value of the unlabelled sample `name`.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// The alarm series (on `/metrics` only, as in RabbitMQ 3.10) with their
/// TYPE and HELP lines and values, and the memory and disk figures on both
/// endpoints; returns the aggregated text.
async fn check_metrics(broker: &Broker, disk: u8, memory: u8) -> Option<String> {
    let text = metrics(broker, "/metrics").await?;
    for (name, help, value) in [
        ("rabbitmq_alarms_file_descriptor_limit", "is 1 if file descriptor limit alarm is in effect", 0),
        ("rabbitmq_alarms_free_disk_space_watermark", "is 1 if free disk space watermark alarm is in effect", disk),
        ("rabbitmq_alarms_memory_used_watermark", "is 1 if VM memory watermark alarm is in effect", memory),
    ] {
        let lines = format!("# TYPE {name} untyped\n# HELP {name} {help}\n{name} {value}\n");
        assert!(text.contains(&lines), "{lines} not in /metrics");
    }
    let per_object = metrics(broker, "/metrics/per-object").await?;
    assert!(!per_object.contains("rabbitmq_alarms_"), "alarms are on /metrics only");
    for (name, help) in [
        ("rabbitmq_disk_space_available_bytes", "Disk space available in bytes"),
        ("rabbitmq_resident_memory_limit_bytes", "Memory high watermark in bytes"),
        ("rabbitmq_disk_space_available_limit_bytes", "Free disk space low watermark in bytes"),
    ] {
        for t in [&text, &per_object] {
            assert!(t.contains(&format!("# TYPE {name} gauge\n# HELP {name} {help}\n{name} ")), "{name}");
            assert!(sample(t, name).is_some_and(|v| v > 0.0), "{name}");
        }
    }
    Some(text)
}

#[tokio::test]
async fn without_an_alarm_every_health_check_passes() {
    let broker = Broker::start();
    let Some(api) = Api::new(&broker) else { return };
    for path in CHECKS {
        let mut r = api.get(path).await;
        // RabbitMQ counts a vhost that another test is creating or deleting
        // as down for a moment (503 "Some virtual hosts are down").
        for _ in 0..50 {
            if r.status == 200 || !path.ends_with("virtual-hosts") || api.warren {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            r = api.get(path).await;
        }
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!((r.status, r.body), (200, json!({"status": "ok"})), "{path}");
    }
    let n = node(&api).await;
    assert_eq!((n["mem_alarm"].clone(), n["disk_free_alarm"].clone()), (json!(false), json!(false)), "{n}");
    for field in ["mem_used", "mem_limit", "disk_free", "disk_free_limit"] {
        assert!(n[field].as_u64().is_some_and(|v| v > 0), "{field}: {n}");
    }
    assert!(n["mem_used"].as_u64() < n["mem_limit"].as_u64());
    assert!(n["disk_free"].as_u64() > n["disk_free_limit"].as_u64());
    if api.warren {
        // The defaults: 0.4 of RAM and 50MB, as RabbitMQ's.
        assert_eq!(n["disk_free_limit"], 50_000_000);
        let ram = std::fs::read_to_string("/proc/meminfo").unwrap();
        let kib: u64 = ram.lines().find_map(|l| l.strip_prefix("MemTotal:")).unwrap().trim().trim_end_matches("kB").trim().parse().unwrap();
        assert_eq!(n["mem_limit"], (kib as f64 * 1024.0 * 0.4) as u64);
    }
    if let Some(text) = check_metrics(&broker, 0, 0).await {
        assert_eq!(sample(&text, "rabbitmq_resident_memory_limit_bytes"), n["mem_limit"].as_f64());
        assert_eq!(sample(&text, "rabbitmq_disk_space_available_limit_bytes"), n["disk_free_limit"].as_f64());
    }
}

/// During one alarm (`resource` as the alarm lists name it, `atom` as the
/// node check's Erlang term does): the alarm and node checks fail with
/// RabbitMQ's bodies; virtual-hosts and aliveness are not an alarm's
/// concern, as in RabbitMQ.
async fn expect_failing_checks(api: &Api, name: &str, resource: &str, atom: &str) {
    let alarms = json!([{"node": name, "resource": resource}]);
    let r = api.get("/health/checks/alarms").await;
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        (r.status, r.body),
        (503, json!({"status": "failed", "reason": "There are alarms in effect in the cluster", "alarms": alarms}))
    );
    let r = api.get("/health/checks/local-alarms").await;
    assert_eq!(
        (r.status, r.body),
        (503, json!({"status": "failed", "reason": "There are alarms in effect on the node", "alarms": alarms}))
    );
    let r = api.get("/healthchecks/node").await;
    let reason = format!("resource alarm(s) in effect:[{{resource_limit,{atom},{name}}}]");
    assert_eq!((r.status, r.body), (503, json!({"status": "failed", "reason": reason})));
    for path in ["/health/checks/virtual-hosts", "/aliveness-test/%2F"] {
        let r = api.get(path).await;
        assert_eq!((r.status, r.body), (200, json!({"status": "ok"})), "{path}");
    }
}

#[tokio::test]
async fn a_disk_alarm_fails_the_alarm_and_node_checks() {
    let Some(broker) = broker_in_alarm("disk", &["--disk-free-limit", "100000GB"]) else {
        return;
    };
    let Some(api) = Api::new(&broker) else { return };
    let n = node(&api).await;
    let name = n["name"].as_str().unwrap().to_string();
    assert_eq!((n["disk_free_alarm"].clone(), n["mem_alarm"].clone()), (json!(true), json!(false)), "{n}");
    assert_eq!(n["disk_free_limit"], 100_000_000_000_000u64);
    assert!(n["disk_free"].as_u64().is_some_and(|f| f > 0 && f < 100_000_000_000_000), "{n}");

    expect_failing_checks(&api, &name, "disk space", "disk").await;
    if let Some(text) = check_metrics(&broker, 1, 0).await {
        assert_eq!(sample(&text, "rabbitmq_disk_space_available_limit_bytes"), Some(1e14));
    }
}

#[tokio::test]
async fn a_memory_alarm_fails_the_alarm_and_node_checks() {
    let Some(broker) = broker_in_alarm("memory", &["--memory-high-watermark", "1MiB"]) else {
        return;
    };
    let Some(api) = Api::new(&broker) else { return };
    let n = node(&api).await;
    let name = n["name"].as_str().unwrap().to_string();
    assert_eq!((n["mem_alarm"].clone(), n["disk_free_alarm"].clone()), (json!(true), json!(false)), "{n}");
    assert!(n["mem_used"].as_u64() > n["mem_limit"].as_u64(), "{n}");
    if api.warren {
        assert_eq!(n["mem_limit"], 1_048_576);
    }

    expect_failing_checks(&api, &name, "memory", "memory").await;
    if let Some(text) = check_metrics(&broker, 0, 1).await {
        assert_eq!(sample(&text, "rabbitmq_resident_memory_limit_bytes"), n["mem_limit"].as_f64());
    }
}

#[tokio::test]
async fn the_aliveness_test_fails_when_its_message_cannot_come_back() {
    let broker = Broker::start();
    let Some(api) = Api::new(&broker) else { return };

    // A policy that lets the aliveness-test queue hold nothing: 503.
    let vhost = unique("alive-empty");
    assert_eq!(api.put(&format!("/vhosts/{vhost}"), json!({})).await.status, 201);
    let policy = json!({"pattern": "^aliveness-test$", "definition": {"max-length": 0}, "apply-to": "queues"});
    assert_eq!(api.put(&format!("/policies/{vhost}/nothing"), policy).await.status, 201);
    let r = api.get(&format!("/aliveness-test/{vhost}")).await;
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!((r.status, r.body), (503, json!({"status": "failed", "reason": "aliveness-test queue is empty"})));
    assert_eq!(api.delete(&format!("/policies/{vhost}/nothing")).await.status, 204);
    let r = api.get(&format!("/aliveness-test/{vhost}")).await;
    assert_eq!((r.status, r.body), (200, json!({"status": "ok"})));

    // An inequivalent aliveness-test queue already there: the declare's
    // error, as RabbitMQ's 400.
    let other = unique("alive-durable");
    assert_eq!(api.put(&format!("/vhosts/{other}"), json!({})).await.status, 201);
    assert_eq!(api.put(&format!("/queues/{other}/aliveness-test"), json!({"durable": true})).await.status, 201);
    api.get(&format!("/aliveness-test/{other}")).await.assert_error(
        400,
        "bad_request",
        &format!("406 PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'aliveness-test' in vhost '{other}': received 'false' but current is 'true'"),
    );

    for v in [vhost, other] {
        assert_eq!(api.delete(&format!("/vhosts/{v}")).await.status, 204);
    }
}
