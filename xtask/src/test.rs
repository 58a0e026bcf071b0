//! `cargo xtask test`: every check in one command. Each step is recorded in
//! a [`Report`] and a failed step does not stop the later ones (only those
//! that need its result are skipped), so one run shows everything broken.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::clients::{ensure_chromium, prepare_python_venv};
use crate::process::{cargo, require_tool, root, status, target_dir, tee};
use crate::report::{cargo_counts, node_counts, pytest_counts, Counts, Report};
use crate::warren::Warren;
use crate::web::{build_web_pkg, ensure_wasm_target, WASM_TARGET};

/// Runs every step in order and prints the summary; Err when any step failed.
pub fn test(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("`cargo xtask test` takes no arguments (got {a:?})"));
    }
    let root = root();
    let mut report = Report::default();

    // Tools first, so a missing one fails fast with a clear message.
    let mut missing = Vec::new();
    for (tool, why) in [
        ("python3", "for the pika and kombu interop tests (tests/python)"),
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

    // Formatting (rustfmt.toml), for the workspace and the fuzz crate.
    let t = Instant::now();
    let r = (|| {
        let mut c = cargo();
        c.args(["fmt", "--all", "--check"]);
        status(c)?;
        let mut c = cargo();
        c.args(["fmt", "--check", "--manifest-path", "fuzz/Cargo.toml"]);
        status(c)
    })();
    report.record("cargo fmt --check", t, r.map(|()| None));

    // The core and the bindings build for the browser, lint-free.
    let t = Instant::now();
    let r = ensure_wasm_target().and_then(|()| {
        let mut c = cargo();
        c.args(["clippy", "-p", "broker-core", "-p", "web", "--target", WASM_TARGET, "--", "-D", "warnings"]);
        status(c)
    });
    report.record("broker-core and web build for wasm32 (clippy -D warnings)", t, r.map(|()| None));

    // Build every crate and test target first; this also produces the debug
    // `warren` binary (target/debug/warren) that the interop suites use, built
    // exactly as `cargo test` builds it, so nothing is compiled twice.
    let t = Instant::now();
    let mut c = cargo();
    c.args(["test", "--workspace", "--no-run"]);
    let built = report.record("build workspace + warren (debug)", t, status(c).map(|()| None));

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
    let t = Instant::now();
    let mut c = cargo();
    c.args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]);
    report.record("cargo clippy --workspace --all-targets -D warnings", t, status(c).map(|()| None));
    let warren_bin = target_dir().join("debug").join(format!("warren{}", std::env::consts::EXE_SUFFIX));

    // Prepare the client environments before starting warren.
    let t = Instant::now();
    let venv_python = prepare_python_venv(&root);
    let py_ready = report.record("python venv (target/venv)", t, venv_python.as_ref().map(|_| None).map_err(Clone::clone));
    let node_ready = npm_ci(&mut report, &root, "tests/node");

    if built {
        let t = Instant::now();
        match Warren::start(&warren_bin) {
            Err(e) => {
                report.record("start warren", t, Err(e));
                report.skip("pytest (pika, kombu)", "warren did not start");
                report.skip("node --test (amqplib)", "warren did not start");
            }
            Ok(mut warren) => {
                report.record("start warren", t, Ok(None));
                let url = warren.url();
                println!("xtask: AMQP_URL={url}");

                let t = Instant::now();
                if let (true, Ok(py)) = (py_ready, &venv_python) {
                    let mut c = Command::new(py);
                    c.args(["-m", "pytest", "-p", "no:cacheprovider", "-v", "tests/python"])
                        .current_dir(&root)
                        .env("AMQP_URL", &url)
                        // For tests that need a warren configured their own way.
                        .env("WARREN_BIN", &warren_bin)
                        .env("PYTHONDONTWRITEBYTECODE", "1");
                    report.record("pytest (pika, kombu)", t, run_suite(c, "pytest", pytest_counts));
                } else {
                    report.skip("pytest (pika, kombu)", "the venv could not be prepared");
                }

                let t = Instant::now();
                if node_ready {
                    let r = node_test(&root, "tests/node", 120_000, &[("AMQP_URL", OsStr::new(&url))]);
                    report.record("node --test (amqplib)", t, r);
                } else {
                    report.skip("node --test (amqplib)", "npm ci failed");
                }

                let t = Instant::now();
                let r = warren.stop();
                let stopped = report.record("warren stops on SIGTERM", t, r.map(|()| None));
                // The two client suites and the stop: any failure there may
                // be warren's, so show what it logged.
                if report.any_failed_in_last(3) || !stopped {
                    println!("xtask: warren's log is in {} ; its tail:\n{}", warren.log().display(), warren.log_tail());
                }
            }
        }
    } else {
        report.skip("start warren", "the build failed");
        report.skip("pytest (pika, kombu)", "the build failed");
        report.skip("node --test (amqplib)", "the build failed");
    }

    // AMQP over WebSocket from Node and from Debian's headless Chromium. The
    // suite starts its own warren ($WARREN_BIN) with its test page as --www-dir.
    let ws_ready = npm_ci(&mut report, &root, "tests/ws");
    let t = Instant::now();
    let chromium = ensure_chromium();
    let chromium_ready = report.record("chromium (Debian)", t, chromium.as_ref().map(|_| None).map_err(Clone::clone));
    if let (true, true, true, Ok(chromium)) = (built, ws_ready, chromium_ready, &chromium) {
        let t = Instant::now();
        let r = browser_test(&root, "tests/ws", 120_000, &warren_bin, chromium);
        report.record("node --test (tests/ws: WebSocket)", t, r);
    } else {
        report.skip("node --test (tests/ws: WebSocket)", "the build, npm ci or chromium failed");
    }

    // The dashboard (www/) in Debian's headless Chromium, and its data layer
    // in Node. The suite starts its own warren ($WARREN_BIN) serving www/.
    let dashboard_ready = npm_ci(&mut report, &root, "tests/dashboard");
    if let (true, true, true, Ok(chromium)) = (built, dashboard_ready, chromium_ready, &chromium) {
        let t = Instant::now();
        let r = browser_test(&root, "tests/dashboard", 120_000, &warren_bin, chromium);
        report.record("node --test (tests/dashboard)", t, r);
    } else {
        report.skip("node --test (tests/dashboard)", "the build, npm ci or chromium failed");
    }

    // The playground (www/playground.html): the wasm bindings and in-tab
    // transport in Node, the page in Debian's headless Chromium from a static
    // server and from a started warren. That warren is the release binary,
    // built after www/pkg so the copy of www/ inside it has the playground:
    // packaged.test.js runs it from an empty directory without --www-dir.
    let t = Instant::now();
    let r = build_web_pkg(&root);
    let pkg_ready = report.record("wasm pkg (web -> www/pkg)", t, r.map(|()| None));
    let t = Instant::now();
    let release_ready = pkg_ready && {
        let mut c = cargo();
        c.args(["build", "--release", "-p", "gateway", "--bin", "warren"]);
        report.record("build warren (release, www/ embedded)", t, status(c).map(|()| None))
    };
    let release_bin = target_dir().join("release").join(format!("warren{}", std::env::consts::EXE_SUFFIX));
    let playground_ready = npm_ci(&mut report, &root, "tests/playground");
    if let (true, true, true, Ok(chromium)) = (release_ready, playground_ready, chromium_ready, &chromium) {
        let t = Instant::now();
        let r = browser_test(&root, "tests/playground", 180_000, &release_bin, chromium);
        report.record("node --test (tests/playground, release warren)", t, r);
    } else {
        report.skip("node --test (tests/playground, release warren)", "the wasm pkg, release build, npm ci or chromium failed");
    }

    report.summarize()
}

