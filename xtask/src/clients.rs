//! What the interop suites' clients need besides npm packages: Debian's
//! Chromium for the browser suites and a Python venv with pika and kombu for
//! tests/python.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{status, target_dir, version_of};

/// Debian's Chromium for the browser tests in tests/ws and tests/dashboard
/// ($CHROMIUM, default /usr/bin/chromium). Never a downloaded browser: when
/// it is missing and we run as root with apt-get, `apt-get install
/// chromium`; otherwise an error that says how to get it.
pub fn ensure_chromium() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        let p = PathBuf::from(p);
        return if p.exists() { Ok(p) } else { Err(format!("CHROMIUM={} does not exist", p.display())) };
    }
    let path = PathBuf::from("/usr/bin/chromium");
    if path.exists() {
        return Ok(path);
    }
    let is_root = Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false);
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
pub fn prepare_python_venv(root: &Path) -> Result<PathBuf, String> {
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
        c.args(["-m", "pip", "install", "--disable-pip-version-check", "-q", "-r"]).arg(&req_path);
        status(c)?;
        std::fs::write(&stamp, &req).map_err(|e| format!("{}: {e}", stamp.display()))?;
    }
    Ok(py)
}
