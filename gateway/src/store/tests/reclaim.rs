//! Segment rollover and deletion of segments nothing refers to.

use std::sync::Arc;

use super::*;

/// Small segments: a handful of records each.
const TINY: u64 = 256;

#[test]
fn segments_roll_over_and_fully_acked_ones_are_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, _) = open(tmp.path(), TINY);
    let q = store.queue(&key("q"));
    let ids: Vec<u64> = (0..40).map(|i| publish(&mut store, &[q], &format!("message {i:03}")).id).collect();
    store.wait_durable(store.last_seq()).unwrap();
    let before = segment_files(tmp.path());
    assert!(before.len() >= 8, "{} segments", before.len());
    for file in &before {
        assert!(std::fs::metadata(file).unwrap().len() <= TINY);
    }
    for id in &ids {
        store.ack(q, *id).unwrap();
    }
    assert_eq!(store.stats().segments, 1, "only the head is left in the ledger");
    store.close().unwrap();
    let after = segment_files(tmp.path());
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0], *before.last().unwrap().max(&after[0]), "the head is the newest segment");

    let (_, recovered) = open(tmp.path(), TINY);
    assert!(recovered.queues.is_empty());
}

#[test]
fn a_segment_stays_while_one_message_in_it_is_live() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, _) = open(tmp.path(), TINY);
    let q = store.queue(&key("q"));
    let ids: Vec<u64> = (0..40).map(|i| publish(&mut store, &[q], &format!("message {i:03}")).id).collect();
    store.wait_durable(store.last_seq()).unwrap();
    let first_segment = segment_files(tmp.path())[0].clone();
    for id in &ids[1..] {
        store.ack(q, *id).unwrap();
    }
    store.close().unwrap();
    let files = segment_files(tmp.path());
    assert_eq!(files[0], first_segment, "the stuck message keeps its segment");
    assert!(files.len() < 6, "the rest is reclaimed: {files:?}");

    let (store, recovered) = open(tmp.path(), TINY);
    assert_eq!(bodies(&store, &recovered, &key("q")), vec!["message 000"]);
}

#[test]
fn acks_about_messages_in_deleted_segments_do_not_break_recovery() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, _) = open(tmp.path(), TINY);
    let q = store.queue(&key("q"));
    let early: Vec<u64> = (0..3).map(|i| publish(&mut store, &[q], &format!("early {i}")).id).collect();
    // Fill the rest of the first segment so the acks land in a later one.
    while store.stats().segments < 2 {
        publish(&mut store, &[q], "filler");
    }
    let recovered_before_acks = store.stats().live_messages;
    for id in &early {
        store.ack(q, *id).unwrap();
    }
    store.close().unwrap();
    let (mut store, recovered) = open(tmp.path(), TINY);
    let live = &store.recovered_messages(recovered.queues[0].queue);
    assert_eq!(live.len(), recovered_before_acks - 3);
    // Ack the fillers of segment 1 too: segment 1 goes, and the acks of the
    // early messages in segment 2 now point at nothing.
    let q = recovered.queues[0].queue;
    for m in live.iter().filter(|m| m.location.segment == 1) {
        store.ack(q, m.id).unwrap();
    }
    store.close().unwrap();
    assert!(!segment_files(tmp.path()).iter().any(|p| p.ends_with("00000000000000000001.seg")));
    let (store, recovered) = open(tmp.path(), TINY);
    let remaining = bodies(&store, &recovered, &key("q"));
    assert!(remaining.iter().all(|b| b == "filler"));
    assert_eq!(remaining.len(), live.iter().filter(|m| m.location.segment != 1).count());
}

#[test]
fn a_segment_with_acks_for_an_older_live_segment_waits_for_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, _) = open(tmp.path(), TINY);
    let (a, b) = (store.queue(&key("a")), store.queue(&key("b")));
    let old = publish(&mut store, &[a], "old-a");
    let kept = publish(&mut store, &[b], "kept-b");
    while store.stats().segments < 2 {
        publish(&mut store, &[b], "pad");
    }
    // Segment 2 gets a message (acked at once) and the ack for `old`.
    let m2 = publish(&mut store, &[a], "m2");
    store.ack(a, old.id).unwrap();
    store.ack(a, m2.id).unwrap();
    // Move the head on so segment 2 is sealed.
    let head_before = store.stats().segments;
    while store.stats().segments == head_before {
        publish(&mut store, &[b], "pad");
    }
    store.close().unwrap();
    let files = segment_files(tmp.path());
    assert!(files.iter().any(|p| p.ends_with("00000000000000000002.seg")), "pinned by its ack of `old`: {files:?}");
    let (mut store, recovered) = open(tmp.path(), TINY);
    assert!(bodies(&store, &recovered, &key("a")).is_empty(), "the ack of `old` was kept");
    // Once segment 1 is gone, segment 2 has nothing left to say.
    let b = store.queue(&key("b"));
    store.ack(b, kept.id).unwrap();
    for m in &store.recovered_messages(recovered.queues.iter().find(|q| q.key == key("b")).unwrap().queue) {
        if m.location.segment <= 2 {
            store.ack(b, m.id).unwrap();
        }
    }
    store.close().unwrap();
    let files = segment_files(tmp.path());
    assert!(!files.iter().any(|p| p.ends_with("00000000000000000001.seg") || p.ends_with("00000000000000000002.seg")));
}

