//! What keeps the log small and memory flat: acks written as ranges,
//! delivered flags written only at a clean close, and reading back by id
//! through the ledger.

use super::*;

fn log_bytes(dir: &Path) -> u64 {
    segment_files(dir).iter().map(|f| std::fs::metadata(f).unwrap().len()).sum()
}

#[test]
fn a_run_of_acks_is_one_record_and_replays_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, _) = open(tmp.path(), ONE_SEGMENT);
    let (a, b) = (store.queue(&key("a")), store.queue(&key("b")));
    // a holds 0, 2, 4, ... and b holds 1, 3, 5, ...; m 100 is in both.
    let mut ids = Vec::new();
    for i in 0..100 {
        let q = if i % 2 == 0 { a } else { b };
        ids.push(publish(&mut store, &[q], &format!("m{i}")).id);
    }
    let shared = publish(&mut store, &[a, b], "m100").id;
    store.wait_durable(store.last_seq()).unwrap();
    let before = log_bytes(tmp.path());
    // a acks everything but m50, in any order; b acks nothing.
    for i in (0..100).step_by(2).rev().filter(|i| *i != 50) {
        store.ack_later(a, ids[i]).unwrap();
    }
    store.ack_later(a, shared).unwrap();
    store.flush_acks().unwrap();
    store.wait_durable(store.last_seq()).unwrap();
    let written = log_bytes(tmp.path()) - before;
    // Two runs (before and after m50), where per-message records took 50 x 25.
    assert_eq!(written, 2 * record::ACK_RANGE_LEN as u64, "acks took {written} bytes");
    store.close().unwrap();

    let (store, recovered) = open(tmp.path(), ONE_SEGMENT);
    assert_eq!(bodies(&store, &recovered, &key("a")), vec!["m50".to_string()]);
    let expected_b: Vec<String> = (1..100).step_by(2).map(|i| format!("m{i}")).chain(["m100".to_string()]).collect();
    assert_eq!(bodies(&store, &recovered, &key("b")), expected_b);
}

#[test]
fn delivered_flags_are_written_at_a_clean_close_only() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, _) = open(tmp.path(), ONE_SEGMENT);
    let q = store.queue(&key("q"));
    let ids: Vec<u64> = (0..3).map(|i| publish(&mut store, &[q], &format!("m{i}")).id).collect();
    store.wait_durable(store.last_seq()).unwrap();
    let before = log_bytes(tmp.path());
    assert!(store.mark_delivered(q, ids[1]));
    assert!(store.mark_delivered(q, ids[2]));
    store.ack(q, ids[2]).unwrap();
    store.wait_durable(store.last_seq()).unwrap();
    assert_eq!(log_bytes(tmp.path()) - before, record::MESSAGE_EVENT_LEN as u64, "only the ack is written while running");
    // Dropped without close (as in a crash, minus the torn tail): no flag on disk.
    drop(store);
    let (mut store, recovered) = open(tmp.path(), ONE_SEGMENT);
    assert_eq!(contents(&store, &recovered, &key("q")), vec![("m0".into(), false), ("m1".into(), false)]);
    assert!(store.mark_delivered(store_queue(&recovered), ids[1]));
    store.close().unwrap();
    let (store, recovered) = open(tmp.path(), ONE_SEGMENT);
    assert_eq!(contents(&store, &recovered, &key("q")), vec![("m0".into(), false), ("m1".into(), true)]);
}

fn store_queue(recovered: &Recovered) -> QueueId {
    recovered.queues[0].queue
}

#[test]
fn the_loader_reads_by_id_across_segments_and_before_the_write() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, _) = open(tmp.path(), 1024);
    let q = store.queue(&key("q"));
    let ids: Vec<u64> = (0..200).map(|i| publish(&mut store, &[q], &format!("message {i}")).id).collect();
    let mut loader = store.loader();
    // Some of these are still with the committer: read back all the same.
    for (i, id) in ids.iter().enumerate() {
        let m = loader.load(*id).unwrap().expect("live");
        assert_eq!((m.id, &m.body[..], &*m.routing_key), (*id, format!("message {i}").as_bytes(), "key"));
    }
    store.wait_durable(store.last_seq()).unwrap();
    assert!(store.stats().segments > 5, "spans {} segments", store.stats().segments);
    for (i, id) in ids.iter().enumerate().rev() {
        assert_eq!(loader.load(*id).unwrap().expect("live").body, format!("message {i}").as_bytes());
    }
    store.ack(q, ids[7]).unwrap();
    assert!(loader.load(ids[7]).unwrap().is_none(), "acked everywhere: gone");
    assert!(loader.load(1 << 40).unwrap().is_none());
}
