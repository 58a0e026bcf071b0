//! `cargo xtask soak`: the crash harness (gateway/tests/durability_crash.rs)
//! for many kill-and-restart cycles.

use crate::process::{cargo, status};

/// Runs the crash harness test for many cycles (it reads the cycle count
/// and seed from the environment).
pub fn soak(args: &[String]) -> Result<(), String> {
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
