//! `cargo xtask` — Warren's build, run and test commands.
//!
//! * `cargo xtask test` — the one test command: wasm check of the core, all
//!   Rust tests, then the Python (pika) and Node (amqplib) interop suites
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
//! Plain `std::process::Command`; no dependencies.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const WASM_TARGET: &str = "wasm32-unknown-unknown";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("run") => run(&args[1..]),
        Some("build-web") => build_web_pkg(&root()),
        Some("bench") => bench(&args[1..]),
        Some("soak") => soak(&args[1..]),
        Some("fuzz") => fuzz(&args[1..]),
        Some("load") => load(&args[1..]),
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
              Python (pika) and Node (amqplib) interop suites against a
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

// ---------------------------------------------------------------------------
// Paths and small process helpers
// ---------------------------------------------------------------------------

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                root().join(d)
            }
        }
        None => root().join("target"),
    }
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

fn show(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` with inherited stdio; Err with a message on failure.
fn status(mut cmd: Command) -> Result<(), String> {
    println!("xtask: $ {}", show(&cmd));
    let st = cmd
        .status()
        .map_err(|e| format!("cannot run `{}`: {e}", show(&cmd)))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({st})", show(&cmd)))
    }
}

/// Runs `cmd`, streaming its stdout/stderr through while keeping a copy.
/// Returns (success, combined output).
fn tee(mut cmd: Command) -> Result<(bool, String), String> {
    println!("xtask: $ {}", show(&cmd));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `{}`: {e}", show(&cmd)))?;
    fn pump<R: Read + Send + 'static>(r: R, to_stderr: bool) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut r = BufReader::new(r);
            let mut all = String::new();
            let mut line = Vec::new();
            loop {
                line.clear();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if to_stderr {
                            let _ = std::io::stderr().write_all(&line);
                        } else {
                            let _ = std::io::stdout().write_all(&line);
                        }
                        all.push_str(&String::from_utf8_lossy(&line));
                    }
                }
            }
            all
        })
    }
    let out = pump(child.stdout.take().unwrap(), false);
    let err = pump(child.stderr.take().unwrap(), true);
    let st = child.wait().map_err(|e| e.to_string())?;
    let mut text = out.join().unwrap_or_default();
    text.push_str(&err.join().unwrap_or_default());
    Ok((st.success(), text))
}

/// Output of `PROGRAM --version`, or None if it cannot be run.
fn version_of(program: impl AsRef<OsStr>) -> Option<String> {
    let out = Command::new(program).arg("--version").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let mut s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if s.is_empty() {
        s = String::from_utf8_lossy(&out.stderr).trim().to_string();
    }
    Some(s)
}

fn require_tool(program: &str, why: &str) -> Result<String, String> {
    version_of(program).ok_or_else(|| {
        format!("`{program}` was not found on PATH; it is needed {why}. Install it and retry.")
    })
}

fn unique_temp_dir(prefix: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()))
}

// ---------------------------------------------------------------------------
// wasm target
// ---------------------------------------------------------------------------

fn ensure_wasm_target() -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match installed {
        Ok(out) if out.status.success() => {
            if String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.trim() == WASM_TARGET)
            {
                return Ok(());
            }
            let mut c = Command::new("rustup");
            c.args(["target", "add", WASM_TARGET]);
            status(c)
        }
        _ => {
            // No rustup: the target may still be there (e.g. a distro toolchain).
            let sysroot = Command::new("rustc")
                .args(["--print", "sysroot"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default();
            if Path::new(&sysroot).join("lib/rustlib").join(WASM_TARGET).is_dir() {
                Ok(())
            } else {
                Err(format!(
                    "the Rust target {WASM_TARGET} is not installed and `rustup` is not \
                     available to add it; install rustup (https://rustup.rs) or the target"
                ))
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Starting and stopping warren
// ---------------------------------------------------------------------------

struct Warren {
    child: Option<Child>,
    port: u16,
    data_dir: PathBuf,
    log: PathBuf,
}

impl Warren {
    fn start(binary: &Path) -> Result<Warren, String> {
        let data_dir = unique_temp_dir("warren-xtask-data");
        let log = target_dir().join("xtask-warren.log");
        let log_file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut cmd = Command::new(binary);
        cmd.args(["--amqp-bind", "127.0.0.1:0", "--http-bind", "127.0.0.1:0", "--prometheus-bind", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        println!("xtask: $ {}", show(&cmd));
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Startup is over; keep draining so warren never blocks.
                    continue;
                }
            }
        });
        let mut warren = Warren {
            child: Some(child),
            port: 0,
            data_dir,
            log,
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    println!("xtask: warren: {line}");
                    if let Some(addr) = line.strip_prefix("warren: AMQP listening on ") {
                        if warren.port == 0 {
                            warren.port = addr
                                .rsplit(':')
                                .next()
                                .and_then(|p| p.parse().ok())
                                .ok_or_else(|| format!("cannot parse port from {line:?}"))?;
                        }
                    }
                    let ready = line == "warren: ready";
                    seen.push(line);
                    if ready {
                        break;
                    }
                }
                Err(_) => {
                    let tail = warren.log_tail();
                    return Err(format!(
                        "warren did not print `warren: ready` within {STARTUP_TIMEOUT:?}; \
                         stdout: {seen:?}\nstderr tail:\n{tail}"
                    ));
                }
            }
        }
        if warren.port == 0 {
            return Err(format!("warren is ready but printed no listening line: {seen:?}"));
        }
        Ok(warren)
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2F", self.port)
    }

    fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// SIGTERM, then wait; Err if it does not exit cleanly in time.
    fn stop(&mut self) -> Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Ok(Some(st)) = child.try_wait() {
            return Err(format!("warren had already exited ({st})"));
        }
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !sent {
            let _ = child.kill();
            let _ = child.wait();
            return Err("could not send SIGTERM to warren (no `kill`?)".into());
        }
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(st)) if st.success() => {
                    let _ = std::fs::remove_dir_all(&self.data_dir);
                    return Ok(());
                }
                Ok(Some(st)) => return Err(format!("warren exited with {st} after SIGTERM")),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "warren did not exit within {SHUTDOWN_TIMEOUT:?} of SIGTERM (killed)"
                    ));
                }
            }
        }
    }
}

impl Drop for Warren {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

// ---------------------------------------------------------------------------
// Test result counting (for the summary)
// ---------------------------------------------------------------------------

#[derive(Default, Clone, Copy)]
struct Counts {
    passed: u64,
    failed: u64,
    skipped: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.passed += o.passed;
        self.failed += o.failed;
        self.skipped += o.skipped;
    }
}

/// The number right before `word` in `line` (e.g. "12 passed").
fn number_before(line: &str, word: &str) -> Option<u64> {
    let idx = line.find(word)?;
    line[..idx].split_whitespace().last()?.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok()
}

/// Sums `test result: ok. N passed; M failed; K ignored` lines of cargo test.
fn cargo_counts(out: &str) -> Counts {
    let mut c = Counts::default();
    for line in out.lines().filter(|l| l.starts_with("test result:")) {
        c.passed += number_before(line, " passed").unwrap_or(0);
        c.failed += number_before(line, " failed").unwrap_or(0);
        c.skipped += number_before(line, " ignored").unwrap_or(0);
    }
    c
}

/// pytest's closing line, e.g. `==== 12 passed, 1 failed in 1.2s ====`.
fn pytest_counts(out: &str) -> Counts {
    let Some(line) = out
        .lines()
        .rev()
        .find(|l| l.contains(" passed") || l.contains(" failed") || l.contains(" error"))
    else {
        return Counts::default();
    };
    Counts {
        passed: number_before(line, " passed").unwrap_or(0),
        failed: number_before(line, " failed").unwrap_or(0) + number_before(line, " error").unwrap_or(0),
        skipped: number_before(line, " skipped").unwrap_or(0),
    }
}

/// node --test's TAP trailer: `# pass N`, `# fail N`, `# skipped N`.
fn node_counts(out: &str) -> Counts {
    let mut c = Counts::default();
    for line in out.lines() {
        let mut it = line.split_whitespace();
        if it.next() != Some("#") {
            continue;
        }
        let (Some(key), Some(n)) = (it.next(), it.next().and_then(|n| n.parse::<u64>().ok())) else {
            continue;
        };
        match key {
            "pass" => c.passed = n,
            "fail" | "cancelled" => c.failed += n,
            "skipped" | "todo" => c.skipped += n,
            _ => {}
        }
    }
    c
}

// ---------------------------------------------------------------------------
// cargo xtask test
// ---------------------------------------------------------------------------

struct Step {
    name: &'static str,
    ok: bool,
    note: String,
    secs: f64,
    counts: Option<Counts>,
}

struct Report {
    steps: Vec<Step>,
}

impl Report {
    fn record(&mut self, name: &'static str, started: Instant, r: Result<Option<Counts>, String>) -> bool {
        let secs = started.elapsed().as_secs_f64();
        let (ok, note, counts) = match r {
            Ok(c) => (c.map_or(true, |c| c.failed == 0), String::new(), c),
            Err(e) => (false, e, None),
        };
        println!("\nxtask: --- {name}: {} ({secs:.1}s)\n", if ok { "ok" } else { "FAILED" });
        self.steps.push(Step { name, ok, note, secs, counts });
        ok
    }
    fn skip(&mut self, name: &'static str, why: &str) {
        self.steps.push(Step {
            name,
            ok: false,
            note: format!("not run: {why}"),
            secs: 0.0,
            counts: None,
        });
    }
}

fn test(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("`cargo xtask test` takes no arguments (got {a:?})"));
    }
    let root = root();
    let mut report = Report { steps: Vec::new() };

    // Tools first, so a missing one fails fast with a clear message.
    let mut missing = Vec::new();
    for (tool, why) in [
        ("python3", "for the pika interop tests (tests/python)"),
        ("node", "for the amqplib interop tests (tests/node)"),
        ("npm", "to install tests/node's locked dependencies"),
    ] {
        match require_tool(tool, why) {
            Ok(v) => println!("xtask: found {tool}: {v}"),
            Err(e) => missing.push(e),
        }
    }
    if !missing.is_empty() {
        return Err(missing.join("\n"));
    }

    let t = Instant::now();
    let r = ensure_wasm_target().and_then(|()| {
        let mut c = cargo();
        c.args(["check", "-p", "broker-core", "--target", WASM_TARGET]);
        status(c)
    });
    report.record("broker-core builds for wasm32", t, r.map(|()| None));

    // Build every crate and test target first; this also produces the debug
    // `warren` binary (target/debug/warren) that the interop suites use, built
    // exactly as `cargo test` builds it, so nothing is compiled twice.
    let t = Instant::now();
    let r = (|| {
        let mut c = cargo();
        c.args(["test", "--workspace", "--no-run"]);
        status(c)
    })();
    let built = report.record("build workspace + warren (debug)", t, r.map(|()| None));

    if built {
        let t = Instant::now();
        let r = (|| {
            let mut c = cargo();
            c.args(["test", "--workspace"]);
            let (ok, out) = tee(c)?;
            let counts = cargo_counts(&out);
            if !ok && counts.failed == 0 {
                return Err("`cargo test --workspace` failed (see above)".into());
            }
            Ok(Some(counts))
        })();
        report.record("cargo test --workspace", t, r);
    } else {
        report.skip("cargo test --workspace", "the build failed");
    }
    let warren_bin = target_dir().join("debug").join(format!("warren{}", std::env::consts::EXE_SUFFIX));

    // Prepare the client environments before starting warren.
    let t = Instant::now();
    let venv_python = prepare_python_venv(&root);
    let py_ready = report.record("python venv (target/venv)", t, venv_python.as_ref().map(|_| None).map_err(Clone::clone));
    let t = Instant::now();
    let r = (|| {
        let mut c = Command::new("npm");
        c.args(["ci", "--no-audit", "--no-fund"])
            .current_dir(root.join("tests/node"));
        status(c)
    })();
    let node_ready = report.record("npm ci (tests/node)", t, r.map(|()| None));

    if built {
        let t = Instant::now();
        match Warren::start(&warren_bin) {
            Err(e) => {
                report.record("start warren", t, Err(e));
                report.skip("pytest (pika)", "warren did not start");
                report.skip("node --test (amqplib)", "warren did not start");
            }
            Ok(mut warren) => {
                report.record("start warren", t, Ok(None));
                let url = warren.url();
                println!("xtask: AMQP_URL={url}");

                let t = Instant::now();
                if let (true, Ok(py)) = (py_ready, &venv_python) {
                    let r = (|| {
                        let mut c = Command::new(py);
                        c.args(["-m", "pytest", "-p", "no:cacheprovider", "-v", "tests/python"])
                            .current_dir(&root)
                            .env("AMQP_URL", &url)
                            .env("PYTHONDONTWRITEBYTECODE", "1");
                        let (ok, out) = tee(c)?;
                        let counts = pytest_counts(&out);
                        if !ok && counts.failed == 0 {
                            return Err("pytest failed (see above)".into());
                        }
                        if counts.passed == 0 {
                            return Err("pytest ran no test".into());
                        }
                        Ok(Some(counts))
                    })();
                    report.record("pytest (pika)", t, r);
                } else {
                    report.skip("pytest (pika)", "the venv could not be prepared");
                }

                let t = Instant::now();
                if node_ready {
                    let r = (|| {
                        let mut c = Command::new("node");
                        c.args(["--test", "--test-timeout=120000"])
                            .current_dir(root.join("tests/node"))
                            .env("AMQP_URL", &url);
                        let (ok, out) = tee(c)?;
                        let counts = node_counts(&out);
                        if !ok && counts.failed == 0 {
                            return Err("node --test failed (see above)".into());
                        }
                        if counts.passed == 0 {
                            return Err("node --test ran no test".into());
                        }
                        Ok(Some(counts))
                    })();
                    report.record("node --test (amqplib)", t, r);
                } else {
                    report.skip("node --test (amqplib)", "npm ci failed");
                }

                let t = Instant::now();
                let r = warren.stop();
                let stopped = report.record("warren stops on SIGTERM", t, r.map(|()| None));
                let failed_clients = report
                    .steps
                    .iter()
                    .rev()
                    .take(3)
                    .any(|s| !s.ok);
                if failed_clients || !stopped {
                    println!(
                        "xtask: warren's log is in {} ; its tail:\n{}",
                        warren.log.display(),
                        warren.log_tail()
                    );
                }
            }
        }
    } else {
        report.skip("start warren", "the build failed");
        report.skip("pytest (pika)", "the build failed");
        report.skip("node --test (amqplib)", "the build failed");
    }

    // AMQP over WebSocket from Node and from Debian's headless Chromium. The
    // suite starts its own warren ($WARREN_BIN) with its test page as --www-dir.
    let t = Instant::now();
    let r = (|| {
        let mut c = Command::new("npm");
        c.args(["ci", "--no-audit", "--no-fund"]).current_dir(root.join("tests/ws"));
        status(c)
    })();
    let ws_ready = report.record("npm ci (tests/ws)", t, r.map(|()| None));
    let t = Instant::now();
    let chromium = ensure_chromium();
    let chromium_ready = report.record("chromium (Debian)", t, chromium.as_ref().map(|_| None).map_err(Clone::clone));
    if let (true, true, true, Ok(chromium)) = (built, ws_ready, chromium_ready, &chromium) {
        let t = Instant::now();
        let r = (|| {
            let mut c = Command::new("node");
            c.args(["--test", "--test-timeout=120000"])
                .current_dir(root.join("tests/ws"))
                .env("WARREN_BIN", &warren_bin)
                .env("CHROMIUM", chromium);
            let (ok, out) = tee(c)?;
            let counts = node_counts(&out);
            if !ok && counts.failed == 0 {
                return Err("node --test failed (see above)".into());
            }
            if counts.passed == 0 {
                return Err("node --test ran no test".into());
            }
            Ok(Some(counts))
        })();
        report.record("node --test (tests/ws: WebSocket)", t, r);
    } else {
        report.skip("node --test (tests/ws: WebSocket)", "the build, npm ci or chromium failed");
    }

    // The dashboard (www/) in Debian's headless Chromium, and its data layer
    // in Node. The suite starts its own warren ($WARREN_BIN) serving www/.
    let t = Instant::now();
    let r = (|| {
        let mut c = Command::new("npm");
        c.args(["ci", "--no-audit", "--no-fund"]).current_dir(root.join("tests/dashboard"));
        status(c)
    })();
    let dashboard_ready = report.record("npm ci (tests/dashboard)", t, r.map(|()| None));
    if let (true, true, true, Ok(chromium)) = (built, dashboard_ready, chromium_ready, &chromium) {
        let t = Instant::now();
        let r = (|| {
            let mut c = Command::new("node");
            c.args(["--test", "--test-timeout=120000"])
                .current_dir(root.join("tests/dashboard"))
                .env("WARREN_BIN", &warren_bin)
                .env("CHROMIUM", chromium);
            let (ok, out) = tee(c)?;
            let counts = node_counts(&out);
            if !ok && counts.failed == 0 {
                return Err("node --test failed (see above)".into());
            }
            if counts.passed == 0 {
                return Err("node --test ran no test".into());
            }
            Ok(Some(counts))
        })();
        report.record("node --test (tests/dashboard)", t, r);
    } else {
        report.skip("node --test (tests/dashboard)", "the build, npm ci or chromium failed");
    }

    // The playground (www/playground.html): the wasm bindings and in-tab
    // transport in Node, the page in Debian's headless Chromium from a static
    // server and from a started warren ($WARREN_BIN).
    let t = Instant::now();
    let r = build_web_pkg(&root);
    let pkg_ready = report.record("wasm pkg (web -> www/pkg)", t, r.map(|()| None));
    let t = Instant::now();
    let r = (|| {
        let mut c = Command::new("npm");
        c.args(["ci", "--no-audit", "--no-fund"]).current_dir(root.join("tests/playground"));
        status(c)
    })();
    let playground_ready = report.record("npm ci (tests/playground)", t, r.map(|()| None));
    if let (true, true, true, true, Ok(chromium)) = (built, pkg_ready, playground_ready, chromium_ready, &chromium) {
        let t = Instant::now();
        let r = (|| {
            let mut c = Command::new("node");
            c.args(["--test", "--test-timeout=180000"])
                .current_dir(root.join("tests/playground"))
                .env("WARREN_BIN", &warren_bin)
                .env("CHROMIUM", chromium);
            let (ok, out) = tee(c)?;
            let counts = node_counts(&out);
            if !ok && counts.failed == 0 {
                return Err("node --test failed (see above)".into());
            }
            if counts.passed == 0 {
                return Err("node --test ran no test".into());
            }
            Ok(Some(counts))
        })();
        report.record("node --test (tests/playground)", t, r);
    } else {
        report.skip("node --test (tests/playground)", "the build, wasm pkg, npm ci or chromium failed");
    }

    // Summary.
    println!("\nxtask: ================= summary =================");
    let mut total = Counts::default();
    for s in &report.steps {
        let counts = s
            .counts
            .map(|c| format!(" [{} passed, {} failed, {} skipped]", c.passed, c.failed, c.skipped))
            .unwrap_or_default();
        println!(
            "xtask: {:<6} {:<32} {:>6.1}s{}{}",
            if s.ok { "ok" } else { "FAILED" },
            s.name,
            s.secs,
            counts,
            if s.note.is_empty() { String::new() } else { format!("  -- {}", s.note) }
        );
        if let Some(c) = s.counts {
            total += c;
        }
    }
    let failed_steps: Vec<&str> = report.steps.iter().filter(|s| !s.ok).map(|s| s.name).collect();
    if failed_steps.is_empty() {
        println!("xtask: all {} steps ok", report.steps.len());
    } else {
        println!("xtask: failed steps: {}", failed_steps.join(", "));
    }
    println!(
        "xtask: {} passed, {} failed, {} skipped",
        total.passed, total.failed, total.skipped
    );
    if failed_steps.is_empty() {
        Ok(())
    } else {
        Err(format!("{} step(s) failed", failed_steps.len()))
    }
}

