//! Voice codecs, one 20 ms frame at a time: Opus through libopus (the `opus` crate; 48 kHz
//! mono, in-band FEC on) and G.711 PCMU/PCMA (`audio-codec-algorithms`' tables). Decoders also
//! conceal a lost frame: Opus with its own PLC or, when the next packet is there, its FEC copy;
//! G.711 by repeating the last frame at falling volume, then silence.

use std::time::Duration;

/// Every frame we send or expect: 20 ms (our SDP says `a=ptime:20`).
pub const FRAME: Duration = Duration::from_millis(20);
/// The largest Opus packet (RFC 6716 3.2.1).
const MAX_OPUS: usize = 1275;
/// Concealed G.711 frames before the output goes silent.
const FADE_FRAMES: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecKind {
    Opus,
    Pcmu,
    Pcma,
}

impl CodecKind {
    /// Every codec, in our order of preference.
    pub const ALL: [CodecKind; 3] = [CodecKind::Opus, CodecKind::Pcmu, CodecKind::Pcma];

    /// The rtpmap encoding name.
    pub fn name(self) -> &'static str {
        match self {
            CodecKind::Opus => "opus",
            CodecKind::Pcmu => "PCMU",
            CodecKind::Pcma => "PCMA",
        }
    }

    /// From an rtpmap encoding name (`opus`, `PCMU`, `PCMA`).
    pub fn from_name(name: &str) -> Option<CodecKind> {
        match name.to_ascii_lowercase().as_str() {
            "opus" => Some(CodecKind::Opus),
            "pcmu" => Some(CodecKind::Pcmu),
            "pcma" => Some(CodecKind::Pcma),
            _ => None,
        }
    }

    /// The codec's sample rate, which is also its RTP clock rate.
    pub fn rate(self) -> u32 {
        match self {
            CodecKind::Opus => 48_000,
            _ => 8_000,
        }
    }

    /// Samples in one frame.
    pub fn frame_samples(self) -> usize {
        (self.rate() / 50) as usize
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("Opus: {0}")]
    Opus(#[from] opus::Error),
    #[error("a frame of {got} samples where {expected} were expected")]
    FrameSize { expected: usize, got: usize },
    #[error("media socket: {0}")]
    Io(String),
}

pub struct Encoder {
    kind: CodecKind,
    opus: Option<opus::Encoder>,
}

impl Encoder {
    pub fn new(kind: CodecKind) -> Result<Encoder, CodecError> {
        let opus = match kind {
            CodecKind::Opus => {
                let mut e =
                    opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip)?;
                e.set_inband_fec(true)?;
                // FEC is only coded when the encoder expects some loss.
                e.set_packet_loss_perc(10)?;
                Some(e)
            }
            _ => None,
        };
        Ok(Encoder { kind, opus })
    }

    pub fn kind(&self) -> CodecKind {
        self.kind
    }

    /// Encodes one frame into `out` (replacing its contents).
    pub fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), CodecError> {
        let expected = self.kind.frame_samples();
        if pcm.len() != expected {
            return Err(CodecError::FrameSize {
                expected,
                got: pcm.len(),
            });
        }
        out.clear();
        match (&mut self.opus, self.kind) {
            (Some(e), _) => {
                out.resize(MAX_OPUS, 0);
                let n = e.encode(pcm, out)?;
                out.truncate(n);
            }
            (None, CodecKind::Pcma) => {
                out.extend(pcm.iter().map(|&s| audio_codec_algorithms::encode_alaw(s)))
            }
            (None, _) => out.extend(pcm.iter().map(|&s| audio_codec_algorithms::encode_ulaw(s))),
        }
        Ok(())
    }
}

pub struct Decoder {
    kind: CodecKind,
    opus: Option<opus::Decoder>,
    /// G.711's last good frame, repeated (fading) over a loss.
    last: Vec<i16>,
    concealed: u32,
    /// Samples in the last decoded packet: a lost one is taken to be as long.
    last_len: usize,
}

impl Decoder {
    pub fn new(kind: CodecKind) -> Result<Decoder, CodecError> {
        let opus = match kind {
            CodecKind::Opus => Some(opus::Decoder::new(48_000, opus::Channels::Mono)?),
            _ => None,
        };
        let last = Vec::with_capacity(kind.frame_samples());
        Ok(Decoder {
            kind,
            opus,
            last,
            concealed: 0,
            last_len: kind.frame_samples(),
        })
    }

    pub fn kind(&self) -> CodecKind {
        self.kind
    }

