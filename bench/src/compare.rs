//! Comparison mode: start Warren and RabbitMQ side by side, run every
//! scenario on each in turn (A B A B …, fresh queues every run), print each
//! run as it finishes, then the medians and Warren/RabbitMQ ratios, and the
//! lapin cross-check when asked.

use std::path::PathBuf;
use std::time::Duration;

use crate::brokers::{self, Broker, Kind, Recipe};
use crate::load::RunResult;
use crate::report::{self, int, num};
use crate::scenarios::{self, Client, Measurement, Scenario};
use crate::wire::Credentials;
use crate::{persistent_backlog, procfs};

pub struct Options {
    pub warren: PathBuf,
    pub rabbitmq_server: PathBuf,
    pub brokers: Vec<Kind>,
    pub scenarios: Vec<String>,
    pub reps: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub markdown: bool,
    pub crosscheck: bool,
    pub keep_dirs: bool,
}

fn machine_line() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{cores} cores, load average {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

pub fn compare(o: Options) -> Result<(), String> {
    procfs::raise_nofile_limit();
    if o.brokers.contains(&Kind::RabbitMq) {
        brokers::ensure_rabbitmq(&o.rabbitmq_server)?;
    }
    if o.brokers.contains(&Kind::Warren) && !o.warren.is_file() {
        return Err(format!(
            "{} not found: build it with `cargo build --release -p gateway` (or use `cargo xtask bench`)",
            o.warren.display()
        ));
    }
    let base = std::env::temp_dir().join(format!("warren-bench-{}", std::process::id()));
    std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
    let recipes: Vec<Recipe> = o
        .brokers
        .iter()
        .map(|&kind| Recipe {
            kind,
            // Absolute: the brokers run in their own directories.
            program: std::path::absolute(if kind == Kind::Warren { &o.warren } else { &o.rabbitmq_server }).unwrap_or_else(|_| {
                if kind == Kind::Warren {
                    o.warren.clone()
                } else {
                    o.rabbitmq_server.clone()
                }
            }),
            base: base.clone(),
        })
        .collect();
    let result = run_all(&o, &recipes);
    if !o.keep_dirs {
        let _ = std::fs::remove_dir_all(&base);
    }
    result
}

fn start(recipe: &Recipe, keep: bool) -> Result<Broker, String> {
    let b = recipe.start(keep)?;
    println!("# started {:<8} {} on {} (pid {}, dir {})", b.kind.name(), b.server, b.addr, b.pid, b.dir.display());
    Ok(b)
}

fn run_all(o: &Options, recipes: &[Recipe]) -> Result<(), String> {
    let creds = Credentials::default();
    let all = scenarios::all(o.duration, o.warmup);
    let selected: Vec<Scenario> = o
        .scenarios
        .iter()
        .map(|n| {
            all.iter()
                .find(|s| s.name == n)
                .cloned()
                .ok_or_else(|| format!("unknown scenario {n:?} (known: {})", scenarios::NAMES.join(", ")))
        })
        .collect::<Result<_, _>>()?;

    println!("# warren-bench compare: {} rep(s), {:?} measured after {:?} warm-up", o.reps, o.duration, o.warmup);
    println!("# machine: {}", machine_line());
    let mut running: Vec<Option<Broker>> = Vec::new();
    for r in recipes {
        running.push(Some(start(r, o.keep_dirs)?));
    }

    // results[scenario][broker] = measurements
    let mut results: Vec<Vec<Vec<Measurement>>> = vec![vec![Vec::new(); recipes.len()]; selected.len()];
    for (si, s) in selected.iter().enumerate() {
        println!("\n## {} — {}", s.name, s.about);
        for rep in 0..o.reps {
            for (bi, recipe) in recipes.iter().enumerate() {
                let needs_restart = s.fresh_broker() || !running[bi].as_mut().is_some_and(|b| b.alive());
                if needs_restart {
                    if let Some(mut b) = running[bi].take() {
                        b.stop();
                    }
                    running[bi] = Some(start(recipe, o.keep_dirs)?);
                }
                let b = running[bi].as_mut().unwrap();
                let m = match s.kind {
                    // Restarts the broker on its directories, then stops it.
                    scenarios::Kind::PersistentBacklog(d) => persistent_backlog::run(b, &creds, d),
                    _ => scenarios::run(s, Client::Raw, b.addr, &creds, Some(b.pid)),
                };
                println!("{:<12} {}/{}  {:<8}  {}", s.name, rep + 1, o.reps, recipe.kind.name(), report::measurement_line(&m));
                results[si][bi].push(m);
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }

    let mut cross = Vec::new();
    if o.crosscheck {
        let load = scenarios::crosscheck_load(o.duration, o.warmup);
        println!("\n## crosscheck — raw client vs lapin, 1x1, 16 B, 5,000 msg/s, confirm window 100, manual ack, prefetch 100");
        for (bi, recipe) in recipes.iter().enumerate() {
            for client in [Client::Raw, Client::Lapin] {
                if !running[bi].as_mut().is_some_and(|b| b.alive()) {
                    running[bi] = Some(start(recipe, o.keep_dirs)?);
                }
                let b = running[bi].as_ref().unwrap();
                let r = scenarios::run_load(client, b.addr, &creds, &load, Some(b.pid));
                match &r {
                    Ok(r) => println!("crosscheck   {:<8}  {:<5}  {}", recipe.kind.name(), r.client, report::run_line(r)),
                    Err(e) => println!("crosscheck   {:<8}  {:?}  FAILED: {e}", recipe.kind.name(), client),
                }
                cross.push((recipe.kind, client, r));
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }

    for b in running.iter_mut().flatten() {
        b.stop();
    }

    let columns: Vec<&str> = recipes.iter().map(|r| r.kind.name()).collect();
    let mut rows = Vec::new();
    for (si, s) in selected.iter().enumerate() {
        let per: Vec<&[Measurement]> = results[si].iter().map(|v| v.as_slice()).collect();
        rows.extend(report::rows(s, &per));
    }
    println!(
        "\n## summary (median of {} run(s) per broker; ratio = {})",
        o.reps,
        if columns.len() == 2 { format!("{}/{}", columns[0], columns[1]) } else { "-".into() }
    );
    print!("{}", report::table(&columns, &rows, false));
    if o.markdown {
        println!("\n## summary (Markdown)\n");
        print!("{}", report::table(&columns, &rows, true));
    }
    if !cross.is_empty() {
        println!("\n## crosscheck summary\n");
        print!("{}", crosscheck_table(&cross, o.markdown));
    }
    let failures: usize = results.iter().flatten().flatten().filter(|m| m.error.is_some() || m.errors() > 0).count()
        + cross.iter().filter(|(_, _, r)| r.as_ref().map_or(true, |r| r.errors() > 0)).count();
    if failures > 0 {
        println!("\n# {failures} run(s) failed or reported loss/duplication/reordering: see the lines above");
    }
    Ok(())
}

fn crosscheck_table(cross: &[(Kind, Client, Result<RunResult, String>)], markdown: bool) -> String {
    let header = [
        "broker",
        "client",
        "published",
        "confirmed",
        "consumed",
        "total pub",
        "total cons",
        "missing/dup/ooo",
        "p50 us",
        "p99 us",
        "gen CPU %",
    ];
    let mut lines = vec![header.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    for (kind, client, r) in cross {
        let mut l = vec![kind.name().to_string(), format!("{client:?}").to_lowercase()];
        match r {
            Ok(r) => {
                l.push(int(r.published as f64));
                l.push(int(r.confirmed as f64));
                l.push(int(r.consumed as f64));
                l.push(int(r.total_published as f64));
                l.push(int(r.total_consumed as f64));
                l.push(format!("{}/{}/{}", r.missing, r.duplicates, r.out_of_order));
                l.push(r.latency.map(|x| num(x.p50)).unwrap_or_default());
                l.push(r.latency.map(|x| num(x.p99)).unwrap_or_default());
                l.push(format!("{:.1}", 100.0 * r.gen_cpu / r.secs.max(1e-9)));
            }
            Err(e) => l.push(format!("FAILED: {e}")),
        }
        lines.push(l);
    }
    let mut out = String::new();
    if markdown {
        for (i, l) in lines.iter().enumerate() {
            out += &format!("| {} |\n", l.join(" | "));
            if i == 0 {
                out += &format!("|{}\n", "---|".repeat(l.len()));
            }
        }
    } else {
        let n = header.len();
        let mut w = vec![0; n];
        for l in &lines {
            for (i, c) in l.iter().enumerate().take(n) {
                w[i] = w[i].max(c.len());
            }
        }
        for l in &lines {
            let cells: Vec<String> = l.iter().enumerate().map(|(i, c)| format!("{c:>w$}", w = w.get(i).copied().unwrap_or(0))).collect();
            out += &cells.join("  ");
            out.push('\n');
        }
    }
    // Agreement: per broker, the two clients must publish and consume the
    // same counts (the rate is fixed) and see no loss.
    for kind in [Kind::Warren, Kind::RabbitMq] {
        let pair: Vec<&RunResult> = cross.iter().filter(|(k, _, _)| *k == kind).filter_map(|(_, _, r)| r.as_ref().ok()).collect();
        if pair.len() == 2 {
            let (a, b) = (pair[0], pair[1]);
            let close = |x: u64, y: u64| (x as f64 - y as f64).abs() <= 0.01 * x.max(y) as f64 + 2.0;
            let same = close(a.published, b.published) && close(a.consumed, b.consumed) && close(a.total_published, b.total_published);
            let whole = a.total_consumed == a.total_published && b.total_consumed == b.total_published;
            let clean = a.errors() == 0 && b.errors() == 0;
            out += &format!(
                "{}: counts {} (raw {}/{} vs lapin {}/{} published/consumed in window), every message delivered exactly once: {}{}\n",
                kind.name(),
                if same { "agree" } else { "DISAGREE" },
                a.published,
                a.consumed,
                b.published,
                b.consumed,
                if whole && clean { "yes" } else { "NO" },
                match (a.latency, b.latency) {
                    (Some(x), Some(y)) => format!(", p50 raw {} us vs lapin {} us", num(x.p50), num(y.p50)),
                    _ => String::new(),
                }
            );
        }
    }
    out
}
