//! What warren does with a damaged data directory:
//!
//! * a last segment cut off inside its last record (a torn write) is
//!   truncated back to the last whole record and everything before it is
//!   recovered, exactly, and the log keeps working after it;
//! * a flipped byte in the middle of a segment is corruption: warren
//!   refuses to start, exits non-zero, and its error names the segment file
//!   and the byte offset of the damaged record (and leaves the file alone);
//! * a second warren on a data directory in use refuses, naming it.
//!
//! The segment format is read with `durability_support::frames` (see
//! `gateway/src/store/record.rs`).

mod common;
mod durability_support;

use std::path::Path;
use std::time::Duration;

use common::{run_to_exit, Broker};
use durability_support::*;
use lapin::types::FieldTable;

const STOP: Duration = Duration::from_secs(20);
const REFUSE: Duration = Duration::from_secs(30);

fn body(i: usize) -> Vec<u8> {
    format!("record-{i:05}-{}", "x".repeat(i % 97)).into_bytes()
}

/// Starts warren on `data`, declares the durable queue `q`, publishes
/// `n` persistent messages with confirms, and stops warren cleanly.
async fn fill(data: &Path, n: usize) {
    let mut broker = Broker::start_on(data, &[]);
    let conn = connect(&broker.url).await;
    let ch = confirm_channel(&conn).await;
    declare_queue(&ch, "q", true, FieldTable::default()).await;
    publish_confirmed(&ch, "", "q", (0..n).map(body), persistent(), 100).await;
    let _ = conn.close(200, s("bye")).await;
    assert!(broker.terminate(STOP).success(), "clean stop; stderr:\n{}", broker.stderr());
}

/// Copies the data directory (segments and definitions; not the lock).
fn copy_data(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("msgs")).unwrap();
    std::fs::copy(from.join("definitions.json"), to.join("definitions.json")).unwrap();
    for seg in segment_files(from) {
        std::fs::copy(&seg, to.join("msgs").join(seg.file_name().unwrap())).unwrap();
    }
}

/// The data directory's only segment and its frames.
fn only_segment(data: &Path) -> (std::path::PathBuf, Vec<u8>, Vec<FrameAt>) {
    let segs = segment_files(data);
    assert_eq!(segs.len(), 1, "expected one segment: {segs:?}");
    let buf = std::fs::read(&segs[0]).unwrap();
    let frames = frames(&buf);
    (segs[0].clone(), buf, frames)
}

#[tokio::test]
async fn a_torn_last_record_is_cut_off_and_everything_before_it_recovered() {
    const N: usize = 300;
    let tmp = tempfile::tempdir().unwrap();
    let original = tmp.path().join("original");
    fill(&original, N).await;
    let (_, buf, frames) = only_segment(&original);
    let last = *frames.last().unwrap();
    assert_eq!(last.kind, KIND_MESSAGE, "the last record is the last message");
    assert_eq!(frames.iter().filter(|f| f.kind == KIND_MESSAGE).count(), N);

    // Cut inside the frame header, just after it, mid-payload, one byte short.
    let cuts = [5, FRAME_HEADER_LEN, FRAME_HEADER_LEN + 3, last.len / 2, last.len - 1];
    for (case, cut) in cuts.into_iter().enumerate() {
        let data = tmp.path().join(format!("cut-{case}"));
        copy_data(&original, &data);
        let seg = segment_files(&data).pop().unwrap();
        std::fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len((last.offset + cut) as u64).unwrap();

        let mut broker = Broker::start_on(&data, &[]);
        let stderr = broker.stderr();
        assert!(
            stderr.contains("torn tail") && stderr.contains(&seg.display().to_string()),
            "cut {cut}: recovery should log the torn tail of {}:\n{stderr}",
            seg.display()
        );
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), last.offset as u64, "cut {cut}: the file is truncated to the last whole record");
        let conn = connect(&broker.url).await;
        let ch = confirm_channel(&conn).await;
        let got = drain(&ch, "q").await;
        assert_eq!(got.len(), N - 1, "cut {cut}: every message but the torn one is back");
        for (i, d) in got.iter().enumerate() {
            assert_eq!(d.data, body(i), "cut {cut}: message {i} intact and in order");
            // A torn tail means the last run did not stop cleanly: every
            // message may have been delivered, and says so.
            assert!(d.redelivered, "cut {cut}: message {i} is flagged after an unclean stop");
        }
        // The log goes on after the cut: new messages survive a restart.
        publish_confirmed(&ch, "", "q", (N..N + 3).map(body), persistent(), 10).await;
        let _ = conn.close(200, s("bye")).await;
        assert!(broker.terminate(STOP).success());

        let mut broker = Broker::start_on(&data, &[]);
        let conn = connect(&broker.url).await;
        let ch = channel(&conn).await;
        let got: Vec<Vec<u8>> = drain(&ch, "q").await.into_iter().map(|d| d.data).collect();
        assert_eq!(got, (N..N + 3).map(body).collect::<Vec<_>>(), "cut {cut}: appended after the cut");
        let _ = conn.close(200, s("bye")).await;
        assert!(broker.terminate(STOP).success());
    }

    // A preallocated or zero-filled tail after the last record is a torn
    // write too: nothing is lost.
    let data = tmp.path().join("zeros");
    copy_data(&original, &data);
    let seg = segment_files(&data).pop().unwrap();
    std::fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len((buf.len() + 4096) as u64).unwrap();
    let broker = Broker::start_on(&data, &[]);
    let conn = connect(&broker.url).await;
    let ch = channel(&conn).await;
    assert_eq!(message_count(&ch, "q").await as usize, N, "zeros after the last record lose nothing");
}