/// `npm ci` in `dir` (relative to the root), recorded as the step
/// "npm ci (DIR)". Returns whether it succeeded.
fn npm_ci(report: &mut Report, root: &Path, dir: &str) -> bool {
    let t = Instant::now();
    let mut c = Command::new("npm");
    c.args(["ci", "--no-audit", "--no-fund"]).current_dir(root.join(dir));
    report.record(format!("npm ci ({dir})"), t, status(c).map(|()| None))
}

/// `node --test` in `dir` (relative to the root) with `env` added and a
/// per-test timeout of `timeout_ms`.
fn node_test(root: &Path, dir: &str, timeout_ms: u32, env: &[(&str, &OsStr)]) -> Result<Option<Counts>, String> {
    let mut c = Command::new("node");
    c.args(["--test", &format!("--test-timeout={timeout_ms}")]).current_dir(root.join(dir)).envs(env.iter().copied());
    run_suite(c, "node --test", node_counts)
}

/// `node --test` for a browser suite: it starts its own warren
/// ($WARREN_BIN) and drives Chromium ($CHROMIUM).
fn browser_test(root: &Path, dir: &str, timeout_ms: u32, warren_bin: &Path, chromium: &Path) -> Result<Option<Counts>, String> {
    node_test(root, dir, timeout_ms, &[("WARREN_BIN", warren_bin.as_os_str()), ("CHROMIUM", chromium.as_os_str())])
}

/// Runs a test runner (`runner` names it in errors) and reads its counts
/// with `counts_of`. A failing exit with no failed test counted, or no test
/// passed at all, is an error: the suite did not really run.
fn run_suite(cmd: Command, runner: &str, counts_of: fn(&str) -> Counts) -> Result<Option<Counts>, String> {
    let (ok, out) = tee(cmd)?;
    let counts = counts_of(&out);
    if !ok && counts.failed == 0 {
        return Err(format!("{runner} failed (see above)"));
    }
    if counts.passed == 0 {
        return Err(format!("{runner} ran no test"));
    }
    Ok(Some(counts))
}
