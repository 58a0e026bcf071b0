//! `cargo xtask` — Warren's build, run and test commands.
//!
//! * `cargo xtask test` — the one test command: wasm check of the core, all
//!   Rust tests, then the Python (pika, kombu) and Node (amqplib) interop suites
//!   against a freshly started `warren`, then AMQP over WebSocket
//!   (`tests/ws`: @cloudamqp/amqp-client from Node and headless Chromium),
//!   then the dashboard (`tests/dashboard`: www/ in headless Chromium), then
//!   the playground (`tests/playground`: the wasm pkg in Node and Chromium).
//! * `cargo xtask build-web` — only the browser build (`www/pkg`).
//! * `cargo xtask run [-- WARREN ARGS]` — builds everything (including the
//!   browser build in `www/pkg`) and runs `warren` in the foreground.
//! * `cargo xtask bench [-- ARGS]` — builds `warren` and `warren-bench` in
//!   release and compares Warren with RabbitMQ (`bench/README.md`).
//! * `cargo xtask soak [--cycles N] [--seed S] [--release]` — the crash
//!   harness (`gateway/tests/durability_crash.rs`) for many kill cycles.
//! * `cargo xtask load [-- ARGS]` — builds `warren` and `warren-load` in
//!   release: 10k connections, busy channels, a flood to the memory alarm,
//!   a probe's response times (`gateway/src/bin/warren-load.rs`).
//! * `cargo xtask fuzz [--seconds N] [TARGET…]` — each cargo-fuzz target in
//!   `fuzz/` for N seconds (default 60) on nightly; installs nightly and
//!   cargo-fuzz when missing.
//!
//! Plain `std::process::Command`; no dependencies. One module per command
//! (`test`, `run`, `bench` with `load`, `soak`, `fuzz`, `web` for
//! build-web), sharing `process` (running commands), `report` (the test
//! summary), `warren` (a broker for the interop suites) and `clients`
//! (Chromium, the Python venv).

mod bench;
mod clients;
mod fuzz;
mod process;
mod report;
mod run;
mod soak;
mod test;
mod warren;
mod web;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test::test(&args[1..]),
        Some("run") => run::run(&args[1..]),
        Some("build-web") => web::build_web_pkg(&process::root()),
        Some("bench") => bench::bench(&args[1..]),
        Some("soak") => soak::soak(&args[1..]),
        Some("fuzz") => fuzz::fuzz(&args[1..]),
        Some("load") => bench::load(&args[1..]),
        Some("-h" | "--help" | "help") | None => {
            print_help();
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(format!("unknown command {other:?} (try `cargo xtask help`)")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_help() {
    println!(
        "\
usage: cargo xtask <command>

commands:
  test        wasm check of broker-core, `cargo test --workspace`, then the
              Python (pika, kombu) and Node (amqplib) interop suites against a
              freshly started warren, then the WebSocket suite (tests/ws,
              Node and Debian's headless Chromium; apt-installs chromium
              when missing and run as root), then the dashboard suite
              (tests/dashboard, same Chromium), then the playground suite
              (tests/playground: builds www/pkg, Node + same Chromium).
              Exits non-zero on any failure.
  build-web   build the wasm bindings into www/pkg only (then any static
              file server can serve www/playground.html)
  run [-- ARGS]
              build everything (incl. the wasm web crate into www/pkg) and run
              warren in the foreground (default: AMQP on 0.0.0.0:5672 and
              [::]:5672, data dir ./warren-data). ARGS go to warren.
  bench [-- ARGS]
              build warren and warren-bench in release and run
              `warren-bench compare`: Warren vs RabbitMQ, scenario by
              scenario (bench/README.md). ARGS go to the comparison, e.g.
              `--reps 5 --markdown --crosscheck`.
  soak [--cycles N] [--seed S] [--release]
              the crash harness (gateway/tests/durability_crash.rs) for N
              kill-and-restart cycles (default 300): warren SIGKILLed at
              random moments under confirmed publishing, every confirmed
              message checked after each restart. --seed replays the random
              choices of an earlier run; --release builds optimized.
  load [-- ARGS]
              build warren and warren-load in release and run the load
              check: 10,000 connections held, 100 channels on a few, a
              queue flooded to the memory alarm, every confirmed message
              consumed, while a probe's passive declare every 100 ms must
              answer within 100 ms. ARGS go to warren-load (--help).
  fuzz [--seconds N] [TARGET...]
              run each libFuzzer target in fuzz/ (frame, field_table,
              properties, connection; default all) for N seconds (default
              60), one after another, on nightly with cargo-fuzz (both
              installed when missing). New corpus entries go to fuzz/work/;
              fuzz/corpus/ holds the seeds. A crash fails the command and
              leaves its input in fuzz/artifacts/TARGET/ (see
              fuzz/regressions/README.md).
"
    );
}
