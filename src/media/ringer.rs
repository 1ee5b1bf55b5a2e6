//! The ringtone: a WAV from `resources/` played in a loop on the default output device until
//! stopped. It runs on its own thread (cpal streams must stay on the thread that made them); the
//! audio callback only reads a shared sample slice, so it never allocates or locks.

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SizedSample};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The ringtone shipped with Parley.
pub const RINGTONE: &[u8] = include_bytes!("../../resources/ringtone.wav");

#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error("not a usable WAV file: {0}")]
    Wav(#[from] hound::Error),
    #[error("no audio output device")]
    NoDevice,
    #[error("audio output failed: {0}")]
    Output(String),
}

/// Mono samples in -1..1 and their rate, from 16-bit or float WAV data.
pub fn decode_wav(bytes: &[u8]) -> Result<(Vec<f32>, u32), RingError> {
    let mut r = hound::WavReader::new(std::io::Cursor::new(bytes))?;
    let spec = r.spec();
    let ch = spec.channels.max(1) as usize;
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let scale = (1i64 << (spec.bits_per_sample - 1)) as f32;
            r.samples::<i32>()
                .map(|s| s.map(|v| v as f32 / scale))
                .collect::<Result<_, _>>()?
        }
        hound::SampleFormat::Float => r.samples::<f32>().collect::<Result<_, _>>()?,
    };
    let mono = interleaved
        .chunks(ch)
        .map(|f| f.iter().sum::<f32>() / ch as f32)
        .collect();
    Ok((mono, spec.sample_rate))
}

/// A ringtone playing; dropping it (or `stop`) silences it.
pub struct Ringer {
    stop: Arc<AtomicBool>,
}

impl Ringer {
    /// Starts looping `wav` on the default output. Returns at once: opening the device happens
    /// on the ringer's thread, which logs why if it cannot play (no sound card, say).
    pub fn start(wav: &[u8]) -> Result<Ringer, RingError> {
        let (samples, rate) = decode_wav(wav)?;
        let samples: Arc<[f32]> = samples.into();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("ringer".into())
            .spawn(move || {
                let stream = match open(samples, rate) {
                    Ok(s) => s,
                    Err(e) => return tracing::info!("cannot ring: {e}"),
                };
                while !flag.load(Ordering::Relaxed) {
                    std::thread::park_timeout(std::time::Duration::from_millis(50));
                }
                drop(stream);
            })
            .map_err(|e| RingError::Output(e.to_string()))?;
        Ok(Ringer { stop })
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for Ringer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn open(samples: Arc<[f32]>, rate: u32) -> Result<cpal::Stream, RingError> {
    super::device::silence_alsa();
    let device = cpal::default_host()
        .default_output_device()
        .ok_or(RingError::NoDevice)?;
    let config = device
        .default_output_config()
        .map_err(|e| RingError::Output(e.to_string()))?;
    let stream = match config.sample_format() {
        cpal::SampleFormat::F32 => build::<f32>(&device, &config.into(), samples, rate),
        cpal::SampleFormat::I16 => build::<i16>(&device, &config.into(), samples, rate),
        cpal::SampleFormat::U16 => build::<u16>(&device, &config.into(), samples, rate),
        other => {
            return Err(RingError::Output(format!(
                "unsupported sample format {other}"
            )))
        }
    }?;
    stream
        .play()
        .map_err(|e| RingError::Output(e.to_string()))?;
    Ok(stream)
}

fn build<T: SizedSample + FromSample<f32>>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    samples: Arc<[f32]>,
    rate: u32,
) -> Result<cpal::Stream, RingError> {
    let channels = config.channels as usize;
    // Nearest-sample resampling is plenty for a ring tone.
    let step = rate as f64 / config.sample_rate.0 as f64;
    let mut pos = 0.0f64;
    device
        .build_output_stream(
            config,
            move |out: &mut [T], _| {
                for frame in out.chunks_mut(channels) {
                    let s = samples.get(pos as usize).copied().unwrap_or(0.0);
                    for x in frame.iter_mut() {
                        *x = T::from_sample(s);
                    }
                    pos += step;
                    if pos as usize >= samples.len() {
                        pos = 0.0;
                    }
                }
            },
            |e| tracing::warn!("ringtone output error: {e}"),
            None,
        )
        .map_err(|e| RingError::Output(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_ringtone_decodes() {
        let (s, rate) = decode_wav(RINGTONE).unwrap();
        assert_eq!(rate, 16_000);
        assert_eq!(s.len(), 48_000);
        let peak = s.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(peak > 0.2 && peak <= 1.0, "{peak}");
        // The second half is the pause between rings.
        assert!(s[30_000..].iter().all(|v| *v == 0.0));
        assert!(decode_wav(b"RIFF....WAVEnot really").is_err());
    }
}