/// Debian's Chromium for the browser tests in tests/ws and tests/dashboard
/// ($CHROMIUM, default /usr/bin/chromium). Never a downloaded browser: when
/// it is missing and we run as root with apt-get, `apt-get install
/// chromium`; otherwise an error that says how to get it.
fn ensure_chromium() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        let p = PathBuf::from(p);
        return if p.exists() { Ok(p) } else { Err(format!("CHROMIUM={} does not exist", p.display())) };
    }
    let path = PathBuf::from("/usr/bin/chromium");
    if path.exists() {
        return Ok(path);
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !is_root || version_of("apt-get").is_none() {
        return Err("/usr/bin/chromium was not found; the browser tests (tests/ws, tests/dashboard) need Debian's \
                    Chromium: run `sudo apt-get install chromium` (or set CHROMIUM to a Chromium \
                    binary) and retry"
            .into());
    }
    println!("xtask: /usr/bin/chromium is missing; installing Debian's chromium with apt-get");
    let mut c = Command::new("apt-get");
    c.args(["update", "-qq"]).env("DEBIAN_FRONTEND", "noninteractive");
    if let Err(e) = status(c) {
        println!("xtask: warning: {e}; trying the install anyway");
    }
    let mut c = Command::new("apt-get");
    c.args(["install", "-y", "-qq", "chromium"]).env("DEBIAN_FRONTEND", "noninteractive");
    status(c)?;
    if path.exists() {
        Ok(path)
    } else {
        Err("apt-get installed chromium but /usr/bin/chromium is still missing".into())
    }
}

