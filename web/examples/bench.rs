//! Native half of the routing benchmark: the same `TabBroker` calls and the
//! same client octets (`web::bench`) that `tests/playground/bench.js` runs
//! in headless Chromium, so the two rates compare wasm with native.
//!
//! cargo run --release -p web --example bench -- [--bindings N] [--messages M] [--batch B] [--size S]
//!
//! Prints one human line and one JSON line (`{"native_msgs_per_sec": …}`).

use std::time::Instant;

use web::{bench, TabBroker};

fn arg(args: &[String], name: &str, default: u32) -> u32 {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn drain(tb: &mut TabBroker) -> usize {
    let mut n = 0;
    while let Some(mut o) = tb.poll() {
        n += o.take_data().len();
    }
    n
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bindings = arg(&args, "--bindings", 100);
    let messages = arg(&args, "--messages", 1_000_000);
    let batch = arg(&args, "--batch", 1000).max(1);
    let size = arg(&args, "--size", 16);

    let mut tb = TabBroker::create(0, 1).expect("the tab configuration is valid");
    let p = tb.connect(0.0, Some("bench publisher".into()));
    let c = tb.connect(0.0, Some("bench consumer".into()));
    tb.send(p, 0.0, &bench::handshake());
    tb.send(c, 0.0, &bench::handshake());
    tb.send(p, 0.0, &bench::setup(bindings));
    tb.send(c, 0.0, &bench::consume());
    drain(&mut tb);
    let octets = bench::publishes(batch, size);
    // Warm up, then measure.
    for _ in 0..(20_000 / batch).max(1) {
        tb.send(p, 0.0, &octets);
        drain(&mut tb);
    }
    let before = tb.broker().overview().totals.deliver_no_ack;
    let rounds = (messages / batch).max(1);
    let start = Instant::now();
    let mut out = 0usize;
    for _ in 0..rounds {
        tb.send(p, 0.0, &octets);
        out += drain(&mut tb);
    }
    let secs = start.elapsed().as_secs_f64();
    let delivered = tb.broker().overview().totals.deliver_no_ack - before;
    assert_eq!(delivered, (rounds * batch) as u64, "every message is delivered");
    let rate = delivered as f64 / secs;
    println!(
        "native: {delivered} messages of {size} B through a topic exchange with {bindings} bindings in {secs:.3} s: {rate:.0} msgs/s ({out} octets out)"
    );
    println!(
        "{{\"native_msgs_per_sec\": {rate:.0}, \"messages\": {delivered}, \"bindings\": {bindings}, \"size\": {size}, \"batch\": {batch}}}"
    );
}
