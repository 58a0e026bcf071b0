//! Append, sync, reopen: what comes back and what does not.

use super::*;

#[test]
fn appended_messages_come_back_after_reopen_with_their_contents() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, recovered) = open(tmp.path(), ONE_SEGMENT);
    assert!(recovered.queues.is_empty());
    let q = store.queue(&key("orders"));
    let appended: Vec<Appended> = (0..10).map(|i| publish(&mut store, &[q], &format!("m{i}"))).collect();
    assert!(appended.windows(2).all(|w| w[0].id < w[1].id && w[0].seq < w[1].seq));
    store.wait_durable(appended[9].seq).unwrap();
    assert!(store.durable_seq() >= appended[9].seq);
    store.close().unwrap();

    let (mut store, recovered) = open(tmp.path(), ONE_SEGMENT);
    assert_eq!(recovered.queues.len(), 1);
    let queue = &recovered.queues[0];
    assert_eq!((&queue.key, queue.live), (&key("orders"), 10));
    let messages = store.recovered_messages(queue.queue);
    assert_eq!(messages.iter().map(|m| m.id).collect::<Vec<_>>(), appended.iter().map(|a| a.id).collect::<Vec<_>>());
    assert_eq!(bodies(&store, &recovered, &key("orders")), (0..10).map(|i| format!("m{i}")).collect::<Vec<_>>());
    let first = store.read(messages[0].location).unwrap();
    assert_eq!((&*first.exchange, &*first.routing_key), ("amq.direct", "key"));
    assert_eq!(&first.properties[..], &[0x10, 0x00, 0x02]);
    assert_eq!(recovered.stats.live_messages, 10);

    // Ids keep increasing across restarts.
    let q = store.queue(&key("orders"));
    assert_eq!(q, queue.queue);
    let next = publish(&mut store, &[q], "after restart");
    assert!(next.id > appended[9].id);
    store.close().unwrap();
    let (store, recovered) = open(tmp.path(), ONE_SEGMENT);
    assert_eq!(bodies(&store, &recovered, &key("orders")).last().unwrap(), "after restart");
}

#[test]
fn a_message_for_three_queues_is_written_once_and_lives_until_each_acks() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, _) = open(tmp.path(), ONE_SEGMENT);
    let queues = [store.queue(&key("a")), store.queue(&key("b")), store.queue(&QueueKey::new("other", "c"))];
    let m = publish(&mut store, &queues, "fan-out-body-4c1d");
    let only_a = publish(&mut store, &queues[..1], "only a");
    store.close().unwrap();
    let log = std::fs::read(&segment_files(tmp.path())[0]).unwrap();
    let copies = log.windows(17).filter(|w| *w == b"fan-out-body-4c1d").count();
    assert_eq!(copies, 1, "one record for all three queues");

    let (mut store, recovered) = open(tmp.path(), ONE_SEGMENT);
    assert_eq!(recovered.queues.len(), 3);
    let handle = |k: &QueueKey| recovered.queues.iter().find(|q| &q.key == k).unwrap().queue;
    assert!(store.ack(handle(&key("a")), m.id).unwrap().is_some());
    assert_eq!(store.ack(handle(&key("a")), m.id).unwrap(), None, "a second ack writes nothing");
    store.close().unwrap();

    let (mut store, recovered) = open(tmp.path(), ONE_SEGMENT);
    assert_eq!(bodies(&store, &recovered, &key("a")), vec!["only a"]);
    assert_eq!(bodies(&store, &recovered, &key("b")), vec!["fan-out-body-4c1d"]);
    assert_eq!(bodies(&store, &recovered, &QueueKey::new("other", "c")), vec!["fan-out-body-4c1d"]);
    let b = store.queue(&key("b"));
    let c = store.queue(&QueueKey::new("other", "c"));
    store.ack(b, m.id).unwrap();
    store.ack(c, m.id).unwrap();
    store.ack(store_queue(&recovered, "a"), only_a.id).unwrap();
    store.close().unwrap();

    let (_, recovered) = open(tmp.path(), ONE_SEGMENT);
    assert!(recovered.queues.is_empty(), "{:?}", recovered.queues);
}

fn store_queue(recovered: &Recovered, name: &str) -> QueueId {
    recovered.queues.iter().find(|q| q.key == key(name)).unwrap().queue
}

#[test]
fn acked_messages_do_not_come_back_and_delivered_ones_come_back_flagged() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, _) = open(tmp.path(), ONE_SEGMENT);
    let q = store.queue(&key("work"));
    let ids: Vec<u64> = (0..4).map(|i| publish(&mut store, &[q], &format!("job{i}")).id).collect();
    assert!(store.mark_delivered(q, ids[0]));
    assert!(!store.mark_delivered(q, ids[0]), "already flagged");
    assert!(store.mark_delivered(q, ids[1]));
    assert!(store.mark_delivered(q, ids[2]));
    store.ack(q, ids[0]).unwrap();
    store.ack(q, ids[2]).unwrap();
    assert!(!store.mark_delivered(q, ids[2]), "acked");
    store.close().unwrap();

    let (store, recovered) = open(tmp.path(), ONE_SEGMENT);
    assert_eq!(contents(&store, &recovered, &key("work")), vec![("job1".into(), true), ("job3".into(), false)]);
}

