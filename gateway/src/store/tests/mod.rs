//! Store-level tests: a real directory, the committer thread, reopening.
//! Each file covers one concern; the helpers here keep them short.

mod compact;
mod corruption;
mod group_commit;
mod reclaim;
mod round_trip;

use std::path::{Path, PathBuf};

use super::*;

/// Big enough that tests not about rollover stay in one segment.
const ONE_SEGMENT: u64 = 1 << 20;

fn config(segment_max_bytes: u64) -> StoreConfig {
    StoreConfig { segment_max_bytes, ..StoreConfig::default() }
}

fn open(dir: &Path, segment_max_bytes: u64) -> (MessageStore, Recovered) {
    open_with(dir, config(segment_max_bytes)).expect("open")
}

fn open_with(dir: &Path, config: StoreConfig) -> Result<(MessageStore, Recovered), StoreError> {
    let data = DataDir::open(dir)?;
    MessageStore::open(&data, config)
}

fn publish(store: &mut MessageStore, queues: &[QueueId], body: &str) -> Appended {
    store
        .append(&NewMessage {
            queues,
            exchange: "amq.direct",
            routing_key: "key",
            properties: &[0x10, 0x00, 0x02], // delivery-mode flag set, persistent
            body: body.as_bytes(),
        })
        .expect("append")
}

/// Bodies and delivered flags of a recovered queue, read back through the store.
fn contents(store: &MessageStore, recovered: &Recovered, key: &QueueKey) -> Vec<(String, bool)> {
    let Some(queue) = recovered.queues.iter().find(|q| &q.key == key) else { return Vec::new() };
    store
        .recovered_messages(queue.queue)
        .iter()
        .map(|m| {
            let stored = store.read(m.location).expect("read");
            assert_eq!(stored.id, m.id);
            (String::from_utf8(stored.body.to_vec()).unwrap(), m.delivered)
        })
        .collect()
}

fn bodies(store: &MessageStore, recovered: &Recovered, key: &QueueKey) -> Vec<String> {
    contents(store, recovered, key).into_iter().map(|(body, _)| body).collect()
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("msgs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

fn key(name: &str) -> QueueKey {
    QueueKey::new("/", name)
}