/// Creates target/venv (if needed) and installs tests/python/requirements.txt
/// (if it changed since the last install). Returns the venv's python.
fn prepare_python_venv(root: &Path) -> Result<PathBuf, String> {
    let venv = target_dir().join("venv");
    let bin = if cfg!(windows) { "Scripts" } else { "bin" };
    let py = venv.join(bin).join(if cfg!(windows) { "python.exe" } else { "python" });
    if !py.exists() {
        let mut c = Command::new("python3");
        c.args(["-m", "venv"]).arg(&venv);
        status(c).map_err(|e| {
            format!(
                "{e}\ncould not create a Python virtual environment; on Debian/Ubuntu \
                 `apt-get install python3-venv` provides the venv module"
            )
        })?;
    }
    let req_path = root.join("tests/python/requirements.txt");
    let req = std::fs::read_to_string(&req_path).map_err(|e| format!("{}: {e}", req_path.display()))?;
    let stamp = venv.join(".installed-requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(req.as_str()) {
        let mut c = Command::new(&py);
        c.args(["-m", "pip", "install", "--disable-pip-version-check", "-q", "-r"])
            .arg(&req_path);
        status(c)?;
        std::fs::write(&stamp, &req).map_err(|e| format!("{}: {e}", stamp.display()))?;
    }
    Ok(py)
}

