//! The reference client: the same load driven through `lapin` (tokio,
//! current-thread runtime), for cross-checking the raw client's counts and
//! latencies at rates lapin can sustain. It is not lean and not meant to
//! be: every message is its own publish call and its own ack
//! (`multiple = false`).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};

use crate::load::{Load, RunResult, Topology};
use crate::procfs::{now_ns, Sample};
use crate::track::{write_stamp, Tracker};
use crate::wire::{Credentials, SyncConn};
use crate::{load, setup};

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    acked: AtomicU64,
    nacked: AtomicU64,
    returned: AtomicU64,
}

fn uri(addr: SocketAddr, creds: &Credentials) -> String {
    let vhost: String =
        creds.vhost.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
    format!("amqp://{}:{}@{}/{}", creds.user, creds.password, addr, vhost)
}

pub fn run(addr: SocketAddr, creds: &Credentials, load: &Load, broker_pid: Option<u32>) -> Result<RunResult, String> {
    let topo = Topology::new(&load::run_id(), load);
    let mut setup_conn = SyncConn::open(addr, creds, "warren-bench setup").map_err(|e| format!("setup connection: {e}"))?;
    setup::declare(&mut setup_conn, load, &topo).map_err(|e| format!("declare: {e}"))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let result = rt.block_on(run_async(uri(addr, creds), load.clone(), topo.clone(), broker_pid));
    drop(rt);
    let _ = setup::delete(&mut setup_conn, &topo);
    setup_conn.close();
    result
}