    /// Decodes a payload into `out` (replacing its contents).
    pub fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
        self.concealed = 0;
        match &mut self.opus {
            Some(d) => {
                // Up to 120 ms in one packet (RFC 6716 2.1.4).
                out.resize(self.kind.frame_samples() * 6, 0);
                let n = d.decode(payload, out, false)?;
                out.truncate(n);
            }
            None => {
                out.clear();
                let law: fn(u8) -> i16 = match self.kind {
                    CodecKind::Pcma => audio_codec_algorithms::decode_alaw,
                    _ => audio_codec_algorithms::decode_ulaw,
                };
                out.extend(payload.iter().map(|&b| law(b)));
                self.last.clear();
                self.last.extend_from_slice(out);
            }
        }
        if !out.is_empty() {
            self.last_len = out.len();
        }
        Ok(())
    }

    /// One packet standing in for a lost one, as long as the last one decoded; `next` is the
    /// packet after it, when it is already here (Opus rebuilds the lost frame from the FEC data
    /// it carries).
    pub fn conceal(&mut self, next: Option<&[u8]>, out: &mut Vec<i16>) -> Result<(), CodecError> {
        self.conceal_samples(self.last_len, next, out)
    }

    /// Concealment of `frame` samples (an underrun stretches by one 20 ms frame).
    pub fn conceal_samples(
        &mut self,
        frame: usize,
        next: Option<&[u8]>,
        out: &mut Vec<i16>,
    ) -> Result<(), CodecError> {
        self.concealed += 1;
        match &mut self.opus {
            Some(d) => {
                out.resize(frame, 0);
                let n = match next {
                    Some(p) => d.decode(p, out, true)?,
                    None => d.decode(&[], out, false)?,
                };
                out.truncate(n);
            }
            None => {
                out.clear();
                if self.concealed > FADE_FRAMES || self.last.is_empty() {
                    out.resize(frame, 0);
                    return Ok(());
                }
                // Each repeat at half the volume of the one before.
                let shift = self.concealed;
                out.extend(self.last.iter().map(|&s| s >> shift));
                out.resize(frame, 0);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tone::{power_at, Tone};

    /// Half a second of 440 Hz through a codec and back.
    fn through(kind: CodecKind) -> Vec<i16> {
        let (mut enc, mut dec) = (Encoder::new(kind).unwrap(), Decoder::new(kind).unwrap());
        let mut tone = Tone::new(440.0, kind.rate(), 12000);
        let (mut pcm, mut payload, mut out) =
            (vec![0; kind.frame_samples()], Vec::new(), Vec::new());
        let mut heard = Vec::new();
        for _ in 0..25 {
            tone.fill(&mut pcm);
            enc.encode(&pcm, &mut payload).unwrap();
            dec.decode(&payload, &mut out).unwrap();
            heard.extend_from_slice(&out);
        }
        heard
    }

    #[test]
    fn every_codec_carries_a_tone() {
        for kind in [CodecKind::Opus, CodecKind::Pcmu, CodecKind::Pcma] {
            let heard = through(kind);
            assert_eq!(heard.len(), kind.frame_samples() * 25, "{kind:?}");
            // Skip the codec's start-up, then the tone must dominate.
            let tail = &heard[heard.len() / 2..];
            let at = power_at(tail, kind.rate(), 440.0);
            let off = power_at(tail, kind.rate(), 1000.0);
            assert!(at > 0.01 && at > 100.0 * off, "{kind:?}: {at} vs {off}");
        }
    }

    #[test]
    fn wrong_frame_sizes_are_refused() {
        let mut enc = Encoder::new(CodecKind::Pcmu).unwrap();
        let err = enc.encode(&[0; 100], &mut Vec::new()).unwrap_err();
        assert!(matches!(
            err,
            CodecError::FrameSize {
                expected: 160,
                got: 100
            }
        ));
    }

    #[test]
    fn g711_loss_repeats_fading_then_goes_silent() {
        let mut dec = Decoder::new(CodecKind::Pcmu).unwrap();
        let mut out = Vec::new();
        let loud = vec![audio_codec_algorithms::encode_ulaw(8000); 160];
        dec.decode(&loud, &mut out).unwrap();
        let level = |v: &[i16]| v.iter().map(|s| i64::from(*s).abs()).max().unwrap();
        let full = level(&out);
        let mut levels = Vec::new();
        for _ in 0..4 {
            dec.conceal(None, &mut out).unwrap();
            assert_eq!(out.len(), 160);
            levels.push(level(&out));
        }
        assert_eq!(levels, [full / 2, full / 4, full / 8, 0]);
    }

    #[test]
    fn opus_conceals_with_plc_and_fec() {
        let mut enc = Encoder::new(CodecKind::Opus).unwrap();
        let mut dec = Decoder::new(CodecKind::Opus).unwrap();
        let mut tone = Tone::new(440.0, 48_000, 12000);
        let (mut pcm, mut out) = (vec![0; 960], Vec::new());
        let mut packets = Vec::new();
        for _ in 0..10 {
            tone.fill(&mut pcm);
            let mut p = Vec::new();
            enc.encode(&pcm, &mut p).unwrap();
            packets.push(p);
        }
        for p in &packets[..5] {
            dec.decode(p, &mut out).unwrap();
        }
        // Packet 5 is lost; packet 6 is here and carries its FEC copy.
        dec.conceal(Some(&packets[6]), &mut out).unwrap();
        assert_eq!(out.len(), 960);
        dec.decode(&packets[6], &mut out).unwrap();
        dec.conceal(None, &mut out).unwrap();
        assert_eq!(out.len(), 960);
        assert!(power_at(&out, 48_000, 440.0) > 0.0);
    }
}
