//! `cargo xtask fuzz`: each cargo-fuzz target in fuzz/ for a while on
//! nightly, then a summary of executions and crashes.

use std::process::{Command, Stdio};
use std::time::Instant;

use crate::process::{root, status, tee};

/// The libFuzzer targets in fuzz/fuzz_targets/, run in this order.
const FUZZ_TARGETS: &[&str] = &["frame", "field_table", "properties", "connection"];
/// Pinned so every machine fuzzes with the same harness.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// Builds every target once, then runs each for `--seconds` (default 60),
/// new corpus entries going to fuzz/work/TARGET with fuzz/corpus/TARGET as seeds.
pub fn fuzz(args: &[String]) -> Result<(), String> {
    let mut seconds = 60u64;
    let mut targets = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it.next().and_then(|s| s.parse().ok()).ok_or("--seconds needs a number")?;
            }
            t if FUZZ_TARGETS.contains(&t) => targets.push(t),
            other => return Err(format!("fuzz: unknown argument {other:?} (usage: fuzz [--seconds N] [{}])", FUZZ_TARGETS.join("|"))),
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

/// cargo-fuzz needs a nightly toolchain (sanitizer flags); installs both when missing.
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