#[test]
fn purge_and_delete_drop_only_that_queue() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, _) = open(tmp.path(), ONE_SEGMENT);
    let (a, b, c) = (store.queue(&key("a")), store.queue(&key("b")), store.queue(&key("c")));
    publish(&mut store, &[a, b], "ab");
    publish(&mut store, &[a], "a");
    publish(&mut store, &[c], "c");
    assert_eq!(store.purge_queue(a).unwrap().1, 2);
    publish(&mut store, &[a], "a after purge");
    assert_eq!(store.delete_queue(c).unwrap().1, 1);
    store.close().unwrap();

    let (store, recovered) = open(tmp.path(), ONE_SEGMENT);
    assert_eq!(bodies(&store, &recovered, &key("a")), vec!["a after purge"]);
    assert_eq!(bodies(&store, &recovered, &key("b")), vec!["ab"]);
    assert!(bodies(&store, &recovered, &key("c")).is_empty());
}

#[test]
fn reads_work_before_the_committer_has_written_the_record() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc, Mutex};
    let tmp = tempfile::tempdir().unwrap();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let held = AtomicBool::new(false);
    // Hold the very first write until the test says so.
    let hook: FaultHook = Arc::new(move |step, _| {
        if step == IoStep::Write && !held.swap(true, Ordering::SeqCst) {
            let _ = release_rx.lock().unwrap().recv();
        }
        Ok(())
    });
    let (mut store, _) = open_with(tmp.path(), StoreConfig { fault_hook: Some(hook), ..config(ONE_SEGMENT) }).unwrap();
    let q = store.queue(&key("q"));
    let first = publish(&mut store, &[q], "in flight");
    let second = publish(&mut store, &[q], "still queued");
    assert_eq!(&store.read(first.location).unwrap().body[..], b"in flight");
    assert_eq!(&store.read(second.location).unwrap().body[..], b"still queued");
    assert_eq!(store.durable_seq(), 0);
    release_tx.send(()).unwrap();
    store.wait_durable(second.seq).unwrap();
    assert_eq!(&store.read(second.location).unwrap().body[..], b"still queued");
}

#[test]
fn recovery_reports_progress() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, _) = open(tmp.path(), 4096);
    let q = store.queue(&key("q"));
    for i in 0..300 {
        publish(&mut store, &[q], &format!("{i:08}"));
    }
    store.close().unwrap();
    let data = DataDir::open(tmp.path()).unwrap();
    let mut reports = Vec::new();
    let config = StoreConfig { progress_every_records: 100, ..config(4096) };
    let (_, recovered) = MessageStore::open_with_progress(&data, config, |p| reports.push(p.clone())).unwrap();
    let last = reports.last().unwrap();
    assert_eq!((last.segments_done, last.segments_total), (recovered.stats.segments, recovered.stats.segments));
    assert_eq!(last.bytes_done, last.bytes_total);
    assert!(reports.iter().filter(|p| p.records % 100 == 0 && p.records > 0).count() >= 3);
    assert_eq!(recovered.stats.live_messages, 300);
}

#[test]
fn invalid_requests_are_refused_without_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, _) = open(tmp.path(), ONE_SEGMENT);
    let q = store.queue(&key("q"));
    let no_queue = NewMessage { queues: &[], exchange: "", routing_key: "", properties: &[], body: b"x" };
    assert!(matches!(store.append(&no_queue), Err(StoreError::Invalid(_))));
    let long_key = "k".repeat(256);
    let too_long = NewMessage { queues: &[q], routing_key: &long_key, ..no_queue };
    assert!(matches!(store.append(&too_long), Err(StoreError::Invalid(_))));
    assert_eq!(store.ack(q, 12345).unwrap(), None);
    assert_eq!(store.last_seq(), 0);
    assert!(open_with(tmp.path(), config(10)).is_err(), "locked, and the size is out of range anyway");
}

#[test]
fn a_reader_handle_reads_on_another_thread_while_the_owner_appends() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, _) = open(tmp.path(), 4096);
    let q = store.queue(&key("q"));
    let (tx, rx) = std::sync::mpsc::channel::<(Location, String)>();
    let reader = store.reader();
    let checker = std::thread::spawn(move || {
        let mut n = 0;
        for (location, body) in rx {
            assert_eq!(reader.read(location).unwrap().body, body.as_bytes());
            n += 1;
        }
        n
    });
    for i in 0..2000 {
        let body = format!("body {i}");
        let a = publish(&mut store, &[q], &body);
        tx.send((a.location, body)).unwrap();
    }
    drop(tx);
    assert_eq!(checker.join().unwrap(), 2000);
}
