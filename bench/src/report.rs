//! Turning results into text: one line per run, a PerfTest-like summary
//! for a single run, and the figure-by-figure comparison table (plain or
//! Markdown) with medians and the Warren/RabbitMQ ratio.

use crate::load::RunResult;
use crate::scenarios::{Kind, Measurement, Scenario};

/// 1234567.8 -> "1,234,568".
pub fn int(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let neg = v < 0.0;
    let s = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if neg {
        format!("-{out}")
    } else {
        out
    }
}

/// Two significant-ish decimals for small numbers, separators for big ones.
pub fn num(v: f64) -> String {
    if v.abs() >= 100.0 {
        int(v)
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn pct(cpu: f64, secs: f64) -> String {
    if secs > 0.0 {
        format!("{:.0}%", 100.0 * cpu / secs)
    } else {
        "-".into()
    }
}

/// Loss and ordering verdict of a run.
pub fn verdict(r: &RunResult) -> String {
    let mut v = Vec::new();
    if r.missing > 0 {
        v.push(format!("MISSING {}", r.missing));
    }
    if r.duplicates > 0 {
        v.push(format!("DUPLICATES {}", r.duplicates));
    }
    if r.out_of_order > 0 {
        v.push(format!("OUT-OF-ORDER {}", r.out_of_order));
    }
    if r.malformed > 0 {
        v.push(format!("MALFORMED {}", r.malformed));
    }
    if r.total_nacked > 0 {
        v.push(format!("NACKED {}", r.total_nacked));
    }
    if r.undrained > 0 {
        v.push(format!("undrained {} (backlog left when the drain timed out)", int(r.undrained as f64)));
    }
    if r.blocked > 0 {
        v.push(format!("blocked x{}", r.blocked));
    }
    if v.is_empty() {
        "ok".into()
    } else {
        v.join(", ")
    }
}

pub fn run_line(r: &RunResult) -> String {
    let mut s = format!("pub {:>9}/s", int(r.publish_rate()));
    if r.confirmed > 0 {
        s += &format!("  conf {:>9}/s", int(r.confirm_rate()));
    }
    if r.consumed > 0 {
        s += &format!("  cons {:>9}/s", int(r.consume_rate()));
    }
    if let Some(l) = &r.latency {
        s += &format!("  lat p50 {} p99 {} us", num(l.p50), num(l.p99));
    }
    s += &format!("  gen CPU {:.2}s ({})", r.gen_cpu, pct(r.gen_cpu, r.secs));
    if let Some(b) = r.broker_cpu {
        s += &format!("  broker CPU {:.2}s ({})", b, pct(b, r.secs));
    }
    if let Some(e) = r.efficiency() {
        s += &format!("  {} msg/CPU-s", int(e));
    }
    if let Some(d) = r.broker_disk.filter(|d| *d > 0) {
        s += &format!("  disk {:.1} MB", d as f64 / 1e6);
    }
    s + "  " + &verdict(r)
}

pub fn measurement_line(m: &Measurement) -> String {
    if let Some(e) = &m.error {
        return format!("FAILED: {e}{}", m.persistent.as_ref().map(|p| format!("  ({})", p.line())).unwrap_or_default());
    }
    if let Some(p) = &m.persistent {
        return p.line();
    }
    let mut parts = Vec::new();
    if let (Some(b), Some(a)) = (m.rss_before, m.rss_after) {
        parts.push(format!("RSS {:.1} -> {:.1} MiB", b as f64 / 1048576.0, a as f64 / 1048576.0));
        if let Some(u) = m.rss_per_unit() {
            parts.push(format!("{} B per {}", int(u), if m.open_rate.is_some() { "connection" } else { "message" }));
        }
    }
    if let Some(r) = m.open_rate {
        parts.push(format!("{} connections/s opened", int(r)));
    }
    if let Some(r) = &m.run {
        parts.push(run_line(r));
    }
    parts.join("  ")
}

/// A PerfTest-like report of one run.
pub fn detail(r: &RunResult) -> String {
    let mut s = String::new();
    s += &format!("client            {}\n", r.client);
    s += &format!("window            {:.2} s (warm-up excluded)\n", r.secs);
    s += &format!(
        "published         {} msg/s ({} in window, {} total)\n",
        int(r.publish_rate()),
        int(r.published as f64),
        int(r.total_published as f64)
    );
    if r.total_confirmed + r.total_nacked > 0 {
        s += &format!(
            "confirmed         {} msg/s ({} in window, {} total, {} nacked)\n",
            int(r.confirm_rate()),
            int(r.confirmed as f64),
            int(r.total_confirmed as f64),
            r.total_nacked
        );
    }
    s += &format!(
        "consumed          {} msg/s ({} in window, {} total)\n",
        int(r.consume_rate()),
        int(r.consumed as f64),
        int(r.total_consumed as f64)
    );
    if let Some(l) = &r.latency {
        s += &format!(
            "latency (us)      p50 {}  p75 {}  p95 {}  p99 {}  p99.9 {}  max {}  ({} samples)\n",
            num(l.p50),
            num(l.p75),
            num(l.p95),
            num(l.p99),
            num(l.p999),
            num(l.max),
            int(l.count as f64)
        );
    }
    s += &format!("generator CPU     {:.2} s ({} of one core)\n", r.gen_cpu, pct(r.gen_cpu, r.secs));
    if let Some(b) = r.broker_cpu {
        s += &format!("broker CPU        {:.2} s ({} of one core)\n", b, pct(b, r.secs));
    }
    if let Some(e) = r.efficiency() {
        s += &format!("broker efficiency {} msg per broker CPU-second\n", int(e));
    }
    if let Some(d) = r.broker_disk {
        s += &format!("broker disk       {:.1} MB written in window\n", d as f64 / 1e6);
    }
    s += &format!(
        "checks            missing {}  duplicates {}  out-of-order {}  malformed {}  redelivered {}  returned {}  undrained {}  drained {}\n",
        r.missing, r.duplicates, r.out_of_order, r.malformed, r.redelivered, r.returned, r.undrained, r.drained
    );
    s += &format!("verdict           {}\n", verdict(r));
    s
}

/// One figure of the comparison table.
struct Figure {
    label: &'static str,
    get: fn(&Measurement) -> Option<f64>,
}

fn run_of(m: &Measurement) -> Option<&RunResult> {
    m.run.as_ref().filter(|_| m.error.is_none())
}

fn cpu(c: f64, r: &RunResult) -> Option<f64> {
    (r.secs > 0.0).then(|| 100.0 * c / r.secs)
}

fn figures(s: &Scenario) -> Vec<Figure> {
    macro_rules! f {
        ($label:literal, |$r:ident| $e:expr) => {
            Figure { label: $label, get: |m| run_of(m).and_then(|$r| $e) }
        };
    }
    match &s.kind {
        Kind::Load(load) => {
            let mut v = vec![];
            if load.rate.is_some() {
                v.push(f!("latency p50 (us)", |r| r.latency.map(|l| l.p50)));
                v.push(f!("latency p75 (us)", |r| r.latency.map(|l| l.p75)));
                v.push(f!("latency p95 (us)", |r| r.latency.map(|l| l.p95)));
                v.push(f!("latency p99 (us)", |r| r.latency.map(|l| l.p99)));
                v.push(f!("latency p99.9 (us)", |r| r.latency.map(|l| l.p999)));
                v.push(f!("latency max (us)", |r| r.latency.map(|l| l.max)));
                v.push(f!("consume msg/s", |r| Some(r.consume_rate())));
            } else {
                v.push(f!("consume msg/s", |r| Some(r.consume_rate())));
                v.push(f!("publish msg/s", |r| Some(r.publish_rate())));
                if load.confirm.is_some() {
                    v.push(f!("confirm msg/s", |r| Some(r.confirm_rate())));
                }
            }
            v.push(f!("msgs per broker CPU-s", |r| r.efficiency()));
            v.push(Figure { label: "broker CPU %", get: |m| run_of(m).and_then(|r| r.broker_cpu.and_then(|c| cpu(c, r))) });
            v.push(Figure { label: "generator CPU %", get: |m| run_of(m).and_then(|r| cpu(r.gen_cpu, r)) });
            if load.rate.is_none() {
                v.push(f!("latency p50 (us)", |r| r.latency.map(|l| l.p50)));
                v.push(f!("latency p99 (us)", |r| r.latency.map(|l| l.p99)));
            }
            if load.persistent {
                v.push(f!("broker disk MB written", |r| r.broker_disk.map(|d| d as f64 / 1e6)));
                // Over the same window as the messages published in it.
                v.push(f!("disk B written per msg", |r| r.broker_disk.filter(|_| r.published > 0).map(|d| d as f64 / r.published as f64)));
            }
            v
        }
        Kind::Connections(_) => vec![
            Figure { label: "RSS per connection (KiB)", get: |m| m.rss_per_unit().map(|b| b / 1024.0) },
            Figure { label: "RSS idle (MiB)", get: |m| m.rss_before.map(|b| b as f64 / 1048576.0) },
            Figure { label: "RSS with 1k conns (MiB)", get: |m| m.rss_after.map(|b| b as f64 / 1048576.0) },
            Figure { label: "connections opened/s", get: |m| m.open_rate },
        ],
        Kind::Backlog(_) => vec![
            Figure { label: "RSS growth (MiB)", get: |m| m.rss_before.zip(m.rss_after).map(|(b, a)| (a as f64 - b as f64) / 1048576.0) },
            Figure { label: "RSS per message (B)", get: |m| m.rss_per_unit() },
            Figure { label: "RSS with backlog (MiB)", get: |m| m.rss_after.map(|b| b as f64 / 1048576.0) },
            f!("confirm msg/s", |r| Some(r.confirm_rate())),
            f!("msgs per broker CPU-s", |r| r.efficiency()),
        ],
        Kind::PersistentBacklog(_) => {
            macro_rules! p {
                ($label:literal, |$p:ident| $e:expr) => {
                    Figure { label: $label, get: |m| m.persistent.as_ref().filter(|_| m.error.is_none()).and_then(|$p| $e) }
                };
            }
            vec![
                p!("confirm msg/s", |p| Some(p.confirm_rate)),
                p!("RSS B/msg", |p| p.rss_per_msg()),
                p!("written B/msg", |p| p.written_per_msg()),
                p!("recovery s (clean)", |p| p.clean.as_ref().and_then(|r| r.secs)),
                p!("recovery s (kill -9)", |p| p.killed.as_ref().and_then(|r| r.secs)),
                p!("recovery RSS B/msg", |p| p.recovery_rss_per_msg()),
                p!("drain msg/s", |p| p.drain.as_ref().map(|d| d.rate())),
                p!("messages lost", |p| Some(p.lost() as f64)),
            ]
        }
    }
}

pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// One row: scenario, figure, one median per broker column, and the
/// ratio of the first column to the second.
pub struct Row {
    pub scenario: String,
    pub figure: String,
    pub values: Vec<Option<f64>>,
}

/// Rows for `scenario`, given each broker's measurements (in column order).
pub fn rows(s: &Scenario, per_broker: &[&[Measurement]]) -> Vec<Row> {
    figures(s)
        .into_iter()
        .map(|f| Row {
            scenario: s.name.to_string(),
            figure: f.label.to_string(),
            values: per_broker.iter().map(|ms| median(ms.iter().filter_map(|m| (f.get)(m)).collect())).collect(),
        })
        .collect()
}

pub fn table(columns: &[&str], rows: &[Row], markdown: bool) -> String {
    let ratio = columns.len() == 2;
    let mut header: Vec<String> = vec!["scenario".into(), "figure".into()];
    header.extend(columns.iter().map(|c| format!("{c} (median)")));
    if ratio {
        header.push(format!("{}/{}", columns[0], columns[1]));
    }
    let mut cells: Vec<Vec<String>> = Vec::new();
    let mut last = String::new();
    for r in rows {
        let mut line = vec![if r.scenario != last { r.scenario.clone() } else { String::new() }, r.figure.clone()];
        last = r.scenario.clone();
        line.extend(r.values.iter().map(|v| v.map(num).unwrap_or_else(|| "-".into())));
        if ratio {
            line.push(match (r.values[0], r.values[1]) {
                (Some(a), Some(b)) if b != 0.0 => format!("{:.2}x", a / b),
                _ => "-".into(),
            });
        }
        cells.push(line);
    }
    let mut out = String::new();
    if markdown {
        out += &format!("| {} |\n", header.join(" | "));
        out += &format!("|{}\n", header.iter().enumerate().map(|(i, _)| if i < 2 { "---|" } else { "---:|" }).collect::<String>());
        for c in &cells {
            out += &format!("| {} |\n", c.join(" | "));
        }
    } else {
        let mut w = vec![0; header.len()];
        for line in std::iter::once(&header).chain(cells.iter()) {
            for (i, c) in line.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let fmt = |line: &Vec<String>| {
            line.iter()
                .enumerate()
                .map(|(i, c)| if i < 2 { format!("{c:<w$}", w = w[i]) } else { format!("{c:>w$}", w = w[i]) })
                .collect::<Vec<_>>()
                .join("  ")
        };
        out += &fmt(&header);
        out.push('\n');
        for c in &cells {
            out += &fmt(c);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_medians() {
        assert_eq!(int(1234567.4), "1,234,567");
        assert_eq!(int(999.0), "999");
        assert_eq!(num(1.234), "1.23");
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}
