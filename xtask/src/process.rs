//! Paths and small process helpers shared by every command: where the
//! workspace and its target directory are, and running a child process with
//! its command line echoed (`status`) or its output also captured (`tee`).

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

/// The workspace root (xtask's parent directory).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// Cargo's target directory: $CARGO_TARGET_DIR (relative to the root when
/// relative), else `target/` in the root.
pub fn target_dir() -> PathBuf {
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

/// The cargo that runs us ($CARGO), working in the workspace root.
pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

/// `cmd`'s command line, for echoing and error messages.
pub fn show(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` with inherited stdio; Err with a message on failure.
pub fn status(mut cmd: Command) -> Result<(), String> {
    println!("xtask: $ {}", show(&cmd));
    let st = cmd.status().map_err(|e| format!("cannot run `{}`: {e}", show(&cmd)))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({st})", show(&cmd)))
    }
}

/// Runs `cmd`, streaming its stdout/stderr through while keeping a copy.
/// Returns (success, combined output).
pub fn tee(mut cmd: Command) -> Result<(bool, String), String> {
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
pub fn version_of(program: impl AsRef<OsStr>) -> Option<String> {
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

/// `program`'s version, or an error saying it is missing and `why` it is needed.
pub fn require_tool(program: &str, why: &str) -> Result<String, String> {
    version_of(program).ok_or_else(|| format!("`{program}` was not found on PATH; it is needed {why}. Install it and retry."))
}

/// A fresh path in the temp directory (not created), unique per process and moment.
pub fn unique_temp_dir(prefix: &str) -> PathBuf {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()))
}