// ---------------------------------------------------------------------------
// cargo xtask run
// ---------------------------------------------------------------------------

fn run(args: &[String]) -> Result<(), String> {
    let warren_args: Vec<String> = match args.first().map(String::as_str) {
        Some("--") => args[1..].to_vec(),
        _ => args.to_vec(),
    };
    let root = root();
    ensure_wasm_target()?;

    build_web_pkg(&root)?;

    // Everything else, then warren itself.
    let mut c = cargo();
    c.args(["build", "--workspace", "--release"]);
    status(c)?;
    let warren = target_dir().join("release").join(format!("warren{}", std::env::consts::EXE_SUFFIX));
    let mut c = Command::new(&warren);
    c.args(&warren_args).current_dir(&root);
    println!("xtask: $ {}   (Ctrl-C to stop)", show(&c));
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Replace this process so signals go straight to warren.
        let e = c.exec();
        Err(format!("cannot exec {}: {e}", warren.display()))
    }
    #[cfg(not(unix))]
    {
        status(c)
    }
}

/// The browser build: web -> wasm32 (release) -> wasm-bindgen --target web
/// -> www/pkg (the playground loads it; tests/playground loads it in Node).
fn build_web_pkg(root: &Path) -> Result<(), String> {
    ensure_wasm_target()?;
    let mut c = cargo();
    c.args(["build", "-p", "web", "--target", WASM_TARGET, "--release"]);
    status(c)?;
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).map_err(|e| format!("Cargo.lock: {e}"))?;
    match web_wasm_bindgen_version(&lock) {
        None => println!("xtask: the web crate does not depend on wasm-bindgen yet; skipping the wasm-bindgen step"),
        Some(version) => {
            ensure_wasm_bindgen_cli(&version)?;
            let wasm = target_dir().join(WASM_TARGET).join("release").join("web.wasm");
            let mut c = Command::new(wasm_bindgen_program());
            c.args(["--target", "web", "--out-dir"])
                .arg(root.join("www/pkg"))
                .arg(&wasm);
            status(c)?;
            println!("xtask: browser build written to www/pkg");
        }
    }
    Ok(())
}

