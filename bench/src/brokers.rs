//! Starting and stopping the two brokers under comparison, each on its own
//! loopback ports and in its own temporary directory, and knowing the pid
//! whose CPU and memory are measured (warren itself; RabbitMQ's
//! `beam.smp`, a child of its start script).
//!
//! Only processes this harness started are ever signalled, by pid. Every
//! child also gets `PR_SET_PDEATHSIG`, so a harness killed mid-run does not
//! leave brokers behind.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::procfs;
use crate::wire::{Credentials, SyncConn};

pub const DEFAULT_RABBITMQ_SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Warren,
    RabbitMq,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Warren => "warren",
            Kind::RabbitMq => "rabbitmq",
        }
    }
}

/// How to start a broker again (for scenarios that want a fresh one).
#[derive(Debug, Clone)]
pub struct Recipe {
    pub kind: Kind,
    /// `warren` binary or RabbitMQ's `rabbitmq-server` script.
    pub program: PathBuf,
    /// Parent of the per-instance temporary directories.
    pub base: PathBuf,
}

pub struct Broker {
    pub kind: Kind,
    pub addr: SocketAddr,
    /// The process measured for CPU and memory.
    pub pid: u32,
    /// `product version` as the broker announces itself.
    pub server: String,
    pub dir: PathBuf,
    child: Option<Child>,
    epmd: Option<Child>,
    keep_dir: bool,
    /// How to run the process again on the same directories and ports.
    launch: Launch,
    /// warren's startup lines (`… listening on`, `ready`) until it is ready.
    startup: Option<mpsc::Receiver<String>>,
}

/// Everything a (re)start of the broker process needs.
enum Launch {
    Warren { program: PathBuf },
    RabbitMq { server: PathBuf, env: Vec<(&'static str, OsString)> },
}

fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe; nothing else runs in pre_exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).map_err(|e| format!("no free port: {e}"))
}