#[test]
fn recovery_deletes_segments_that_were_reclaimable_at_the_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let saved = tmp.path().join("saved");
    let dir = tmp.path().join("data");
    let (mut store, _) = open(&dir, TINY);
    let q = store.queue(&key("q"));
    let ids: Vec<u64> = (0..20).map(|i| publish(&mut store, &[q], &format!("m{i}")).id).collect();
    store.close().unwrap();
    std::fs::create_dir(&saved).unwrap();
    for file in segment_files(&dir) {
        std::fs::copy(&file, saved.join(file.file_name().unwrap())).unwrap();
    }

    // Bigger segments now, so every ack lands in the head, which stays.
    let (mut store, _) = open(&dir, ONE_SEGMENT);
    for id in &ids {
        store.ack(q, *id).unwrap();
    }
    store.close().unwrap();
    // A crash after the acks were durable but before the unlinks: sealed
    // segments never change, so putting the deleted files back recreates it.
    let mut restored = 0;
    for file in std::fs::read_dir(&saved).unwrap() {
        let file = file.unwrap().path();
        let target = dir.join("msgs").join(file.file_name().unwrap());
        if !target.exists() {
            std::fs::copy(&file, &target).unwrap();
            restored += 1;
        }
    }
    assert!(restored > 2);
    let before = segment_files(&dir).len();

    let (_, recovered) = open(&dir, TINY);
    assert!(recovered.queues.is_empty());
    assert_eq!(recovered.stats.deleted_segments, restored);
    assert_eq!(segment_files(&dir).len(), before - restored);
}

#[test]
fn a_failed_unlink_fails_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let hook: FaultHook = Arc::new(|step, _| match step {
        IoStep::Delete => Err(std::io::Error::other("injected unlink failure")),
        _ => Ok(()),
    });
    let (mut store, _) = open_with(tmp.path(), StoreConfig { fault_hook: Some(hook), ..config(TINY) }).unwrap();
    let q = store.queue(&key("q"));
    let ids: Vec<u64> = (0..20).map(|i| publish(&mut store, &[q], &format!("m{i}")).id).collect();
    for id in ids {
        if store.ack(q, id).is_err() {
            break;
        }
    }
    let err = store.close().unwrap_err().to_string();
    assert!(err.contains("injected unlink failure") && err.contains(".seg"), "{err}");
}

#[test]
fn a_record_bigger_than_a_segment_gets_a_segment_of_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, _) = open(tmp.path(), TINY);
    let q = store.queue(&key("q"));
    publish(&mut store, &[q], "small");
    let big = "x".repeat(1000);
    let a = publish(&mut store, &[q], &big);
    publish(&mut store, &[q], "after");
    store.close().unwrap();
    let (store, recovered) = open(tmp.path(), TINY);
    assert_eq!(bodies(&store, &recovered, &key("q")), vec!["small".to_string(), big, "after".into()]);
    let messages = store.recovered_messages(recovered.queues[0].queue);
    let big_segment = messages[1].location.segment;
    assert_eq!(big_segment, a.location.segment);
    assert_ne!(messages[0].location.segment, big_segment);
    assert_ne!(messages[2].location.segment, big_segment);
}

#[test]
fn one_long_lived_message_does_not_pin_the_segments_after_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, _) = open(tmp.path(), TINY);
    let (stuck_q, flow) = (store.queue(&key("stuck")), store.queue(&key("flow")));
    let both = publish(&mut store, &[stuck_q, flow], "held by both");
    let stuck = publish(&mut store, &[stuck_q], "held for a long time");
    store.mark_delivered(stuck_q, stuck.id);
    store.mark_delivered(stuck_q, both.id);
    // Each ack lands after the next publish, often in the next segment, so
    // every segment holds acks for the one before it.
    let mut previous = publish(&mut store, &[flow], "flow 0");
    for i in 1..300 {
        let next = publish(&mut store, &[flow], &format!("flow {i}"));
        store.ack(flow, previous.id).unwrap();
        previous = next;
        if i == 5 {
            store.ack(flow, both.id).unwrap();
        }
    }
    store.close().unwrap();
    let files = segment_files(tmp.path());
    assert!(files.len() <= 4, "{} segments left: {files:?}", files.len());
    assert!(files[0].ends_with("00000000000000000001.seg"), "the long-lived message keeps segment 1");

    let (store, recovered) = open(tmp.path(), TINY);
    assert_eq!(
        contents(&store, &recovered, &key("stuck")),
        vec![("held by both".to_string(), true), ("held for a long time".to_string(), true)]
    );
    assert_eq!(bodies(&store, &recovered, &key("flow")), vec!["flow 299"]);
}
