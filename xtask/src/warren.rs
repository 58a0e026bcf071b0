//! Starting and stopping a `warren` for the interop suites: on ephemeral
//! ports with a throwaway data directory, ready once it prints
//! `warren: ready`, stopped with SIGTERM so a clean shutdown is checked too.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::process::{show, target_dir, unique_temp_dir};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

/// A running warren; killed (and its data dir removed) when dropped.
pub struct Warren {
    child: Option<Child>,
    port: u16,
    data_dir: PathBuf,
    log: PathBuf,
}

impl Warren {
    /// Starts `binary` and waits (up to STARTUP_TIMEOUT) for `warren: ready`,
    /// echoing its log (stderr) until then, copying all of it to a file, and
    /// noting its AMQP port.
    pub fn start(binary: &Path) -> Result<Warren, String> {
        use std::io::Write as _;
        let data_dir = unique_temp_dir("warren-xtask-data");
        let log = target_dir().join("xtask-warren.log");
        let mut log_file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut cmd = Command::new(binary);
        cmd.args(["--amqp-bind", "127.0.0.1:0", "--http-bind", "127.0.0.1:0", "--prometheus-bind", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        println!("xtask: $ {}", show(&cmd));
        let mut child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(log_file, "{line}");
                // Once startup is over nobody listens; keep draining so warren never blocks.
                let _ = tx.send(line);
            }
        });
        let mut warren = Warren { child: Some(child), port: 0, data_dir, log };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    println!("xtask: {line}");
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
                    return Err(format!("warren did not log `warren: ready` within {STARTUP_TIMEOUT:?}; its log's tail:\n{tail}"));
                }
            }
        }
        if warren.port == 0 {
            return Err(format!("warren is ready but printed no listening line: {seen:?}"));
        }
        Ok(warren)
    }

    /// The AMQP URL of the default vhost, as guest.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2F", self.port)
    }

    /// Where warren's log goes.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The last 40 lines of warren's log.
    pub fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// SIGTERM, then wait; Err if it does not exit cleanly in time.
    pub fn stop(&mut self) -> Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Ok(Some(st)) = child.try_wait() {
            return Err(format!("warren had already exited ({st})"));
        }
        let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().map(|s| s.success()).unwrap_or(false);
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
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("warren did not exit within {SHUTDOWN_TIMEOUT:?} of SIGTERM (killed)"));
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