fn instance_dir(base: &Path, kind: Kind) -> Result<PathBuf, String> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = base.join(format!("{}-{}", kind.name(), N.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

fn tail(path: &Path, lines: usize) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a pid we started.
    unsafe { libc::kill(pid as i32, sig) };
}

fn wait_exit(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Waits until none of `pids` is running (gone or a zombie).
fn wait_gone(pids: &[u32], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if pids.iter().all(|&p| !procfs::running(p)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A log file opened for appending (a restarted broker adds to it).
fn append(path: &Path) -> Result<std::fs::File, String> {
    std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| format!("{}: {e}", path.display()))
}

impl Recipe {
    pub fn start(&self, keep_dir: bool) -> Result<Broker, String> {
        match self.kind {
            Kind::Warren => start_warren(&self.program, &self.base, keep_dir),
            Kind::RabbitMq => start_rabbitmq(&self.program, &self.base, keep_dir),
        }
    }
}

/// Runs warren on `dir`'s data directory, its AMQP listener on `amqp`
/// (port 0 the first time, the port it chose on a restart).
fn spawn_warren(program: &Path, dir: &Path, amqp: &str) -> Result<(Child, mpsc::Receiver<String>), String> {
    let mut log_file = append(&dir.join("warren.log"))?;
    let mut cmd = Command::new(program);
    cmd.args(["--amqp-bind", amqp, "--http-bind", "127.0.0.1:0", "--prometheus-bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    die_with_parent(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    // warren logs to stderr: watched for startup, copied to the log file.
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Write as _;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = writeln!(log_file, "{line}");
            // After startup nobody listens; keep draining so warren never blocks.
            let _ = tx.send(line);
        }
    });
    Ok((child, rx))
}

fn start_warren(program: &Path, base: &Path, keep_dir: bool) -> Result<Broker, String> {
    let dir = instance_dir(base, Kind::Warren)?;
    let (child, rx) = spawn_warren(program, &dir, "127.0.0.1:0")?;
    let mut broker = Broker {
        kind: Kind::Warren,
        addr: "127.0.0.1:0".parse().unwrap(),
        pid: child.id(),
        server: String::new(),
        dir,
        child: Some(child),
        epmd: None,
        keep_dir,
        launch: Launch::Warren { program: program.to_path_buf() },
        startup: Some(rx),
    };
    broker.await_ready()?;
    Ok(broker)
}

fn find_epmd() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("PATH") {
        for d in path.split(':') {
            let p = Path::new(d).join("epmd");
            if p.is_file() {
                return Some(p);
            }
        }
    }
    let erts = std::fs::read_dir("/usr/lib/erlang").ok()?;
    erts.filter_map(|e| e.ok()).map(|e| e.path().join("bin/epmd")).find(|p| p.is_file())
}

fn spawn_rabbitmq(server: &Path, dir: &Path, env: &[(&'static str, OsString)]) -> Result<Child, String> {
    let mut cmd = Command::new(server);
    cmd.envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(append(&dir.join("stdout.log"))?))
        .stderr(Stdio::from(append(&dir.join("stderr.log"))?));
    die_with_parent(&mut cmd);
    cmd.spawn().map_err(|e| format!("cannot start {}: {e}", server.display()))
}

fn start_rabbitmq(server: &Path, base: &Path, keep_dir: bool) -> Result<Broker, String> {
    let dir = instance_dir(base, Kind::RabbitMq)?;
    let (node_port, dist_port, epmd_port) = (free_port()?, free_port()?, free_port()?);
    for sub in ["home", "mnesia", "log"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| e.to_string())?;
    }
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"));
    write("enabled_plugins", "[].\n")?;
    write("rabbitmq-env.conf", "")?;
    // Our own config file, so /etc/rabbitmq is never read.
    write("rabbitmq.conf", "log.console = false\nlog.file.level = warning\n")?;

    // Our own epmd on its own port, in the foreground so we own its pid.
    let epmd_bin = find_epmd().ok_or("epmd not found (is erlang-base installed?)")?;
    let mut epmd_cmd = Command::new(epmd_bin);
    epmd_cmd
        .args(["-port", &epmd_port.to_string(), "-address", "127.0.0.1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    die_with_parent(&mut epmd_cmd);
    let epmd = epmd_cmd.spawn().map_err(|e| format!("cannot start epmd: {e}"))?;

    // Everything the node is: a restart with the same environment finds the
    // same node name, ports and mnesia directory.
    let nodename = format!("warrenbench{}@localhost", std::process::id());
    let path = |sub: &str| dir.join(sub).into_os_string();
    let env: Vec<(&'static str, OsString)> = vec![
        ("HOME", path("home")),
        ("RABBITMQ_NODENAME", nodename.into()),
        ("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1".into()),
        ("RABBITMQ_NODE_PORT", node_port.to_string().into()),
        ("RABBITMQ_DIST_PORT", dist_port.to_string().into()),
        ("RABBITMQ_MNESIA_BASE", path("mnesia")),
        ("RABBITMQ_LOG_BASE", path("log")),
        ("RABBITMQ_FEATURE_FLAGS_FILE", path("feature_flags")),
        ("RABBITMQ_ENABLED_PLUGINS_FILE", path("enabled_plugins")),
        ("RABBITMQ_CONF_ENV_FILE", path("rabbitmq-env.conf")),
        ("RABBITMQ_CONFIG_FILE", path("rabbitmq.conf")),
        ("RABBITMQ_ADVANCED_CONFIG_FILE", path("advanced.config")),
        ("RABBITMQ_PID_FILE", path("rabbitmq.pid")),
        ("ERL_EPMD_PORT", epmd_port.to_string().into()),
        ("ERL_EPMD_ADDRESS", "127.0.0.1".into()),
    ];
    let child = spawn_rabbitmq(server, &dir, &env)?;
    let mut broker = Broker {
        kind: Kind::RabbitMq,
        addr: format!("127.0.0.1:{node_port}").parse().unwrap(),
        pid: child.id(),
        server: String::new(),
        dir,
        child: Some(child),
        epmd: Some(epmd),
        keep_dir,
        launch: Launch::RabbitMq { server: server.to_path_buf(), env },
        startup: None,
    };
    broker.await_ready()?;
    Ok(broker)
}

impl Broker {
    /// Waits for the process just spawned to serve AMQP, and learns what it
    /// announces and (RabbitMQ) which `beam.smp` to measure. Stops the
    /// broker on failure.
    pub fn await_ready(&mut self) -> Result<(), String> {
        let r = match self.kind {
            Kind::Warren => self.await_warren(),
            Kind::RabbitMq => self.await_rabbitmq(),
        };
        if r.is_err() {
            self.stop();
        }
        r
    }

    fn await_warren(&mut self) -> Result<(), String> {
        let rx = self.startup.take().ok_or("warren: no startup lines to watch")?;
        let log = self.dir.join("warren.log");
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut addr = None;
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some(a) = line.strip_prefix("warren: AMQP listening on ") {
                        addr = addr.or_else(|| a.trim().parse::<SocketAddr>().ok());
                    }
                    if line == "warren: ready" {
                        break;
                    }
                }
                Err(_) => return Err(format!("warren did not become ready within 60 s; log tail:\n{}", tail(&log, 30))),
            }
        }
        self.addr = addr.ok_or("warren printed no `warren: AMQP listening on` line")?;
        let conn = SyncConn::open(self.addr, &Credentials::default(), "warren-bench probe").map_err(|e| format!("warren probe: {e}"))?;
        self.server = conn.server.clone();
        conn.close();
        Ok(())
    }

    fn await_rabbitmq(&mut self) -> Result<(), String> {
        let script_pid = self.child.as_ref().map(|c| c.id()).ok_or("rabbitmq-server is not running")?;
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                let t = format!("{}\n{}", tail(&self.dir.join("stdout.log"), 20), tail(&self.dir.join("stderr.log"), 20));
                return Err(format!("rabbitmq-server exited ({st}) during startup:\n{t}"));
            }
            if let Ok(conn) = SyncConn::open(self.addr, &Credentials::default(), "warren-bench probe") {
                self.server = conn.server.clone();
                conn.close();
                break;
            }
            if Instant::now() > deadline {
                let t = tail(&self.dir.join("stdout.log"), 30);
                return Err(format!("RabbitMQ did not answer on {} within 180 s; stdout tail:\n{t}", self.addr));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        // The script runs beam.smp as its child; that is what we measure.
        self.pid = procfs::children_named(script_pid, "beam.smp").first().copied().ok_or("cannot find RabbitMQ's beam.smp process")?;
        Ok(())
    }

    /// Ends the broker process, leaving its directories (and RabbitMQ's
    /// epmd) in place. `clean`: SIGTERM (warren stops cleanly; RabbitMQ's
    /// script turns it into a graceful stop of the node) and wait; otherwise
    /// SIGKILL, for RabbitMQ `beam.smp` first, then every other process
    /// under the script and the script itself.
    fn halt(&mut self, clean: bool) {
        let Some(mut child) = self.child.take() else { return };
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        let tree: Vec<u32> = procfs::descendants(child.id());
        if clean {
            signal(child.id(), libc::SIGTERM);
            if wait_exit(&mut child, Duration::from_secs(60)) && wait_gone(&tree, Duration::from_secs(30)) {
                return;
            }
        }
        if self.kind == Kind::RabbitMq && self.pid != child.id() {
            signal(self.pid, libc::SIGKILL);
        }
        for &pid in &tree {
            signal(pid, libc::SIGKILL);
        }
        let _ = child.kill();
        let _ = child.wait();
        wait_gone(&tree, Duration::from_secs(10));
    }

    /// Stops the broker (cleanly, or with SIGKILL when `clean` is false) and
    /// starts it again on the same directories, node name and ports.
    /// Returns when the process has been spawned, with the time it was: the
    /// caller polls for recovery, then calls [`Broker::await_ready`].
    pub fn restart(&mut self, clean: bool) -> Result<Instant, String> {
        self.halt(clean);
        self.server.clear();
        match &self.launch {
            Launch::Warren { program } => {
                let amqp = self.addr.to_string();
                let at = Instant::now();
                let (child, rx) = spawn_warren(program, &self.dir, &amqp)?;
                self.pid = child.id();
                self.child = Some(child);
                self.startup = Some(rx);
                Ok(at)
            }
            Launch::RabbitMq { server, env } => {
                let at = Instant::now();
                let child = spawn_rabbitmq(server, &self.dir, env)?;
                self.pid = child.id();
                self.child = Some(child);
                Ok(at)
            }
        }
    }

    pub fn stop(&mut self) {
        self.halt(true);
        self.startup = None;
        if let Some(mut epmd) = self.epmd.take() {
            let _ = epmd.kill();
            let _ = epmd.wait();
        }
        if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Makes sure `rabbitmq-server` exists: installs Debian's package when
/// running as root, otherwise explains how.
pub fn ensure_rabbitmq(server: &Path) -> Result<(), String> {
    if server.is_file() {
        return Ok(());
    }
    if server != Path::new(DEFAULT_RABBITMQ_SERVER) {
        return Err(format!("{} does not exist", server.display()));
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(format!(
            "{} not found: install RabbitMQ with `sudo apt-get install -y rabbitmq-server` \
             (or pass --rabbitmq-server PATH), or compare Warren alone with --brokers warren",
            server.display()
        ));
    }
    eprintln!("warren-bench: {} not found; installing Debian's rabbitmq-server", server.display());
    // Keep the package's service from starting on the default port: we run
    // our own instance. policy-rc.d is only added if absent, and removed.
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let added_policy = !policy.exists() && std::fs::write(policy, "#!/bin/sh\nexit 101\n").is_ok();
    if added_policy {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(policy, std::fs::Permissions::from_mode(0o755));
    }
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "rabbitmq-server"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let mut ok = install();
    if !ok {
        let _ = Command::new("apt-get").arg("update").status();
        ok = install();
    }
    if added_policy {
        let _ = std::fs::remove_file(policy);
    }
    if ok && server.is_file() {
        Ok(())
    } else {
        Err("`apt-get install -y rabbitmq-server` failed".into())
    }
}
