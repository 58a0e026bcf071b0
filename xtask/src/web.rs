//! The browser side: the wasm32 target, the wasm-bindgen CLI matching the
//! version in Cargo.lock, and `cargo xtask build-web` (the `web` crate ->
//! `www/pkg`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{cargo, status, target_dir, version_of};

pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Adds the wasm32 target with rustup when it is missing.
pub fn ensure_wasm_target() -> Result<(), String> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    match installed {
        Ok(out) if out.status.success() => {
            if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == WASM_TARGET) {
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

/// The browser build: web -> wasm32 (release) -> wasm-bindgen --target web
/// -> www/pkg (the playground loads it; tests/playground loads it in Node).
pub fn build_web_pkg(root: &Path) -> Result<(), String> {
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
            c.args(["--target", "web", "--out-dir"]).arg(root.join("www/pkg")).arg(&wasm);
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
    packages.iter().find(|p| p.get("name").map(String::as_str) == Some("wasm-bindgen")).and_then(|p| p.get("version").cloned())
}

/// The wasm-bindgen CLI to run.
fn wasm_bindgen_program() -> PathBuf {
    // Prefer the one `cargo install` puts in CARGO_HOME/bin (may not be on PATH).
    let cargo_home =
        std::env::var_os("CARGO_HOME").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(home) = cargo_home {
        let p = home.join("bin").join(format!("wasm-bindgen{}", std::env::consts::EXE_SUFFIX));
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("wasm-bindgen")
}

/// Installs wasm-bindgen-cli `version` unless that exact version is there;
/// the CLI refuses a .wasm built against another wasm-bindgen version.
fn ensure_wasm_bindgen_cli(version: &str) -> Result<(), String> {
    let have = version_of(wasm_bindgen_program());
    // `wasm-bindgen --version` prints e.g. "wasm-bindgen 0.2.100".
    if have.as_deref().and_then(|v| v.split_whitespace().nth(1)) == Some(version) {
        return Ok(());
    }
    println!("xtask: installing wasm-bindgen-cli {version} (found: {})", have.as_deref().unwrap_or("none"));
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

#[cfg(test)]
mod tests {
    use super::*;

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
