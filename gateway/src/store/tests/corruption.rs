//! Torn tails are cut back; damage anywhere else refuses to open.

use super::*;

/// Writes `n` messages to one queue in one segment and closes the store.
fn write_log(dir: &Path, n: usize) -> Vec<Appended> {
    let (mut store, _) = open(dir, ONE_SEGMENT);
    let q = store.queue(&key("q"));
    let appended = (0..n).map(|i| publish(&mut store, &[q], &format!("message number {i}"))).collect();
    store.close().unwrap();
    appended
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("msgs")).unwrap();
    for file in segment_files(from) {
        std::fs::copy(&file, to.join("msgs").join(file.file_name().unwrap())).unwrap();
    }
}

fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_tail_cut_anywhere_inside_the_last_record_recovers_the_records_before_it() {
    let tmp = tempfile::tempdir().unwrap();
    let original = tmp.path().join("original");
    let appended = write_log(&original, 5);
    let last = appended[4].location;
    let segment = segment_files(&original)[0].clone();
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), (last.offset + last.len) as u64);

    // A cut at `last.offset` itself is a clean end, not a torn record.
    for cut in last.offset + 1..last.offset + last.len {
        let dir = tmp.path().join(format!("cut-{cut}"));
        copy_dir(&original, &dir);
        let file = dir.join("msgs").join(segment.file_name().unwrap());
        std::fs::OpenOptions::new().write(true).open(&file).unwrap().set_len(cut as u64).unwrap();

        let (mut store, recovered) = open(&dir, ONE_SEGMENT);
        let expected: Vec<String> = (0..4).map(|i| format!("message number {i}")).collect();
        assert_eq!(bodies(&store, &recovered, &key("q")), expected, "cut at {cut}");
        assert_eq!(recovered.stats.truncated, Some((file.clone(), last.offset as u64)), "cut at {cut}");
        assert_eq!(std::fs::metadata(&file).unwrap().len(), last.offset as u64);

        // The log carries on from the cut.
        let q = store.queue(&key("q"));
        publish(&mut store, &[q], "after the crash");
        store.close().unwrap();
        let (store, recovered) = open(&dir, ONE_SEGMENT);
        assert_eq!(bodies(&store, &recovered, &key("q")).len(), 5);
        assert_eq!(recovered.stats.truncated, None);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn garbage_or_zeros_after_the_last_record_are_a_torn_tail() {
    for filler in [vec![0u8; 300], (0..300).map(|i| (i * 7 + 3) as u8).collect::<Vec<u8>>()] {
        let tmp = tempfile::tempdir().unwrap();
        write_log(tmp.path(), 3);
        let segment = segment_files(tmp.path())[0].clone();
        let good_len = std::fs::metadata(&segment).unwrap().len();
        let mut bytes = std::fs::read(&segment).unwrap();
        bytes.extend_from_slice(&filler);
        std::fs::write(&segment, bytes).unwrap();
        let (store, recovered) = open(tmp.path(), ONE_SEGMENT);
        assert_eq!(bodies(&store, &recovered, &key("q")).len(), 3);
        assert_eq!(recovered.stats.truncated, Some((segment.clone(), good_len)));
    }
}

#[test]
fn a_damaged_last_record_whose_length_is_intact_is_a_torn_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let appended = write_log(tmp.path(), 3);
    let segment = segment_files(tmp.path())[0].clone();
    let last = appended[2].location;
    flip_byte(&segment, (last.offset + last.len - 2) as u64);
    let (store, recovered) = open(tmp.path(), ONE_SEGMENT);
    assert_eq!(bodies(&store, &recovered, &key("q")).len(), 2);
}

#[test]
fn a_flipped_byte_in_the_middle_of_a_segment_is_refused_naming_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let appended = write_log(tmp.path(), 5);
    let segment = segment_files(tmp.path())[0].clone();
    let victim = appended[2].location;
    // In the payload, in the length field, and in the header checksum.
    for delta in [victim.len as u64 - 3, 1, 9] {
        let dir = tmp.path().join(format!("flip-{delta}"));
        copy_dir(tmp.path(), &dir);
        let file = dir.join("msgs").join(segment.file_name().unwrap());
        flip_byte(&file, victim.offset as u64 + delta);
        let before = std::fs::read(&file).unwrap();

        let err = open_with(&dir, config(ONE_SEGMENT)).err().expect("refused");
        let text = err.to_string();
        assert!(matches!(&err, StoreError::Corrupt { path, offset, .. } if *path == file && *offset == victim.offset as u64), "{text}");
        assert!(text.contains(&file.display().to_string()) && text.contains(&victim.offset.to_string()), "{text}");
        assert_eq!(std::fs::read(&file).unwrap(), before, "a refused log is left as it was");
    }
}

#[test]
fn damage_in_a_segment_that_is_not_the_last_is_refused_even_at_its_end() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, _) = open(tmp.path(), 256);
    let q = store.queue(&key("q"));
    for i in 0..20 {
        publish(&mut store, &[q], &format!("message {i}"));
    }
    store.close().unwrap();
    let files = segment_files(tmp.path());
    assert!(files.len() > 2);
    let len = std::fs::metadata(&files[0]).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&files[0]).unwrap().set_len(len - 1).unwrap();
    let err = open_with(tmp.path(), config(256)).err().expect("refused");
    assert!(matches!(&err, StoreError::Corrupt { path, .. } if *path == files[0]), "{err}");
    assert!(err.to_string().contains("not the last"), "{err}");
}

#[test]
fn a_bad_segment_header_is_refused_unless_it_is_an_unsynced_last_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, _) = open(tmp.path(), 256);
    let q = store.queue(&key("q"));
    for i in 0..20 {
        publish(&mut store, &[q], &format!("message {i}"));
    }
    store.close().unwrap();
    let files = segment_files(tmp.path());
    let n = files.len();

    // A crash right after creating the next segment: a partial header only.
    let next = tmp.path().join("msgs").join(data_dir::segment_file_name(n as u64 + 1));
    std::fs::write(&next, &std::fs::read(&files[0]).unwrap()[..10]).unwrap();
    let (store, recovered) = open(tmp.path(), 256);
    assert_eq!(bodies(&store, &recovered, &key("q")).len(), 20);
    assert!(!next.exists(), "the torn new segment is removed");
    drop(store);

    flip_byte(&files[1], 3);
    let err = open_with(tmp.path(), config(256)).err().expect("refused");
    assert!(matches!(&err, StoreError::Corrupt { path, offset: 0, .. } if *path == files[1]), "{err}");
}

#[test]
fn a_record_with_good_checksums_but_bad_contents_is_corruption_not_a_torn_tail() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 1);
    let segment = segment_files(tmp.path())[0].clone();
    let good_len = std::fs::metadata(&segment).unwrap().len();
    // A well-framed record of an unknown kind, as a newer version might write.
    let mut bytes = std::fs::read(&segment).unwrap();
    let payload = [0xeeu8, 1, 2, 3];
    let mut frame = Vec::new();
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    frame.extend_from_slice(&(crc32c::crc32c(&frame[..8]) ^ 0xa282_ead8).to_le_bytes());
    frame.extend_from_slice(&payload);
    bytes.extend_from_slice(&frame);
    std::fs::write(&segment, bytes).unwrap();
    let err = open_with(tmp.path(), config(ONE_SEGMENT)).err().expect("refused");
    assert!(matches!(&err, StoreError::Corrupt { offset, .. } if *offset == good_len), "{err}");
    assert!(err.to_string().contains("unknown record kind"), "{err}");
}