/// The wasm-bindgen version the `web` package depends on, from Cargo.lock.
fn web_wasm_bindgen_version(lock: &str) -> Option<String> {
    let packages: Vec<BTreeMap<String, String>> = lock
        .split("[[package]]")
        .skip(1)
        .map(|block| {
            let mut m = BTreeMap::new();
            let mut in_deps = false;
            let mut deps = Vec::new();
            for line in block.lines() {
                let line = line.trim();
                if in_deps {
                    if line.starts_with(']') {
                        in_deps = false;
                    } else {
                        deps.push(line.trim_matches(|c| c == '"' || c == ',').to_string());
                    }
                } else if line.starts_with("dependencies = [") {
                    in_deps = !line.ends_with(']');
                } else if let Some((k, v)) = line.split_once(" = ") {
                    m.insert(k.to_string(), v.trim_matches('"').to_string());
                }
            }
            m.insert("deps".into(), deps.join("\n"));
            m
        })
        .collect();
    let web = packages.iter().find(|p| p.get("name").map(String::as_str) == Some("web"))?;
    let dep = web.get("deps")?.lines().find(|d| d.split(' ').next() == Some("wasm-bindgen"))?.to_string();
    // "wasm-bindgen" or "wasm-bindgen 0.2.x" when several versions are locked.
    if let Some((_, v)) = dep.split_once(' ') {
        return Some(v.to_string());
    }
    packages
        .iter()
        .find(|p| p.get("name").map(String::as_str) == Some("wasm-bindgen"))
        .and_then(|p| p.get("version").cloned())
}

