//! The call's microphone and speaker: a sound card (`device`), or headless ones for tests and
//! the command line: a microphone that plays a tone, a WAV file (looped) or silence, and a
//! speaker that records to a WAV file or discards. All run at the codec's rate, so the same
//! media path is used with and without a sound card.

use super::tone::Tone;
use std::path::{Path, PathBuf};

/// What the headless microphone plays.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// A sound card's input: the default one, or the one with this name.
    Device(Option<String>),
    Silence,
    Tone(f64),
    Play(PathBuf),
}

/// Where the headless speaker's sound goes.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkSpec {
    /// A sound card's output: the default one, or the one with this name.
    Device(Option<String>),
    Discard,
    Record(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("cannot read {path}: {why}")]
    Read { path: String, why: String },
    #[error("cannot write {path}: {why}")]
    Write { path: String, why: String },
    #[error(transparent)]
    Sound(#[from] super::device::SoundError),
}

pub enum Source {
    Device(Box<super::device::Capture>),
    Silence,
    Tone(Tone),
    Samples { pcm: Vec<i16>, at: usize },
}

impl Source {
    pub fn open(spec: &SourceSpec, rate: u32) -> Result<Source, DeviceError> {
        Ok(match spec {
            SourceSpec::Device(name) => Source::Device(Box::new(super::device::Capture::open(
                name.as_deref(),
                rate,
            )?)),
            SourceSpec::Silence => Source::Silence,
            SourceSpec::Tone(hz) => Source::Tone(Tone::new(*hz, rate, 12_000)),
            SourceSpec::Play(path) => Source::Samples {
                pcm: read_wav(path, rate)?,
                at: 0,
            },
        })
    }

    /// The next frame of "microphone" samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        match self {
            Source::Device(c) => c.fill(out),
            Source::Silence => out.fill(0),
            Source::Tone(t) => t.fill(out),
            Source::Samples { pcm, at } if !pcm.is_empty() => {
                for s in out {
                    *s = pcm[*at];
                    *at = (*at + 1) % pcm.len();
                }
            }
            Source::Samples { .. } => out.fill(0),
        }
    }
}

/// A WAV file's first channel at `rate` (linear interpolation when the file's rate differs).
fn read_wav(path: &Path, rate: u32) -> Result<Vec<i16>, DeviceError> {
    let err = |why: String| DeviceError::Read {
        path: path.display().to_string(),
        why,
    };
    let mut r = hound::WavReader::open(path).map_err(|e| err(e.to_string()))?;
    let spec = r.spec();
    if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
        return Err(err("only 16-bit PCM WAV files can be played".into()));
    }
    let channels = usize::from(spec.channels.max(1));
    let mono: Vec<i16> = r
        .samples::<i16>()
        .step_by(channels)
        .collect::<Result<_, _>>()
        .map_err(|e| err(e.to_string()))?;
    Ok(resample_linear(&mono, spec.sample_rate, rate))
}

fn resample_linear(pcm: &[i16], from: u32, to: u32) -> Vec<i16> {
    if from == to || pcm.len() < 2 {
        return pcm.to_vec();
    }
    let n = (pcm.len() as u64 * u64::from(to) / u64::from(from)) as usize;
    (0..n)
        .map(|i| {
            let pos = i as f64 * f64::from(from) / f64::from(to);
            let (k, frac) = (pos as usize, pos.fract());
            let a = f64::from(pcm[k.min(pcm.len() - 1)]);
            let b = f64::from(pcm[(k + 1).min(pcm.len() - 1)]);
            (a + (b - a) * frac) as i16
        })
        .collect()
}

pub enum Sink {
    Device(Box<super::device::Playback>),
    Discard,
    Record {
        wav: hound::WavWriter<std::io::BufWriter<std::fs::File>>,
        path: PathBuf,
    },
}

impl Sink {
    pub fn open(spec: &SinkSpec, rate: u32) -> Result<Sink, DeviceError> {
        match spec {
            SinkSpec::Device(name) => Ok(Sink::Device(Box::new(super::device::Playback::open(
                name.as_deref(),
                rate,
            )?))),
            SinkSpec::Discard => Ok(Sink::Discard),
            SinkSpec::Record(path) => {
                let spec = hound::WavSpec {
                    channels: 1,
                    sample_rate: rate,
                    bits_per_sample: 16,
                    sample_format: hound::SampleFormat::Int,
                };
                let wav = hound::WavWriter::create(path, spec).map_err(|e| DeviceError::Write {
                    path: path.display().to_string(),
                    why: e.to_string(),
                })?;
                Ok(Sink::Record {
                    wav,
                    path: path.clone(),
                })
            }
        }
    }

    pub fn play(&mut self, pcm: &[i16]) {
        if let Sink::Device(p) = self {
            return p.play(pcm);
        }
        if let Sink::Record { wav, path } = self {
            for &s in pcm {
                if let Err(e) = wav.write_sample(s) {
                    tracing::warn!("recording to {} stopped: {e}", path.display());
                    *self = Sink::Discard;
                    return;
                }
            }
        }
    }

    /// Writes the WAV header's sizes; the file is whole only after this.
    pub fn finish(self) {
        if let Sink::Record { wav, path } = self {
            if let Err(e) = wav.finalize() {
                tracing::warn!("could not finish {}: {e}", path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_tone_plays_back_at_another_rate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.wav");
        let mut sink = Sink::open(&SinkSpec::Record(path.clone()), 8000).unwrap();
        let mut src = Source::open(&SourceSpec::Tone(440.0), 8000).unwrap();
        let mut buf = vec![0; 160];
        for _ in 0..50 {
            src.fill(&mut buf);
            sink.play(&buf);
        }
        sink.finish();
        let mut back = Source::open(&SourceSpec::Play(path), 48_000).unwrap();
        let mut big = vec![0; 48_000];
        back.fill(&mut big);
        let p = crate::media::tone::strongest(&big, 48_000, &[300.0, 440.0, 1000.0]);
        assert_eq!(p, Some(440.0));
        assert!(Source::open(&SourceSpec::Play("/nonexistent.wav".into()), 8000).is_err());
    }
}
