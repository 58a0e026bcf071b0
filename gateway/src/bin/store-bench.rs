//! `store-bench`: throughput and recovery figures for the message store
//! (`gateway/src/store`). Not a test: it prints numbers.
//!
//! ```text
//! cargo run --release -p gateway --bin store-bench -- [--dir PATH] [--messages N] [--recovery-messages N]
//! ```
//!
//! It measures, on the disk holding `--dir` (default: a scratch directory
//! under the current one, removed afterwards):
//! 1. the cost of one 4 KiB write + fdatasync;
//! 2. streaming appends (the owner appends as fast as it can, then waits
//!    for the last one to be durable), for 16 B and 1 KiB bodies;
//! 3. confirm-waiting publishers: P tasks each send a message to one owner
//!    task and wait for it to be durable before sending the next, which is
//!    what group commit exists for;
//! 4. recovery of 1,000,000 messages, with none and with half acked.
//!
//! The store is the gateway's library (`gateway::store`), the same code
//! `warren` runs.

fn main() -> std::process::ExitCode {
    match bench::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("store-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

mod bench {
    use std::collections::VecDeque;
    use std::io::Write;
    use std::os::unix::fs::FileExt;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use clap::Parser;
    use tokio::sync::{mpsc, oneshot};

    use gateway::store::{DataDir, MessageStore, NewMessage, QueueKey, StoreConfig, StoreError};

    #[derive(Parser)]
    #[command(about = "Message store throughput and recovery figures")]
    struct Args {
        /// Directory to work in (created, and removed afterwards if it was).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Messages per streaming-append run.
        #[arg(long, default_value_t = 500_000)]
        messages: usize,
        /// Messages written before the recovery runs.
        #[arg(long, default_value_t = 1_000_000)]
        recovery_messages: usize,
        /// Seconds per confirm-waiting run.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
    }

    /// Typical persistent-message properties: delivery-mode 2, content-type.
    const PROPERTIES: &[u8] = &[0x90, 0x00, 0x0a, b't', b'e', b'x', b't', b'/', b'p', b'l', b'a', b'i', b'n', 0x02];

    pub fn run() -> Result<(), String> {
        let args = Args::parse();
        let (root, remove) = match &args.dir {
            Some(dir) => (dir.clone(), false),
            None => (PathBuf::from(format!("store-bench.tmp-{}", std::process::id())), true),
        };
        std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        let result = run_all(&args, &root);
        if remove {
            let _ = std::fs::remove_dir_all(&root);
        }
        result
    }

    fn run_all(args: &Args, root: &Path) -> Result<(), String> {
        println!("store-bench in {} ({} CPUs)", root.display(), std::thread::available_parallelism().map_or(0, |n| n.get()));
        fsync_cost(root)?;

        println!("\nstreaming appends (append all, then wait for the last to be durable):");
        for body in [16, 1024] {
            streaming(root, args.messages, body)?;
        }

        println!("\nconfirm-waiting publishers (each waits for its message to be durable, window 1):");
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| e.to_string())?;
        for body in [16, 1024] {
            for publishers in [1, 16, 256, 1024] {
                runtime.block_on(confirming(root, publishers, body, Duration::from_secs(args.seconds)))?;
            }
        }

        println!("\nrecovery of {} messages (16 B bodies, 64 MiB segments):", args.recovery_messages);
        recovery(root, args.recovery_messages)?;
        Ok(())
    }

    fn fresh(root: &Path, name: &str) -> PathBuf {
        let dir = root.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn open(dir: &Path) -> Result<(MessageStore, gateway::store::Recovered), StoreError> {
        MessageStore::open(&DataDir::open(dir)?, StoreConfig::default())
    }

    /// Raw write + fdatasync latency for appends of a few sizes: a small
    /// append within an allocated block is cheaper than one that allocates.
    fn fsync_cost(root: &Path) -> Result<(), String> {
        for size in [64usize, 4096] {
            let path = root.join("fsync-probe");
            let file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
            let block = vec![7u8; size];
            let rounds = 300u32;
            let started = Instant::now();
            for i in 0..rounds as u64 {
                file.write_all_at(&block, i * size as u64).map_err(|e| e.to_string())?;
                file.sync_data().map_err(|e| e.to_string())?;
            }
            let each = started.elapsed() / rounds;
            println!("write + fdatasync, {size:>4} B appends: {:.3} ms each ({:.0}/s)", ms(each), 1.0 / each.as_secs_f64());
            let _ = std::fs::remove_file(path);
        }
        Ok(())
    }

    fn streaming(root: &Path, messages: usize, body_len: usize) -> Result<(), String> {
        let dir = fresh(root, &format!("stream-{body_len}"));
        let (mut store, _) = open(&dir).map_err(|e| e.to_string())?;
        let q = store.queue(&QueueKey::new("/", "bench"));
        let body = vec![b'x'; body_len];
        let started = Instant::now();
        let mut last = 0;
        for _ in 0..messages {
            let msg = NewMessage { queues: &[q], exchange: "", routing_key: "bench", properties: PROPERTIES, body: &body };
            last = store.append(&msg).map_err(|e| e.to_string())?.seq;
        }
        let appended = started.elapsed();
        store.wait_durable(last).map_err(|e| e.to_string())?;
        let elapsed = started.elapsed();
        let stats = store.stats();
        let bytes = dir_bytes(&dir.join("msgs"));
        report(&format!("{body_len:>5} B x {messages}"), messages, bytes, elapsed);
        println!(
            "        appends alone {:.0} msgs/s; {} fdatasyncs, {:.0} messages per fdatasync",
            messages as f64 / appended.as_secs_f64(),
            stats.file_syncs,
            messages as f64 / stats.file_syncs.max(1) as f64
        );
        store.close().map_err(|e| e.to_string())?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    struct Publish {
        body: Vec<u8>,
        confirm: oneshot::Sender<()>,
    }

    /// One owner task appends and confirms, as the gateway's core task will.
    async fn confirming(root: &Path, publishers: usize, body_len: usize, run_for: Duration) -> Result<(), String> {
        let dir = fresh(root, &format!("confirm-{body_len}-{publishers}"));
        let (mut store, _) = open(&dir).map_err(|e| e.to_string())?;
        let q = store.queue(&QueueKey::new("/", "bench"));
        let (tx, mut rx) = mpsc::channel::<Publish>(publishers.max(1) * 2);
        let deadline = Instant::now() + run_for;
        let mut tasks = Vec::new();
        for _ in 0..publishers {
            let tx = tx.clone();
            tasks.push(tokio::spawn(async move {
                let mut sent = 0u64;
                while Instant::now() < deadline {
                    let (confirm, confirmed) = oneshot::channel();
                    if tx.send(Publish { body: vec![b'x'; body_len], confirm }).await.is_err() {
                        break;
                    }
                    if confirmed.await.is_err() {
                        break;
                    }
                    sent += 1;
                }
                sent
            }));
        }
        drop(tx);
        let mut durable = store.subscribe();
        let mut waiting: VecDeque<(u64, oneshot::Sender<()>)> = VecDeque::new();
        let started = Instant::now();
        let mut open_senders = true;
        while open_senders || !waiting.is_empty() {
            tokio::select! {
                publish = rx.recv(), if open_senders => match publish {
                    Some(p) => {
                        let msg = NewMessage { queues: &[q], exchange: "", routing_key: "bench", properties: PROPERTIES, body: &p.body };
                        let seq = store.append(&msg).map_err(|e| e.to_string())?.seq;
                        waiting.push_back((seq, p.confirm));
                    }
                    None => open_senders = false,
                },
                changed = durable.changed() => {
                    changed.map_err(|e| e.to_string())?;
                    let d = durable.borrow_and_update().clone();
                    if let Some(failed) = d.failed {
                        return Err(failed.to_string());
                    }
                    while waiting.front().is_some_and(|(seq, _)| *seq <= d.seq) {
                        let (_, confirm) = waiting.pop_front().expect("checked");
                        let _ = confirm.send(());
                    }
                }
            }
        }
        let elapsed = started.elapsed();
        let mut confirmed = 0;
        for t in tasks {
            confirmed += t.await.map_err(|e| e.to_string())?;
        }
        let stats = store.stats();
        let bytes = dir_bytes(&dir.join("msgs"));
        report(&format!("{body_len:>5} B, {publishers:>4} publishers"), confirmed as usize, bytes, elapsed);
        println!(
            "        {} fdatasyncs, {:.1} messages per fdatasync",
            stats.file_syncs,
            confirmed as f64 / stats.file_syncs.max(1) as f64
        );
        store.close().map_err(|e| e.to_string())?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    fn recovery(root: &Path, messages: usize) -> Result<(), String> {
        let dir = fresh(root, "recovery");
        let (mut store, _) = open(&dir).map_err(|e| e.to_string())?;
        let q = store.queue(&QueueKey::new("/", "bench"));
        let body = [b'r'; 16];
        let started = Instant::now();
        let mut ids = Vec::with_capacity(messages);
        for _ in 0..messages {
            let msg = NewMessage { queues: &[q], exchange: "amq.direct", routing_key: "bench", properties: PROPERTIES, body: &body };
            ids.push(store.append(&msg).map_err(|e| e.to_string())?.id);
        }
        store.close().map_err(|e| e.to_string())?;
        println!("  wrote {messages} in {:.2} s ({} MiB on disk)", started.elapsed().as_secs_f64(), dir_bytes(&dir.join("msgs")) >> 20);
        drop_page_cache_hint(&dir);
        timed_recovery(&dir, "none acked")?;

        let (mut store, recovered) = open(&dir).map_err(|e| e.to_string())?;
        let q = recovered.queues[0].queue;
        for id in ids.iter().step_by(2) {
            store.ack(q, *id).map_err(|e| e.to_string())?;
        }
        store.close().map_err(|e| e.to_string())?;
        timed_recovery(&dir, "half acked")?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    fn timed_recovery(dir: &Path, label: &str) -> Result<(), String> {
        let started = Instant::now();
        let (store, recovered) = open(dir).map_err(|e| e.to_string())?;
        let opened = started.elapsed();
        let live: usize = recovered.queues.iter().map(|q| q.live).sum();
        let read_started = Instant::now();
        let mut body_bytes = 0;
        for m in recovered.queues.iter().flat_map(|q| store.recovered_messages(q.queue)) {
            body_bytes += store.read(m.location).map_err(|e| e.to_string())?.body.len();
        }
        let read = read_started.elapsed();
        println!(
            "  {label:<11} open (scan + CRC + rebuild) {:>7.1} ms for {} records, {live} live; reading all {live} back {:.1} ms ({} MiB of bodies)",
            ms(opened),
            recovered.stats.records,
            ms(read),
            body_bytes >> 20
        );
        store.close().map_err(|e| e.to_string())
    }

    /// The recovery figures are with a warm page cache (the log was just
    /// written); say so rather than pretend otherwise.
    fn drop_page_cache_hint(_dir: &Path) {
        let _ = std::io::stdout().flush();
        println!("  (page cache warm: the figures below measure CPU work, not disk reads)");
    }

    fn report(label: &str, messages: usize, bytes: u64, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        println!(
            "  {label}: {:>9.0} msgs/s, {:>7.1} MB/s on disk ({messages} msgs in {:.2} s)",
            messages as f64 / secs,
            bytes as f64 / secs / 1e6,
            secs
        );
    }

    fn dir_bytes(dir: &Path) -> u64 {
        std::fs::read_dir(dir).map(|entries| entries.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()).unwrap_or(0)
    }

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1e3
    }
}