async fn run_async(uri: String, load: Load, topo: Topology, broker_pid: Option<u32>) -> Result<RunResult, String> {
    let e = |what: &'static str| move |err: lapin::Error| format!("lapin {what}: {err}");
    let tracker = Arc::new(Mutex::new(Tracker::new(&topo, load.exchange, load.producers, load.consumers)));
    let failure: Arc<Mutex<Option<String>>> = Arc::default();
    let mut connections = Vec::new();

    for c in 0..load.consumers {
        let conn = Connection::connect(&uri, ConnectionProperties::default()).await.map_err(e("connect"))?;
        let ch = conn.create_channel().await.map_err(e("channel.open"))?;
        if !load.auto_ack && load.prefetch > 0 {
            ch.basic_qos(load.prefetch, BasicQosOptions::default()).await.map_err(e("basic.qos"))?;
        }
        let queue = topo.queue_of_consumer(c);
        let mut consumer = ch
            .basic_consume(
                topo.queues[queue].as_str().into(),
                format!("c{c}").as_str().into(),
                BasicConsumeOptions { no_ack: load.auto_ack, ..Default::default() },
                FieldTable::default(),
            )
            .await
            .map_err(e("basic.consume"))?;
        let tracker = tracker.clone();
        let failure = failure.clone();
        let auto_ack = load.auto_ack;
        tokio::spawn(async move {
            while let Some(d) = consumer.next().await {
                let d = match d {
                    Ok(d) => d,
                    Err(err) => {
                        *failure.lock().unwrap() = Some(format!("consumer {c}: {err}"));
                        return;
                    }
                };
                tracker.lock().unwrap().record(queue, c, &d.data, now_ns());
                if !auto_ack {
                    if let Err(err) = d.acker.ack(BasicAckOptions { multiple: false }).await {
                        *failure.lock().unwrap() = Some(format!("consumer {c} ack: {err}"));
                        return;
                    }
                }
            }
        });
        connections.push(conn);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let counters: Vec<Arc<Counters>> = (0..load.producers).map(|_| Arc::default()).collect();
    let mut producer_tasks = Vec::new();
    let mut channels = Vec::new();
    for _ in 0..load.producers {
        let conn = Connection::connect(&uri, ConnectionProperties::default()).await.map_err(e("connect"))?;
        let ch = conn.create_channel().await.map_err(e("channel.open"))?;
        if load.confirm.is_some() {
            ch.confirm_select(ConfirmSelectOptions::default()).await.map_err(e("confirm.select"))?;
        }
        connections.push(conn);
        channels.push(ch);
    }
    // The rate schedule starts once every connection is up, as the raw client's does.
    let start = tokio::time::Instant::now();
    for (p, ch) in channels.into_iter().enumerate() {
        let exchange = topo.exchange.clone();
        let key = topo.routing_key(load.exchange, p);
        let counters = counters[p].clone();
        let stop = stop.clone();
        let failure = failure.clone();
        let load = load.clone();
        producer_tasks.push(tokio::spawn(async move {
            let props = if load.persistent { BasicProperties::default().with_delivery_mode(2) } else { BasicProperties::default() };
            let mut body = vec![0u8; load.size];
            let mut inflight = VecDeque::new();
            let window = load.confirm.unwrap_or(0) as usize;
            let mut seq: u64 = 0;
            while !stop.load(Ordering::Relaxed) && load.count.is_none_or(|n| seq < n) {
                if let Some(rate) = load.rate {
                    tokio::time::sleep_until(start + Duration::from_secs_f64(seq as f64 / rate)).await;
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                while window > 0 && inflight.len() >= window {
                    settle(inflight.pop_front().unwrap(), &counters).await;
                }
                write_stamp(&mut body, now_ns(), p as u32, seq as u32);
                let confirm = ch
                    .basic_publish(exchange.as_str().into(), key.as_str().into(), BasicPublishOptions::default(), &body, props.clone())
                    .await;
                match confirm {
                    Ok(c) => {
                        if window > 0 {
                            inflight.push_back(c);
                        }
                    }
                    Err(err) => {
                        *failure.lock().unwrap() = Some(format!("producer {p}: {err}"));
                        return;
                    }
                }
                seq += 1;
                counters.published.store(seq, Ordering::Relaxed);
                // Settle confirms that are already in without waiting.
                while let Some(front) = inflight.front_mut() {
                    match futures_lite::future::poll_once(front).await {
                        Some(r) => {
                            inflight.pop_front();
                            count(r, &counters);
                        }
                        None => break,
                    }
                }
            }
            while let Some(c) = inflight.pop_front() {
                settle(c, &counters).await;
            }
        }));
    }

    let snap = |tracker: &Tracker| {
        (
            Sample::take(broker_pid),
            counters.iter().map(|c| c.published.load(Ordering::Relaxed)).sum::<u64>(),
            counters.iter().map(|c| c.acked.load(Ordering::Relaxed)).sum::<u64>(),
            tracker.delivered,
        )
    };
    let count_mode = load.count.is_some();
    if !count_mode {
        tokio::time::sleep(load.warmup).await;
    }
    let s0 = {
        let mut t = tracker.lock().unwrap();
        t.recording = true;
        snap(&t)
    };
    if count_mode {
        for t in producer_tasks.drain(..) {
            let _ = t.await;
        }
    } else {
        tokio::time::sleep(load.duration).await;
    }
    let s1 = {
        let mut t = tracker.lock().unwrap();
        t.recording = false;
        snap(&t)
    };
    stop.store(true, Ordering::Relaxed);
    for t in producer_tasks {
        let _ = t.await;
    }
    let published: Vec<u64> = counters.iter().map(|c| c.published.load(Ordering::Relaxed)).collect();
    let deadline = Instant::now() + load.drain_timeout;
    let mut drained = false;
    while Instant::now() < deadline {
        if tracker.lock().unwrap().outstanding(&published) == 0 {
            drained = true;
            break;
        }
        if failure.lock().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if let Some(f) = failure.lock().unwrap().take() {
        return Err(f);
    }
    for conn in connections {
        let _ = conn.close(200, "bye".into()).await;
    }
    let t = tracker.lock().unwrap();
    let (missing, undrained) = t.verdict(&published);
    let sum = |f: fn(&Counters) -> &AtomicU64| counters.iter().map(|c| f(c).load(Ordering::Relaxed)).sum::<u64>();
    Ok(RunResult {
        client: "lapin",
        secs: s1.0.at.duration_since(s0.0.at).as_secs_f64(),
        published: s1.1 - s0.1,
        confirmed: s1.2 - s0.2,
        consumed: s1.3 - s0.3,
        total_published: published.iter().sum(),
        total_confirmed: sum(|c| &c.acked),
        total_nacked: sum(|c| &c.nacked),
        total_consumed: t.delivered,
        returned: sum(|c| &c.returned),
        redelivered: 0,
        missing,
        undrained,
        duplicates: t.duplicates,
        out_of_order: t.out_of_order,
        malformed: t.malformed,
        blocked: 0,
        latency: t.latency(),
        gen_cpu: s1.0.self_cpu - s0.0.self_cpu,
        broker_cpu: s1.0.broker_cpu.zip(s0.0.broker_cpu).map(|(b, a)| b - a),
        broker_disk: s1.0.broker_disk.zip(s0.0.broker_disk).map(|(b, a)| b.saturating_sub(a)),
        drained,
    })
}

async fn settle(c: lapin::PublisherConfirm, counters: &Counters) {
    count(c.await, counters);
}

fn count(r: lapin::Result<lapin::Confirmation>, counters: &Counters) {
    match r {
        Ok(c) if c.is_nack() => counters.nacked.fetch_add(1, Ordering::Relaxed),
        Ok(lapin::Confirmation::Ack(Some(_))) => {
            counters.returned.fetch_add(1, Ordering::Relaxed);
            counters.acked.fetch_add(1, Ordering::Relaxed)
        }
        Ok(_) => counters.acked.fetch_add(1, Ordering::Relaxed),
        Err(_) => counters.nacked.fetch_add(1, Ordering::Relaxed),
    };
}
