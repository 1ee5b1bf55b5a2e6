//! Files described for an offer, remembered. Hashing a big file takes a while (about 0.14 s for
//! 256 MiB), and the same file is offered again when a transfer resumes after a broken
//! connection or goes to a second contact. An entry holds while the file's device, inode, size,
//! modification and change times stay the same (the change time moves on any write and cannot
//! be set back); a file changed within the last seconds is hashed every time, since a write in
//! the same clock tick as our look would leave its times unchanged.

use crate::sdp::file::FileSelector;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Files remembered at most.
const KEEP: usize = 32;
/// How long a file must have been left alone before its description is remembered.
const SETTLED: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let m = std::fs::metadata(path)?;
    Ok(Stamp {
        dev: m.dev(),
        ino: m.ino(),
        size: m.size(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
    })
}

/// Whether a file last changed at `ctime` has been left alone long enough by `now`.
fn settled(s: &Stamp, now: SystemTime) -> bool {
    let secs = u64::try_from(s.ctime.0).unwrap_or(0);
    let changed = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    now.duration_since(changed).is_ok_and(|d| d > SETTLED)
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Described(Arc<Mutex<HashMap<PathBuf, (Stamp, FileSelector)>>>);

impl Described {
    /// The description of `path`: remembered if the file is unchanged, else made by `hash`
    /// (and remembered when the file was left alone by `now` and did not change meanwhile).
    pub fn get(
        &self,
        path: &Path,
        now: SystemTime,
        hash: impl FnOnce(&Path) -> Result<FileSelector, String>,
    ) -> Result<FileSelector, String> {
        let before = stamp(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let lock = || self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((s, f)) = lock().get(path) {
            if *s == before {
                return Ok(f.clone());
            }
        }
        let file = hash(path)?;
        if settled(&before, now) && stamp(path).is_ok_and(|after| after == before) {
            let mut map = lock();
            if map.len() >= KEEP {
                if let Some(k) = map.keys().find(|k| k.as_path() != path).cloned() {
                    map.remove(&k);
                }
            }
            map.insert(path.to_path_buf(), (before, file.clone()));
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn an_unchanged_file_is_hashed_once_and_a_changed_one_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.pdf");
        std::fs::write(&path, b"first version").unwrap();
        let hashed = Cell::new(0);
        let d = Described::default();
        let describe = |now: SystemTime| {
            d.get(&path, now, |p| {
                hashed.set(hashed.get() + 1);
                Ok(FileSelector {
                    name: p.display().to_string(),
                    content_type: "application/pdf".into(),
                    size: std::fs::metadata(p).unwrap().len(),
                    sha1: Some(hashed.get().to_string()),
                })
            })
            .unwrap()
        };
        // Just written: not remembered (a write in the same tick would go unseen).
        describe(SystemTime::now());
        describe(SystemTime::now());
        assert_eq!(hashed.get(), 2);
        // Left alone (the clock moved on): remembered.
        let later = SystemTime::now() + Duration::from_secs(10);
        describe(later);
        let again = describe(later);
        assert_eq!((hashed.get(), again.sha1.as_deref()), (3, Some("3")));
        // Changed (longer, and its time set back to the old one): hashed again.
        let old = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::fs::write(&path, b"second, longer version").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let changed = describe(later);
        assert_eq!((hashed.get(), changed.size), (4, 22));
    }
}
