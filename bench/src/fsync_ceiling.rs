//! `warren-bench fsync-ceiling`: the most confirms per second that any
//! broker which fsyncs before confirming can give one publisher with a
//! window of W unconfirmed messages on this disk. It models an ideal broker
//! that spends no time at all on a message: a group-commit thread appends
//! every pending record (70 B each, a 16 B message's size in Warren's log)
//! to one file and `fdatasync`s it, then confirms them all; the publisher
//! refills its window the moment confirms arrive, so every sync carries
//! the whole window. Real brokers add their own time per message on top:
//! `work_per_message` models it as serial time spent on each message before it is
//! handed to the syncer (while the syncer may be busy with earlier ones).

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Octets a 16 B persistent message takes in Warren's segment log.
const RECORD: usize = 70;

struct Pending {
    /// Records published and not yet taken by the syncer.
    queued: usize,
    published: u64,
    confirmed: u64,
    stop: bool,
}

pub struct Ceiling {
    pub confirms_per_sec: f64,
    pub syncs: u64,
    pub ms_per_sync: f64,
}

pub fn measure(dir: &Path, window: u64, work_per_message: Duration, duration: Duration) -> Result<Ceiling, String> {
    let path = dir.join(format!("warren-fsync-ceiling-{}", std::process::id()));
    let file = std::fs::OpenOptions::new().create(true).write(true).truncate(true).open(&path).map_err(|e| e.to_string())?;
    let shared = Arc::new((Mutex::new(Pending { queued: 0, published: 0, confirmed: 0, stop: false }), Condvar::new(), Condvar::new()));
    let syncer = {
        let shared = shared.clone();
        std::thread::spawn(move || -> Result<u64, String> {
            let (state, work, confirmed) = &*shared;
            let records = vec![0x5a_u8; RECORD * 4096];
            let (mut offset, mut syncs) = (0u64, 0u64);
            loop {
                let n = {
                    let mut p = state.lock().unwrap();
                    while p.queued == 0 && !p.stop {
                        p = work.wait(p).unwrap();
                    }
                    if p.stop {
                        return Ok(syncs);
                    }
                    std::mem::take(&mut p.queued)
                };
                let mut left = n * RECORD;
                while left > 0 {
                    let chunk = left.min(records.len());
                    file.write_all_at(&records[..chunk], offset).map_err(|e| e.to_string())?;
                    offset += chunk as u64;
                    left -= chunk;
                }
                file.sync_data().map_err(|e| e.to_string())?;
                syncs += 1;
                state.lock().unwrap().confirmed += n as u64;
                confirmed.notify_all();
            }
        })
    };
    let (state, work, confirmed) = &*shared;
    let started = Instant::now();
    let mut p = state.lock().unwrap();
    while started.elapsed() < duration {
        while p.published - p.confirmed >= window {
            p = confirmed.wait(p).unwrap();
        }
        let room = window - (p.published - p.confirmed);
        p.published += room;
        if !work_per_message.is_zero() {
            // The broker's own serial work on these messages, done before
            // they reach the syncer and without holding it up.
            drop(p);
            busy(work_per_message * room as u32);
            p = state.lock().unwrap();
        }
        p.queued += room as usize;
        work.notify_one();
    }
    let (done, secs) = (p.confirmed, started.elapsed().as_secs_f64());
    p.stop = true;
    drop(p);
    work.notify_all();
    let syncs = syncer.join().map_err(|_| "the syncer panicked".to_string())??;
    let _ = std::fs::remove_file(&path);
    Ok(Ceiling { confirms_per_sec: done as f64 / secs, syncs, ms_per_sync: secs * 1e3 / syncs.max(1) as f64 })
}

/// Spins for `d`: work on the CPU, not a sleep.
fn busy(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}
