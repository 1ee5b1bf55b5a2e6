//! Large files outside a call through the real binaries: `parley send-file` to `parley agent
//! --accept-files`. A 200 MiB file arrives with the same SHA-256 while neither side's memory
//! grows with its size; a sender killed half-way is run again and resumes from the bytes the
//! receiver kept, ending with a correct file and no part left behind.

mod common;

use common::proc::{peak_of, server_and_bob_with, wait_with_peak, Proc};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// A file of `mib` MiB of varied bytes, written in pieces; returns its SHA-256.
fn make(path: &Path, mib: usize) -> String {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut h = Sha256::new();
    let mut block = vec![0u8; 1 << 20];
    for i in 0..mib {
        for (j, b) in block.iter_mut().enumerate() {
            *b = ((i * 131 + j * 7) % 251) as u8;
        }
        h.update(&block);
        f.write_all(&block).unwrap();
    }
    format!("{:x}", h.finalize())
}

fn sha256_of(path: &Path) -> String {
    let mut h = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path).unwrap(), &mut h).unwrap();
    format!("{:x}", h.finalize())
}

fn send(dir: &Path, addr: &str, file: &Path) -> Proc {
    send_with(dir, addr, file, &[])
}

fn send_with(dir: &Path, addr: &str, file: &Path, extra: &[&str]) -> Proc {
    let profile = dir.join("alice");
    let mut args = vec![
        "--profile",
        profile.to_str().unwrap(),
        "send-file",
        "sip:bob@company.com",
        file.to_str().unwrap(),
        "--account",
        "sip:alice@company.com",
        "--password",
        "a1",
        "--server",
        addr,
        "--bind",
        "127.0.0.1:0",
        "--json",
    ];
    args.extend_from_slice(extra);
    Proc::spawn(&args)
}

/// The sizes of the temporary files left in the inbox and in Bob's profile (where they live).
fn parts(inbox: &Path) -> Vec<u64> {
    let partial = inbox.parent().unwrap().join("bob").join("partial");
    [inbox, partial.as_path()]
        .into_iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .map(|e| e.metadata().unwrap().len())
        .collect()
}

/// The server and Bob's agent taking files into `dir/inbox`: (server, its address, Bob, inbox).
fn bob_taking_files(dir: &Path) -> (Proc, String, Proc, std::path::PathBuf) {
    let inbox = dir.join("inbox");
    let (server, addr, bob) = server_and_bob_with(
        &["--user", "alice:a1", "--user", "bob:b1"],
        &dir.join("bob"),
        "b1",
        &["--accept-files", inbox.to_str().unwrap()],
    );
    (server, addr, bob, inbox)
}

/// Sends `file` to the end: send-file must exit 0 once Bob confirmed it. Its peak memory, KiB.
fn send_whole(dir: &Path, addr: &str, file: &Path) -> u64 {
    let s = send(dir, addr, file);
    s.wait_line(|l| l.contains(r#""event":"file_sent""#));
    let (code, peak) = wait_with_peak(s);
    assert_eq!(
        code, 0,
        "send-file exits 0 once the whole file is confirmed"
    );
    peak
}

#[test]
fn a_200_mib_file_arrives_whole_with_flat_memory_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr, bob, inbox) = bob_taking_files(dir.path());
    // A small file first: the memory both sides need anyway.
    let small = dir.path().join("small.bin");
    make(&small, 1);
    let sender_small = send_whole(dir.path(), &addr, &small);
    bob.wait_line(|l| l.contains(r#""event":"file_received""#) && l.contains("small.bin"));
    let receiver_small = peak_of(&bob);

    let big = dir.path().join("big.bin");
    let want = make(&big, 200);
    let sender_big = send_whole(dir.path(), &addr, &big);
    let line = bob.wait_line(|l| l.contains(r#""event":"file_received""#) && l.contains("big.bin"));
    let receiver_big = peak_of(&bob);
    let ev: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(ev["sha256"], want.as_str());
    assert_eq!(sha256_of(Path::new(ev["path"].as_str().unwrap())), want);
    eprintln!("peak KiB: sender {sender_small} -> {sender_big}, receiver {receiver_small} -> {receiver_big}");
    // 200 times the bytes, the same memory give or take a few chunks of buffering.
    let grew = |small: u64, big: u64| big.saturating_sub(small);
    assert!(
        grew(sender_small, sender_big) < 16 * 1024,
        "sender: {sender_small} KiB for 1 MiB, {sender_big} KiB for 200 MiB"
    );
    assert!(
        grew(receiver_small, receiver_big) < 16 * 1024,
        "receiver: {receiver_small} KiB for 1 MiB, {receiver_big} KiB for 200 MiB"
    );
    assert!(parts(&inbox).is_empty());
}

#[test]
fn a_sender_killed_half_way_resumes_from_what_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr, bob, inbox) = bob_taking_files(dir.path());
    let file = dir.path().join("video.mp4");
    let want = make(&file, 120);
    // Held to 20 MB/s, so the kill lands mid-file however fast this machine is: the 120 MiB
    // take 6 s, and the kill comes within a progress report (250 ms) of the 40th MiB.
    let mut first = send_with(dir.path(), &addr, &file, &["--max-upload-mbps", "20"]);
    // Killed once the receiver has written a third of it.
    bob.wait_line(|l| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
        v["event"] == "transfer_progress" && v["done"].as_u64().unwrap_or(0) > 40 << 20
    });
    first.child.kill().unwrap();
    bob.wait_line(|l| l.contains(r#""event":"transfer_failed""#));
    let kept = parts(&inbox);
    assert_eq!(kept.len(), 1, "what arrived is kept to resume from");
    assert!(kept[0] > 40 << 20 && kept[0] < 120 << 20, "{kept:?}");

    let second = send(dir.path(), &addr, &file);
    let started = second.wait_line(|l| l.contains(r#""event":"transfer_started""#));
    let v: serde_json::Value = serde_json::from_str(&started).unwrap();
    assert_eq!(
        v["from"].as_u64().unwrap(),
        kept[0],
        "resumed where the kept part ends"
    );
    second.wait_line(|l| l.contains(r#""event":"file_sent""#));
    assert_eq!(wait_with_peak(second).0, 0);
    let line = bob.wait_line(|l| l.contains(r#""event":"file_received""#));
    let ev: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(sha256_of(Path::new(ev["path"].as_str().unwrap())), want);
    assert!(parts(&inbox).is_empty());
}
