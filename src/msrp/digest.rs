//! Hashes of files on disk, read in pieces so memory does not follow their size.

use std::io::Read;
use std::path::Path;

/// Lowercase hex, as hashes are shown, stored and compared.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Hands every piece of the file at `path` to `each`, in order.
pub fn read_pieces(path: &Path, mut each: impl FnMut(&[u8])) -> std::io::Result<()> {
    let mut input = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match input.read(&mut buf)? {
            0 => return Ok(()),
            n => each(&buf[..n]),
        }
    }
}
