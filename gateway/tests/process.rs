//! The `warren` process as an operator sees it: one log, on stderr, each
//! line once and without terminal escape codes when stderr is not a
//! terminal; nothing on stdout; and its UI served from the copy of `www/`
//! built into the binary, whatever the working directory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A plain HTTP/1.1 GET; returns (status line, headers, body).
fn http_get(addr: &str, path: &str) -> (String, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect to the HTTP port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let (status, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
    (status.to_string(), headers.to_ascii_lowercase(), raw[split + 4..].to_vec())
}

#[test]
fn one_log_on_stderr_and_the_ui_from_inside_the_binary() {
    let cwd = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["--amqp-bind", "127.0.0.1:0", "--http-bind", "127.0.0.1:0", "--prometheus-bind", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .current_dir(cwd.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn warren");
    let stdout = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = BufReader::new(stdout).read_to_string(&mut s);
        s
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log.iter().any(|l| l == "warren: ready") {
        let line = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("warren: ready");
        log.push(line);
    }
    let http = log.iter().find_map(|l| l.strip_prefix("warren: HTTP listening on ")).expect("the HTTP port").to_string();
    let amqp = log.iter().find_map(|l| l.strip_prefix("warren: AMQP listening on ")).expect("the AMQP port").to_string();

    // The dashboard, from an empty working directory and no --www-dir.
    let (status, headers, body) = http_get(&http, "/");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(headers.contains("content-type: text/html"), "{headers}");
    assert!(String::from_utf8_lossy(&body).contains("js/main.js"));
    let (status, headers, _) = http_get(&http, "/js/main.js");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(headers.contains("content-type: text/javascript"), "{headers}");
    let (status, _, body) = http_get(&http, "/playground");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(String::from_utf8_lossy(&body).contains("<title>"));
    assert_eq!(http_get(&http, "/no-such-file.js").0, "HTTP/1.1 404 Not Found");

    // A connection that says hello and leaves: its close is logged once.
    let mut c = TcpStream::connect(&amqp).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let _ = c.read(&mut [0; 8]);
    drop(c);

    // SIGTERM; then the whole log.
    // SAFETY: kill(2) on the child we spawned and have not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    log.extend(rx.iter());
    assert_eq!(stdout.join().unwrap(), "", "nothing on stdout");
    for line in &log {
        assert!(line.starts_with("warren: "), "one format: {line:?}");
        assert!(!line.contains('\u{1b}'), "no escape codes on a pipe: {line:?}");
    }
    for once in ["warren: AMQP listening on ", "warren: HTTP listening on ", "warren: ready", "warren: shutting down"] {
        assert_eq!(log.iter().filter(|l| l.starts_with(once)).count(), 1, "{once:?} once in {log:#?}");
    }
    assert!(log.iter().any(|l| l.contains("closing connection: bad protocol header")), "{log:#?}");
    assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0, "nothing written to the working directory");
}

#[test]
fn an_invalid_configuration_stops_warren_at_start_with_the_reason() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["--amqp-bind", "127.0.0.1:0", "--http-bind", "127.0.0.1:0", "--prometheus-bind", "127.0.0.1:0"])
        .args(["--user", "app:secret", "--permission", "app:/:[oops:.*:.*", "--data-dir"])
        .arg(data.path())
        .stdin(Stdio::null())
        .output()
        .expect("run warren");
    assert!(!out.status.success(), "warren started with a permission that does not compile");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "invalid configuration: permission of user 'app' on vhost '/': the configure expression '[oops' is not a valid regular expression"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("warren: ready"), "{stderr}");
}