fn wasm_bindgen_program() -> PathBuf {
    // Prefer the one `cargo install` puts in CARGO_HOME/bin (may not be on PATH).
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(home) = cargo_home {
        let p = home.join("bin").join(format!("wasm-bindgen{}", std::env::consts::EXE_SUFFIX));
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("wasm-bindgen")
}

fn ensure_wasm_bindgen_cli(version: &str) -> Result<(), String> {
    let have = version_of(wasm_bindgen_program());
    // `wasm-bindgen --version` prints e.g. "wasm-bindgen 0.2.100".
    if have.as_deref().and_then(|v| v.split_whitespace().nth(1)) == Some(version) {
        return Ok(());
    }
    println!(
        "xtask: installing wasm-bindgen-cli {version} (found: {})",
        have.as_deref().unwrap_or("none")
    );
    let mut c = cargo();
    c.args(["install", "wasm-bindgen-cli", "--locked", "--version", &format!("={version}")]);
    if status(c).is_ok() {
        return Ok(());
    }
    // The CLI's own lockfile can name a crate version the registry no longer
    // serves (yanked); then resolve its dependencies afresh.
    println!("xtask: `cargo install --locked` failed; retrying without --locked");
    let mut c = cargo();
    c.args(["install", "wasm-bindgen-cli", "--version", &format!("={version}")]);
    status(c)
}

// ---------------------------------------------------------------------------
// cargo xtask bench
// ---------------------------------------------------------------------------

/// Builds `warren` and `warren-bench` in release and runs the comparison;
/// ARGS go to `warren-bench compare`.
fn bench(args: &[String]) -> Result<(), String> {
    let mut build = cargo();
    build.args(["build", "--release", "-p", "gateway", "-p", "bench"]);
    status(build)?;
    let release = target_dir().join("release");
    let mut cmd = Command::new(release.join("warren-bench"));
    cmd.arg("compare").arg("--warren").arg(release.join("warren"));
    cmd.args(args.iter().skip_while(|a| *a == "--"));
    status(cmd)
}

/// Builds warren and warren-load in release and runs the load check.
fn load(args: &[String]) -> Result<(), String> {
    let mut build = cargo();
    build.args(["build", "--release", "-p", "gateway", "--bin", "warren", "--bin", "warren-load"]);
    status(build)?;
    let release = target_dir().join("release");
    let mut cmd = Command::new(release.join("warren-load"));
    cmd.arg("--warren").arg(release.join("warren"));
    cmd.args(args.iter().skip_while(|a| *a == "--"));
    status(cmd)
}

// ---------------------------------------------------------------------------
// cargo xtask soak
// ---------------------------------------------------------------------------

/// Runs the crash harness test for many cycles (it reads the cycle count
/// and seed from the environment).
fn soak(args: &[String]) -> Result<(), String> {
    let mut cycles = "300".to_string();
    let mut seed = None;
    let mut release = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--cycles" => cycles = it.next().ok_or("--cycles needs a number")?.clone(),
            "--seed" => seed = Some(it.next().ok_or("--seed needs a number")?.clone()),
            "--release" => release = true,
            other => return Err(format!("soak: unknown argument {other:?} (usage: soak [--cycles N] [--seed S] [--release])")),
        }
    }
    for (name, v) in [("--cycles", Some(&cycles)), ("--seed", seed.as_ref())] {
        if v.is_some_and(|v| v.parse::<u64>().is_err()) {
            return Err(format!("soak: {name} takes a number"));
        }
    }
    let mut cmd = cargo();
    cmd.args(["test", "-p", "gateway", "--test", "durability_crash"]);
    if release {
        cmd.arg("--release");
    }
    cmd.args(["--", "--nocapture", "--test-threads", "1"]);
    cmd.env("WARREN_CRASH_CYCLES", &cycles);
    match &seed {
        Some(s) => cmd.env("WARREN_CRASH_SEED", s),
        None => cmd.env_remove("WARREN_CRASH_SEED"),
    };
    println!("xtask: soak: {cycles} cycles{}", seed.as_ref().map(|s| format!(", seed {s}")).unwrap_or_default());
    status(cmd)
}