#[tokio::test]
async fn a_flipped_byte_mid_segment_stops_warren_naming_file_and_offset() {
    const N: usize = 300;
    let tmp = tempfile::tempdir().unwrap();
    let original = tmp.path().join("original");
    fill(&original, N).await;
    let (_, _, frames) = only_segment(&original);
    let messages: Vec<FrameAt> = frames.iter().copied().filter(|f| f.kind == KIND_MESSAGE).collect();
    let victim = messages[N / 2];

    // (what is damaged, offset of the flipped byte within the frame)
    let cases = [("payload", victim.len - 2), ("kind byte", FRAME_HEADER_LEN), ("length field", 1), ("payload checksum", 5)];
    for (what, within_frame) in cases {
        let data = tmp.path().join(what.replace(' ', "-"));
        copy_data(&original, &data);
        let seg = segment_files(&data).pop().unwrap();
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes[victim.offset + within_frame] ^= 0x40;
        std::fs::write(&seg, &bytes).unwrap();

        let (status, stdout, stderr) = run_to_exit(&data, &[], REFUSE);
        assert!(!status.success(), "{what}: warren must refuse to start; stdout: {stdout}\nstderr: {stderr}");
        assert!(!stderr.contains("warren: ready"), "{what}: never ready; log: {stderr}");
        assert!(stderr.contains(&seg.display().to_string()), "{what}: the error names the file {}:\n{stderr}", seg.display());
        assert!(
            stderr.contains(&format!("byte offset {}", victim.offset)),
            "{what}: the error names the damaged record's offset {}:\n{stderr}",
            victim.offset
        );
        assert_eq!(std::fs::read(&seg).unwrap(), bytes, "{what}: the damaged file is left as it was");
    }
}

#[tokio::test]
async fn a_second_warren_on_a_data_dir_in_use_refuses_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("shared-data");
    let first = Broker::start_on(&data, &[]);

    let (status, stdout, stderr) = run_to_exit(&data, &[], REFUSE);
    assert!(!status.success(), "the second warren must exit non-zero; stdout: {stdout}\nstderr: {stderr}");
    assert!(!stderr.contains("warren: ready"), "log: {stderr}");
    assert!(
        stderr.contains(&data.display().to_string()) && stderr.contains("locked"),
        "the error says the directory {} is locked:\n{stderr}",
        data.display()
    );

    // The first one is unaffected.
    let conn = connect(&first.url).await;
    let ch = confirm_channel(&conn).await;
    declare_queue(&ch, "still-here", true, FieldTable::default()).await;
    publish_confirmed(&ch, "", "still-here", [b"ok".to_vec()], persistent(), 1).await;
}

#[tokio::test]
async fn a_short_segment_that_is_not_the_last_is_corruption_not_a_torn_tail() {
    // 1 MiB bodies: 70 of them fill more than one 64 MiB segment.
    let big = |i: usize| {
        let mut b = vec![(i % 251) as u8; 1 << 20];
        b[..8].copy_from_slice(&(i as u64).to_le_bytes());
        b
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut broker = Broker::start_on(&data, &[]);
    let conn = connect(&broker.url).await;
    let ch = confirm_channel(&conn).await;
    declare_queue(&ch, "q", true, FieldTable::default()).await;
    publish_confirmed(&ch, "", "q", (0..70).map(big), persistent(), 8).await;
    let _ = conn.close(200, s("bye")).await;
    assert!(broker.terminate(STOP).success());

    let segs = segment_files(&data);
    assert!(segs.len() >= 2, "expected several segments: {segs:?}");
    let first = &segs[0];
    let buf = std::fs::read(first).unwrap();
    let last = *frames(&buf).last().unwrap();
    // What a torn write would leave, but in a sealed segment: the committer
    // syncs a segment before starting the next, so this is damage.
    std::fs::OpenOptions::new().write(true).open(first).unwrap().set_len((buf.len() - 1) as u64).unwrap();

    let (status, stdout, stderr) = run_to_exit(&data, &[], REFUSE);
    assert!(!status.success(), "warren must refuse to start; stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stderr.contains(&first.display().to_string()) && stderr.contains(&format!("byte offset {}", last.offset)),
        "the error names {} and offset {}:\n{stderr}",
        first.display(),
        last.offset
    );
    assert_eq!(std::fs::metadata(first).unwrap().len(), (buf.len() - 1) as u64, "nothing is truncated");
}
