//! Temporary files for arriving files: in a private folder of the profile (0700, never a shared
//! `/tmp`), made new (`O_EXCL`) under an unpredictable name, and never through a symbolic link
//! (`O_NOFOLLOW`), so nobody else on the machine can aim our writes elsewhere.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The private folder, made if it is missing.
fn folder(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    // Readable too: the hashing thread reads what was written through a clone of the handle.
    o.read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW);
    o
}

/// A new, empty temporary file in `dir` with a name nobody can guess.
pub fn create(dir: &Path) -> io::Result<(PathBuf, File)> {
    folder(dir)?;
    let path = dir.join(format!(".parley-{}.part", super::new_id()));
    let file = options().create_new(true).open(&path)?;
    Ok((path, file))
}

/// A resumable transfer's temporary file: what an earlier attempt left is kept.
pub fn open_resumable(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        folder(dir)?;
    }
    options().create(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_are_new_private_and_never_follow_links() {
        let dir = tempfile::tempdir().unwrap();
        let partial = dir.path().join("partial");
        let (a, _) = create(&partial).unwrap();
        let (b, _) = create(&partial).unwrap();
        assert_ne!(a, b);
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&partial), mode(&a)), (0o700, 0o600));
        // A link planted where a resumable file goes is not followed.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let planted = partial.join(".parley-known.part");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        assert!(open_resumable(&planted).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }
}
