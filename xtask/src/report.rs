//! The `cargo xtask test` report: each step's outcome and time, the test
//! counts parsed from each runner's output (cargo test, pytest, node --test),
//! and the closing summary.

use std::time::Instant;

/// Tests passed, failed and skipped, as one runner reported them.
#[derive(Default, Clone, Copy)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.passed += o.passed;
        self.failed += o.failed;
        self.skipped += o.skipped;
    }
}

/// The number right before `word` in `line` (e.g. "12 passed").
fn number_before(line: &str, word: &str) -> Option<u64> {
    let idx = line.find(word)?;
    line[..idx].split_whitespace().last()?.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok()
}

/// Sums `test result: ok. N passed; M failed; K ignored` lines of cargo test.
pub fn cargo_counts(out: &str) -> Counts {
    let mut c = Counts::default();
    for line in out.lines().filter(|l| l.starts_with("test result:")) {
        c.passed += number_before(line, " passed").unwrap_or(0);
        c.failed += number_before(line, " failed").unwrap_or(0);
        c.skipped += number_before(line, " ignored").unwrap_or(0);
    }
    c
}

/// pytest's closing line, e.g. `==== 12 passed, 1 failed in 1.2s ====`.
pub fn pytest_counts(out: &str) -> Counts {
    let Some(line) = out.lines().rev().find(|l| l.contains(" passed") || l.contains(" failed") || l.contains(" error")) else {
        return Counts::default();
    };
    Counts {
        passed: number_before(line, " passed").unwrap_or(0),
        failed: number_before(line, " failed").unwrap_or(0) + number_before(line, " error").unwrap_or(0),
        skipped: number_before(line, " skipped").unwrap_or(0),
    }
}

/// node --test's TAP trailer: `# pass N`, `# fail N`, `# skipped N`.
pub fn node_counts(out: &str) -> Counts {
    let mut c = Counts::default();
    for line in out.lines() {
        let mut it = line.split_whitespace();
        if it.next() != Some("#") {
            continue;
        }
        let (Some(key), Some(n)) = (it.next(), it.next().and_then(|n| n.parse::<u64>().ok())) else {
            continue;
        };
        match key {
            "pass" => c.passed = n,
            "fail" | "cancelled" => c.failed += n,
            "skipped" | "todo" => c.skipped += n,
            _ => {}
        }
    }
    c
}

struct Step {
    name: String,
    ok: bool,
    note: String,
    secs: f64,
    counts: Option<Counts>,
}

/// The steps of one `cargo xtask test` run, in order.
#[derive(Default)]
pub struct Report {
    steps: Vec<Step>,
}

impl Report {
    /// Records a finished step: Err, or counts with a failure, mark it
    /// failed. Returns whether it succeeded, so later steps can depend on it.
    pub fn record(&mut self, name: impl Into<String>, started: Instant, r: Result<Option<Counts>, String>) -> bool {
        let name = name.into();
        let secs = started.elapsed().as_secs_f64();
        let (ok, note, counts) = match r {
            Ok(c) => (c.is_none_or(|c| c.failed == 0), String::new(), c),
            Err(e) => (false, e, None),
        };
        println!("\nxtask: --- {name}: {} ({secs:.1}s)\n", if ok { "ok" } else { "FAILED" });
        self.steps.push(Step { name, ok, note, secs, counts });
        ok
    }

    /// Records a step that could not run (a failure: nothing was checked).
    pub fn skip(&mut self, name: impl Into<String>, why: &str) {
        self.steps.push(Step { name: name.into(), ok: false, note: format!("not run: {why}"), secs: 0.0, counts: None });
    }

    /// Whether any of the last `n` recorded steps failed.
    pub fn any_failed_in_last(&self, n: usize) -> bool {
        self.steps.iter().rev().take(n).any(|s| !s.ok)
    }

    /// Prints every step and the summed counts; Err when a step failed.
    pub fn summarize(&self) -> Result<(), String> {
        println!("\nxtask: ================= summary =================");
        let mut total = Counts::default();
        for s in &self.steps {
            let counts =
                s.counts.map(|c| format!(" [{} passed, {} failed, {} skipped]", c.passed, c.failed, c.skipped)).unwrap_or_default();
            println!(
                "xtask: {:<6} {:<32} {:>6.1}s{}{}",
                if s.ok { "ok" } else { "FAILED" },
                s.name,
                s.secs,
                counts,
                if s.note.is_empty() { String::new() } else { format!("  -- {}", s.note) }
            );
            if let Some(c) = s.counts {
                total += c;
            }
        }
        let failed_steps: Vec<&str> = self.steps.iter().filter(|s| !s.ok).map(|s| s.name.as_str()).collect();
        if failed_steps.is_empty() {
            println!("xtask: all {} steps ok", self.steps.len());
        } else {
            println!("xtask: failed steps: {}", failed_steps.join(", "));
        }
        println!("xtask: {} passed, {} failed, {} skipped", total.passed, total.failed, total.skipped);
        if failed_steps.is_empty() {
            Ok(())
        } else {
            Err(format!("{} step(s) failed", failed_steps.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_runner_output() {
        let cargo = "test result: ok. 14 passed; 0 failed; 2 ignored; 0 measured\n\
                     test result: FAILED. 3 passed; 1 failed; 0 ignored;\n";
        let c = cargo_counts(cargo);
        assert_eq!((c.passed, c.failed, c.skipped), (17, 1, 2));

        let c = pytest_counts("...\n======= 12 passed, 1 failed, 2 skipped in 1.24s =======\n");
        assert_eq!((c.passed, c.failed, c.skipped), (12, 1, 2));
        let c = pytest_counts("13 passed in 1.39s\n");
        assert_eq!((c.passed, c.failed), (13, 0));

        let node = "1..12\n# tests 12\n# suites 0\n# pass 11\n# fail 1\n# cancelled 0\n# skipped 0\n# todo 0\n";
        let c = node_counts(node);
        assert_eq!((c.passed, c.failed, c.skipped), (11, 1, 0));
    }
}
