//! Release-build performance checks: `cargo xtask bench` (Warren against
//! RabbitMQ, bench/README.md) and `cargo xtask load` (many connections, a
//! flood to the memory alarm, a probe's response times).

use std::process::Command;

use crate::process::{cargo, status, target_dir};

/// Builds `warren` and `warren-bench` in release and runs the comparison;
/// ARGS go to `warren-bench compare`.
pub fn bench(args: &[String]) -> Result<(), String> {
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
pub fn load(args: &[String]) -> Result<(), String> {
    let mut build = cargo();
    build.args(["build", "--release", "-p", "gateway", "--bin", "warren", "--bin", "warren-load"]);
    status(build)?;
    let release = target_dir().join("release");
    let mut cmd = Command::new(release.join("warren-load"));
    cmd.arg("--warren").arg(release.join("warren"));
    cmd.args(args.iter().skip_while(|a| *a == "--"));
    status(cmd)
}
