//! An arriving file hashed on a thread of its own, read back from the file (the page cache)
//! just behind the writer: the session's loop only reads and writes, hashing runs beside it on
//! the other core, and when the last byte is written the digests are all but done. A resumed
//! file's earlier part is hashed while the rest arrives. Bytes rewritten below what was hashed
//! (a chunk sent again, a sender starting over) restart the hashing from the file's start.

use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Condvar, Mutex};

/// What the hashing thread reads at a time: big enough for few system calls, small enough to
/// stay in the CPU's cache for both hashes.
const PIECE: usize = 256 * 1024;

#[derive(Debug, Default)]
struct Shared {
    /// Bytes `0..upto` are written and may be hashed.
    upto: u64,
    /// Bumped when bytes below what may have been hashed were rewritten.
    generation: u64,
    /// The file is whole at this length: hash to it and stop.
    total: Option<u64>,
    /// Nobody waits for the digests any more.
    abandoned: bool,
}

type Sync = Arc<(Mutex<Shared>, Condvar)>;

/// The file's SHA-256 and, when asked for, SHA-1, as lowercase hex.
pub type Digests = (String, Option<String>);

pub struct Hasher {
    shared: Sync,
    thread: Option<std::thread::JoinHandle<std::io::Result<Digests>>>,
}

impl Hasher {
    /// Starts hashing `file` (a handle that can read), whose bytes `0..ready` are there already.
    pub fn start(file: File, ready: u64, sha1: bool) -> std::io::Result<Hasher> {
        let shared: Sync = Arc::new((
            Mutex::new(Shared {
                upto: ready,
                ..Shared::default()
            }),
            Condvar::new(),
        ));
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("msrp-hash".into())
            .spawn(move || hash_loop(&file, &s, sha1))?;
        Ok(Hasher {
            shared,
            thread: Some(thread),
        })
    }

    fn update(&self, f: impl FnOnce(&mut Shared)) {
        let (lock, cv) = &*self.shared;
        f(&mut lock.lock().unwrap_or_else(|e| e.into_inner()));
        cv.notify_one();
    }

    /// Bytes `at..end` were written: hashable if they continue what was, a restart if they
    /// rewrote what may have been hashed.
    pub fn written(&self, at: u64, end: u64) {
        self.update(|s| {
            if at < s.upto {
                s.generation += 1;
            }
            if at <= s.upto {
                s.upto = s.upto.max(end);
            }
        });
    }

    /// The digests of the whole file of `total` bytes (all written by now), once hashed.
    pub fn finish(mut self, total: u64) -> Result<Digests, String> {
        self.update(|s| {
            s.upto = total;
            s.total = Some(total);
        });
        let thread = self.thread.take().ok_or("hashed already")?;
        match thread.join() {
            Ok(r) => r.map_err(|e| format!("cannot read it back: {e}")),
            Err(_) => Err("hashing stopped".into()),
        }
    }
}

impl Drop for Hasher {
    fn drop(&mut self) {
        // Not waited for: the thread sees this at its next piece and ends.
        self.update(|s| s.abandoned = true);
    }
}

/// Waits until there is something to hash: the range `from..upto` and its generation, or
/// `None` once the file is hashed whole or abandoned.
fn next_range(sync: &Sync, hashed: u64) -> Option<(u64, u64)> {
    let (lock, cv) = &**sync;
    let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if s.abandoned || s.total == Some(hashed) {
            return None;
        }
        if s.upto > hashed || s.total.is_some_and(|t| t < hashed) {
            return Some((s.upto, s.generation));
        }
        s = cv.wait(s).unwrap_or_else(|e| e.into_inner());
    }
}

fn generation(sync: &Sync) -> u64 {
    sync.0.lock().unwrap_or_else(|e| e.into_inner()).generation
}

fn hash_loop(file: &File, sync: &Sync, sha1: bool) -> std::io::Result<Digests> {
    let (mut a, mut b) = (Sha256::new(), sha1.then(Sha1::new));
    let (mut hashed, mut seen) = (0u64, generation(sync));
    let mut buf = vec![0u8; PIECE];
    while let Some((upto, gen)) = next_range(sync, hashed) {
        if gen != seen || upto < hashed {
            // Rewritten below what we hashed: start over from the file's first byte.
            (a, b, hashed, seen) = (Sha256::new(), sha1.then(Sha1::new), 0, gen);
        }
        while hashed < upto {
            let want = (upto - hashed).min(PIECE as u64) as usize;
            let n = file.read_at(&mut buf[..want], hashed)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            a.update(&buf[..n]);
            if let Some(b) = &mut b {
                b.update(&buf[..n]);
            }
            hashed += n as u64;
            if generation(sync) != seen {
                break;
            }
        }
    }
    let hex = super::digest::hex;
    Ok((hex(&a.finalize()), b.map(|b| hex(&b.finalize()))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn expected(data: &[u8]) -> Digests {
        let hex = super::super::digest::hex;
        (hex(&Sha256::digest(data)), Some(hex(&Sha1::digest(data))))
    }

    #[test]
    fn a_file_written_in_order_is_hashed_behind_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut w = File::create(&path).unwrap();
        let h = Hasher::start(File::open(&path).unwrap(), 0, true).unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for (i, piece) in data.chunks(100_000).enumerate() {
            w.write_all(piece).unwrap();
            let at = (i * 100_000) as u64;
            h.written(at, at + piece.len() as u64);
        }
        assert_eq!(h.finish(data.len() as u64).unwrap(), expected(&data));
    }

    #[test]
    fn a_resumed_prefix_and_rewritten_bytes_still_give_the_files_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
        // An earlier attempt left 400 000 bytes, some of them wrong.
        let mut left = data[..400_000].to_vec();
        left[10] ^= 0xff;
        std::fs::write(&path, &left).unwrap();
        let w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let h = Hasher::start(File::open(&path).unwrap(), 400_000, false).unwrap();
        // The sender starts over from the first byte, then goes on past the prefix.
        w.write_all_at(&data[..500_000], 0).unwrap();
        h.written(0, 500_000);
        w.write_all_at(&data[500_000..], 500_000).unwrap();
        h.written(500_000, 1_000_000);
        let (sha256, sha1) = h.finish(1_000_000).unwrap();
        assert_eq!((sha256, sha1), (expected(&data).0, None));
    }

    #[test]
    fn out_of_order_pieces_are_hashed_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data = vec![5u8; 700_000];
        let w = File::create(&path).unwrap();
        let h = Hasher::start(File::open(&path).unwrap(), 0, true).unwrap();
        w.write_all_at(&data[300_000..], 300_000).unwrap();
        h.written(300_000, 700_000);
        w.write_all_at(&data[..300_000], 0).unwrap();
        h.written(0, 300_000);
        assert_eq!(h.finish(700_000).unwrap(), expected(&data));
        // One abandoned (a refused file) ends its thread without anyone waiting.
        let h = Hasher::start(File::open(&path).unwrap(), 0, true).unwrap();
        drop(h);
    }
}