// ---------------------------------------------------------------------------
// fuzz
// ---------------------------------------------------------------------------

const FUZZ_TARGETS: &[&str] = &["frame", "field_table", "properties", "connection"];
/// Pinned so every machine fuzzes with the same harness.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

fn fuzz(args: &[String]) -> Result<(), String> {
    let mut seconds = 60u64;
    let mut targets = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it.next().and_then(|s| s.parse().ok()).ok_or("--seconds needs a number")?;
            }
            t if FUZZ_TARGETS.contains(&t) => targets.push(t),
            other => {
                return Err(format!("fuzz: unknown argument {other:?} (usage: fuzz [--seconds N] [{}])", FUZZ_TARGETS.join("|")))
            }
        }
    }
    if targets.is_empty() {
        targets = FUZZ_TARGETS.to_vec();
    }
    ensure_nightly_and_cargo_fuzz()?;
    let fuzz_dir = root().join("fuzz");
    let mut build = Command::new("cargo");
    build.current_dir(&fuzz_dir).args(["+nightly", "fuzz", "build", "-O"]);
    status(build)?;
    let mut summary = Vec::new();
    for target in &targets {
        let work = fuzz_dir.join("work").join(target);
        std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
        let mut cmd = Command::new("cargo");
        cmd.current_dir(&fuzz_dir)
            .args(["+nightly", "fuzz", "run", "-O", target])
            .arg(format!("work/{target}"))
            .arg(format!("corpus/{target}"))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .args(["-rss_limit_mb=2048", "-timeout=10", "-print_final_stats=1", "-close_fd_mask=1"]);
        let started = Instant::now();
        let (ok, out) = tee(cmd)?;
        let stat = |name: &str| {
            out.lines().find_map(|l| l.strip_prefix(&format!("stat::{name}:")).map(|v| v.trim().to_string())).unwrap_or_else(|| "?".into())
        };
        let line = format!(
            "{target:<12} {:>6.0}s  {:>12} execs  {:>8} execs/s  {}",
            started.elapsed().as_secs_f64(),
            stat("number_of_executed_units"),
            stat("average_exec_per_sec"),
            if ok { "ok".to_string() } else { format!("CRASH (input in fuzz/artifacts/{target}/)") }
        );
        println!("xtask: fuzz: {line}");
        summary.push((ok, line));
    }
    println!("\nxtask: ================= fuzz summary =================");
    for (_, line) in &summary {
        println!("xtask: fuzz: {line}");
    }
    let crashed = summary.iter().filter(|(ok, _)| !ok).count();
    if crashed == 0 {
        Ok(())
    } else {
        Err(format!("{crashed} fuzz target(s) crashed; see fuzz/regressions/README.md for turning the input into a regression test"))
    }
}

