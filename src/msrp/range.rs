//! `Byte-Range: start-end/total` (RFC 4975 9): 1-based and inclusive, `*` where the sender does
//! not know the end or the total yet.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: Option<u64>,
    pub total: Option<u64>,
}

impl ByteRange {
    pub fn parse(s: &str) -> Option<ByteRange> {
        let (range, total) = s.trim().split_once('/')?;
        let (start, end) = range.split_once('-')?;
        let num = |v: &str| -> Option<Option<u64>> {
            match v.trim() {
                "*" => Some(None),
                n => n.parse().ok().map(Some),
            }
        };
        let start: u64 = start.trim().parse().ok()?;
        let (end, total) = (num(end)?, num(total)?);
        let ordered = start >= 1
            && end.is_none_or(|e| e + 1 >= start)
            && total.is_none_or(|t| end.unwrap_or(start.saturating_sub(1)) <= t);
        ordered.then_some(ByteRange { start, end, total })
    }
}

impl fmt::Display for ByteRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let star = |v: Option<u64>| v.map_or("*".to_string(), |n| n.to_string());
        write!(f, "{}-{}/{}", self.start, star(self.end), star(self.total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_print() {
        let r = ByteRange::parse("1-500/500").unwrap();
        assert_eq!((r.start, r.end, r.total), (1, Some(500), Some(500)));
        assert_eq!(r.to_string(), "1-500/500");
        let open = ByteRange::parse("501-*/*").unwrap();
        assert_eq!(open.to_string(), "501-*/*");
        for bad in [
            "",
            "0-5/5",
            "5-1/9",
            "1-10/5",
            "a-b/c",
            "1-5",
            "18446744073709551616-1/1",
        ] {
            assert_eq!(ByteRange::parse(bad), None, "{bad}");
        }
    }
}
