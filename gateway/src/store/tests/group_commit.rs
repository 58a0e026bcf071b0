//! Group commit: one fsync covers what queued while the previous ran;
//! failures are sticky and never reported durable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use super::*;

fn is_segment(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "seg")
}

#[test]
fn appends_made_while_an_fsync_runs_are_covered_by_one_later_fsync() {
    let tmp = tempfile::tempdir().unwrap();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (started_tx, release_rx) = (Mutex::new(started_tx), Mutex::new(release_rx));
    let fired = AtomicBool::new(false);
    // The first fdatasync of a segment signals, then waits for the test.
    let hook: FaultHook = Arc::new(move |step, path| {
        if step == IoStep::Sync && is_segment(path) && !fired.swap(true, Ordering::SeqCst) {
            started_tx.lock().unwrap().send(()).unwrap();
            release_rx.lock().unwrap().recv().unwrap();
        }
        Ok(())
    });
    let (mut store, _) = open_with(tmp.path(), StoreConfig { fault_hook: Some(hook), ..config(ONE_SEGMENT) }).unwrap();
    let q = store.queue(&key("q"));
    let first = publish(&mut store, &[q], "first");
    started_rx.recv().unwrap();
    let during: Vec<Appended> = (0..500).map(|i| publish(&mut store, &[q], &format!("m{i}"))).collect();
    assert_eq!(store.durable_seq(), 0, "nothing is durable while the first fsync runs");
    release_tx.send(()).unwrap();
    store.wait_durable(first.seq).unwrap();
    store.wait_durable(during.last().unwrap().seq).unwrap();
    let stats = store.stats();
    assert_eq!(stats.file_syncs, 2, "one fsync for the first append, one for the 500 after it");
    assert_eq!(stats.batches, 2);
    assert_eq!(stats.unsynced_bytes, 0);
}

#[test]
fn under_a_steady_stream_of_appends_there_are_far_fewer_fsyncs_than_appends() {
    let tmp = tempfile::tempdir().unwrap();
    let hook: FaultHook = Arc::new(|step, _| {
        if step == IoStep::Sync {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        Ok(())
    });
    let (mut store, _) = open_with(tmp.path(), StoreConfig { fault_hook: Some(hook), ..config(64 << 10) }).unwrap();
    let q = store.queue(&key("q"));
    let mut last = None;
    for i in 0..5000 {
        last = Some(publish(&mut store, &[q], &format!("{i:032}")));
        if i % 500 == 0 {
            // A confirm-waiting publisher now and then.
            store.wait_durable(last.unwrap().seq).unwrap();
        }
    }
    store.wait_durable(last.unwrap().seq).unwrap();
    let stats = store.stats();
    assert!(stats.file_syncs < 200, "{stats:?}");
    assert!(stats.segments > 1);
}

#[tokio::test]
async fn an_async_owner_is_woken_when_its_append_becomes_durable() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, _) = open(tmp.path(), ONE_SEGMENT);
    let mut durable = store.subscribe();
    let q = store.queue(&key("q"));
    let a = publish(&mut store, &[q], "confirm me");
    let seen = durable.wait_for(|d| d.seq >= a.seq || d.failed.is_some()).await.unwrap().clone();
    assert!(seen.failed.is_none());
    assert!(seen.seq >= a.seq);
}

/// A hook that fails every step of `kind` on segment files once `armed`.
fn failing_hook(kind: IoStep, armed: Arc<AtomicBool>) -> FaultHook {
    Arc::new(move |step, path| {
        if step == kind && is_segment(path) && armed.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("injected failure"));
        }
        Ok(())
    })
}

#[test]
fn a_failed_fsync_is_never_reported_durable_and_the_store_stays_failed() {
    for kind in [IoStep::Sync, IoStep::Write] {
        let tmp = tempfile::tempdir().unwrap();
        let armed = Arc::new(AtomicBool::new(false));
        let hook = failing_hook(kind, armed.clone());
        let (mut store, _) = open_with(tmp.path(), StoreConfig { fault_hook: Some(hook), ..config(ONE_SEGMENT) }).unwrap();
        let mut watch = store.subscribe();
        let q = store.queue(&key("q"));
        let good = publish(&mut store, &[q], "good");
        store.wait_durable(good.seq).unwrap();

        armed.store(true, Ordering::SeqCst);
        let lost = publish(&mut store, &[q], "lost");
        let err = store.wait_durable(lost.seq).unwrap_err();
        let segment = segment_files(tmp.path())[0].clone();
        assert!(err.to_string().contains(&segment.display().to_string()), "{err}");
        assert!(err.to_string().contains("injected failure"), "{err}");
        assert_eq!(store.durable_seq(), good.seq, "{kind:?}: the failed batch is not durable");
        let published = watch.borrow_and_update().clone();
        assert_eq!(published.seq, good.seq);
        assert!(published.failed.is_some());

        // Sticky: nothing more is accepted, and nothing moves.
        armed.store(false, Ordering::SeqCst);
        assert!(matches!(
            store.append(&NewMessage { queues: &[q], exchange: "", routing_key: "", properties: &[], body: b"later" }),
            Err(StoreError::Failed(_))
        ));
        assert!(matches!(store.ack(q, good.id), Err(StoreError::Failed(_))));
        assert_eq!(store.durable_seq(), good.seq);
        assert!(store.failure().is_some());
        assert!(matches!(store.close(), Err(StoreError::Failed(_))));

        // What was reported durable is there after a restart.
        let (store, recovered) = open(tmp.path(), ONE_SEGMENT);
        assert_eq!(bodies(&store, &recovered, &key("q"))[0], "good");
    }
}
