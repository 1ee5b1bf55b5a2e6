//! RTP packets (RFC 3550 section 5): built and parsed as pure functions. Parsing skips CSRCs, a
//! header extension and padding, with every length from the wire checked before it is used; a
//! packet that does not add up is an error, never a panic.

/// RTP version 2, the only one there is.
const VERSION: u8 = 2;
const FIXED_HEADER: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RtpError {
    #[error("packet too short for an RTP header")]
    TooShort,
    #[error("not RTP version 2")]
    Version,
    #[error("CSRC list, extension or padding longer than the packet")]
    Lengths,
    #[error("an RTCP packet, not RTP")]
    Rtcp,
}

/// One RTP packet's header fields and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: &'a [u8],
}

/// Writes a packet (no CSRCs, no extension, no padding) into `out`, replacing its contents.
pub fn build(p: &Packet<'_>, out: &mut Vec<u8>) {
    out.clear();
    out.push(VERSION << 6);
    out.push((u8::from(p.marker) << 7) | (p.payload_type & 0x7f));
    out.extend_from_slice(&p.sequence.to_be_bytes());
    out.extend_from_slice(&p.timestamp.to_be_bytes());
    out.extend_from_slice(&p.ssrc.to_be_bytes());
    out.extend_from_slice(p.payload);
}

/// Whether a datagram on a muxed port is RTCP (RFC 5761 4: payload types 64-95 with the
/// marker bit are RTCP packet types 192-223).
pub fn is_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 2 && (192..=223).contains(&buf[1])
}

/// Parses one RTP packet.
pub fn parse(buf: &[u8]) -> Result<Packet<'_>, RtpError> {
    if buf.len() < FIXED_HEADER {
        return Err(RtpError::TooShort);
    }
    if buf[0] >> 6 != VERSION {
        return Err(RtpError::Version);
    }
    if is_rtcp(buf) {
        return Err(RtpError::Rtcp);
    }
    let csrcs = usize::from(buf[0] & 0x0f) * 4;
    let mut start = FIXED_HEADER + csrcs;
    if buf[0] & 0x10 != 0 {
        // Extension header: 16-bit profile, 16-bit length in 32-bit words.
        let ext = buf.get(start..start + 4).ok_or(RtpError::Lengths)?;
        let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        start += 4 + words * 4;
    }
    let mut end = buf.len();
    if buf[0] & 0x20 != 0 {
        let pad = usize::from(buf[end - 1]);
        end = end
            .checked_sub(pad)
            .filter(|_| pad > 0)
            .ok_or(RtpError::Lengths)?;
    }
    let payload = buf.get(start..end).ok_or(RtpError::Lengths)?;
    Ok(Packet {
        marker: buf[1] & 0x80 != 0,
        payload_type: buf[1] & 0x7f,
        sequence: u16::from_be_bytes([buf[2], buf[3]]),
        timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Packet<'static> {
        Packet {
            marker: true,
            payload_type: 111,
            sequence: 65535,
            timestamp: 0xdead_beef,
            ssrc: 0x1234_5678,
            payload: b"voice",
        }
    }

    #[test]
    fn round_trips() {
        let mut out = Vec::new();
        build(&sample(), &mut out);
        assert_eq!(out.len(), 12 + 5);
        assert_eq!(parse(&out).unwrap(), sample());
    }

    #[test]
    fn skips_csrcs_extension_and_padding() {
        let mut out = vec![0x80 | 0x20 | 0x10 | 2, 0];
        out.extend_from_slice(&[0, 7, 0, 0, 0, 160, 0, 0, 0, 9]);
        out.extend_from_slice(&[1, 1, 1, 1, 2, 2, 2, 2]); // two CSRCs
        out.extend_from_slice(&[0xbe, 0xde, 0, 1, 9, 9, 9, 9]); // one extension word
        out.extend_from_slice(b"abc");
        out.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        let p = parse(&out).unwrap();
        assert_eq!((p.sequence, p.timestamp, p.ssrc), (7, 160, 9));
        assert_eq!(p.payload, b"abc");
    }

    #[test]
    fn bad_packets_are_errors_not_panics() {
        assert_eq!(parse(&[0x80; 5]), Err(RtpError::TooShort));
        assert_eq!(parse(&[0x40; 12]), Err(RtpError::Version));
        let mut csrc_lie = vec![0x8f, 0];
        csrc_lie.extend_from_slice(&[0; 10]);
        assert_eq!(parse(&csrc_lie), Err(RtpError::Lengths));
        let mut ext_lie = vec![0x90, 0];
        ext_lie.extend_from_slice(&[0; 10]);
        ext_lie.extend_from_slice(&[0, 0, 0xff, 0xff]);
        assert_eq!(parse(&ext_lie), Err(RtpError::Lengths));
        let mut pad_lie = vec![0xa0, 0];
        pad_lie.extend_from_slice(&[0; 10]);
        pad_lie.push(200);
        assert_eq!(parse(&pad_lie), Err(RtpError::Lengths));
        let mut zero_pad = vec![0xa0, 0];
        zero_pad.extend_from_slice(&[0; 10]);
        zero_pad.push(0);
        assert_eq!(parse(&zero_pad), Err(RtpError::Lengths));
        assert_eq!(
            parse(&[0x80, 200, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(RtpError::Rtcp)
        );
        // Every truncation of a valid packet parses or fails cleanly.
        let mut out = Vec::new();
        build(&sample(), &mut out);
        for n in 0..out.len() {
            let _ = parse(&out[..n]);
        }
    }
}