fn ensure_nightly_and_cargo_fuzz() -> Result<(), String> {
    let has_nightly = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_nightly {
        let mut c = Command::new("rustup");
        c.args(["toolchain", "install", "nightly", "--profile", "minimal"]);
        status(c)?;
    }
    let installed = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    if !installed.is_some_and(|v| v.contains(CARGO_FUZZ_VERSION)) {
        let mut c = Command::new("cargo");
        c.args(["install", "cargo-fuzz", "--locked", "--version", CARGO_FUZZ_VERSION]);
        status(c)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_runner_output() {
        let cargo = "test result: ok. 14 passed; 0 failed; 2 ignored; 0 measured\n\
                     test result: FAILED. 3 passed; 1 failed; 0 ignored;\n";
        let c = cargo_counts(cargo);
        assert_eq!((c.passed, c.failed, c.skipped), (17, 1, 2));

        let c = pytest_counts("...\n======= 12 passed, 1 failed, 2 skipped in 1.24s =======\n");
        assert_eq!((c.passed, c.failed, c.skipped), (12, 1, 2));
        let c = pytest_counts("13 passed in 1.39s\n");
        assert_eq!((c.passed, c.failed), (13, 0));

        let node = "1..12\n# tests 12\n# suites 0\n# pass 11\n# fail 1\n# cancelled 0\n# skipped 0\n# todo 0\n";
        let c = node_counts(node);
        assert_eq!((c.passed, c.failed, c.skipped), (11, 1, 0));
    }

    #[test]
    fn finds_wasm_bindgen_version_of_web() {
        let lock = r#"
[[package]]
name = "wasm-bindgen"
version = "0.2.130"

[[package]]
name = "web"
version = "0.1.0"
dependencies = [
 "broker-core",
 "wasm-bindgen",
]
"#;
        assert_eq!(web_wasm_bindgen_version(lock).as_deref(), Some("0.2.130"));
        let lock2 = "[[package]]\nname = \"web\"\nversion = \"0.1.0\"\ndependencies = [\n \"wasm-bindgen 0.2.99\",\n]\n";
        assert_eq!(web_wasm_bindgen_version(lock2).as_deref(), Some("0.2.99"));
        let lock3 = "[[package]]\nname = \"web\"\nversion = \"0.1.0\"\ndependencies = [\n \"broker-core\",\n]\n";
        assert_eq!(web_wasm_bindgen_version(lock3), None);
    }
}
