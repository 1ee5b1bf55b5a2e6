//! Sound cards through cpal: capture and playback streams on their own threads (cpal streams
//! stay on the thread that made them), handing samples to the media clock through lock-free
//! `rtrb` rings, so the audio callbacks never allocate, lock or make a system call. The media
//! task resamples between the device's rate and the codec's with `rubato`, and matches the
//! card's clock to the media clock (`drift`): a prebuffer, a ratio steered by the fill, no bursts.

use super::drift::{mic_take, speaker_admit, Admit, Drift, Take};
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, Sample, SizedSample};
use rubato::{FftFixedInOut, Resampler};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Half a second of samples between a callback and the media clock.
const RING_SECONDS: f32 = 0.5;

#[derive(Debug, thiserror::Error)]
pub enum SoundError {
    #[error("no {0} device")]
    NoDevice(&'static str),
    #[error("the {kind} device “{name}” is not there")]
    Missing { kind: &'static str, name: String },
    #[error("{0}")]
    Open(String),
}

/// ALSA prints its errors on stderr unless told otherwise; a user should not see them.
pub(crate) fn silence_alsa() {
    #[cfg(target_os = "linux")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            unsafe extern "C" fn quiet(
                _: *const std::os::raw::c_char,
                _: std::os::raw::c_int,
                _: *const std::os::raw::c_char,
                _: std::os::raw::c_int,
                _: *const std::os::raw::c_char,
            ) {
            }
            // SAFETY: the handler type is variadic; a callee that reads none of the variadic
            // arguments is called correctly under the C ABIs cpal supports on Linux.
            unsafe {
                let handler: alsa_sys::snd_lib_error_handler_t =
                    Some(std::mem::transmute::<
                        *const (),
                        unsafe extern "C" fn(
                            *const std::os::raw::c_char,
                            std::os::raw::c_int,
                            *const std::os::raw::c_char,
                            std::os::raw::c_int,
                            *const std::os::raw::c_char,
                            ...
                        ),
                    >(quiet as *const ()));
                alsa_sys::snd_lib_error_set_handler(handler);
            }
        });
    }
}

fn find(name: Option<&str>, input: bool) -> Result<cpal::Device, SoundError> {
    silence_alsa();
    let host = cpal::default_host();
    let kind = if input { "input" } else { "output" };
    let Some(name) = name else {
        let d = match input {
            true => host.default_input_device(),
            false => host.default_output_device(),
        };
        return d.ok_or(SoundError::NoDevice(kind));
    };
    let mut all = match input {
        true => host.input_devices(),
        false => host.output_devices(),
    }
    .map_err(|e| SoundError::Open(e.to_string()))?;
    all.find(|d| d.name().ok().as_deref() == Some(name))
        .ok_or_else(|| SoundError::Missing {
            kind,
            name: name.to_string(),
        })
}

/// Keeps a stream alive on its thread until dropped.
struct StreamThread {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for StreamThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// Opens a stream with `build` on a new thread; returns once it plays (or failed), with the
/// device's rate.
fn spawn_stream(
    name: &str,
    build: impl FnOnce() -> Result<(cpal::Stream, u32), SoundError> + Send + 'static,
) -> Result<(StreamThread, u32), SoundError> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let stream = match build() {
                Ok((s, rate)) => match s.play() {
                    Ok(()) => {
                        let _ = tx.send(Ok(rate));
                        s
                    }
                    Err(e) => return drop(tx.send(Err(SoundError::Open(e.to_string())))),
                },
                Err(e) => return drop(tx.send(Err(e))),
            };
            while !flag.load(Ordering::Relaxed) {
                std::thread::park_timeout(std::time::Duration::from_millis(100));
            }
            drop(stream);
        })
        .map_err(|e| SoundError::Open(e.to_string()))?;
    let rate = rx
        .recv()
        .map_err(|_| SoundError::Open("the audio thread ended".into()))??;
    let t = StreamThread {
        stop,
        thread: Some(thread),
    };
    Ok((t, rate))
}

/// Converts between the device's rate and the codec's, in fixed chunks.
struct Rate {
    inner: FftFixedInOut<f32>,
    input: Vec<Vec<f32>>,
    output: Vec<Vec<f32>>,
    waiting: Vec<f32>,
    ready: VecDeque<f32>,
}

impl Rate {
    /// `None` when the rates are equal.
    fn new(from: u32, to: u32) -> Result<Option<Rate>, SoundError> {
        if from == to {
            return Ok(None);
        }
        let chunk = (from / 50) as usize;
        let inner = FftFixedInOut::<f32>::new(from as usize, to as usize, chunk, 1)
            .map_err(|e| SoundError::Open(e.to_string()))?;
        let (input, output) = (
            inner.input_buffer_allocate(true),
            inner.output_buffer_allocate(true),
        );
        Ok(Some(Rate {
            input,
            output,
            waiting: Vec::with_capacity(inner.input_frames_max() * 2),
            ready: VecDeque::with_capacity(inner.output_frames_max() * 4),
            inner,
        }))
    }

    fn push(&mut self, samples: &[f32]) {
        self.waiting.extend_from_slice(samples);
        let need = self.inner.input_frames_next();
        while self.waiting.len() >= need {
            self.input[0][..need].copy_from_slice(&self.waiting[..need]);
            self.waiting.drain(..need);
            if let Ok((_, n)) = self
                .inner
                .process_into_buffer(&self.input, &mut self.output, None)
            {
                self.ready.extend(&self.output[0][..n]);
            }
        }
    }
}

/// The microphone: the callback fills the ring; `fill` takes codec-rate frames.
pub struct Capture {
    ring: rtrb::Consumer<f32>,
    rate: Option<Rate>,
    drift: Drift,
    /// Codec-rate samples to keep waiting before a frame is taken (a frame and a half).
    target: usize,
    /// Ran dry: silence until `target` samples are there again.
    filling: bool,
    fifo: VecDeque<f32>,
    scratch: Vec<f32>,
    matched: Vec<f32>,
    _thread: StreamThread,
}

impl Capture {
    pub fn open(name: Option<&str>, codec_rate: u32) -> Result<Capture, SoundError> {
        let device = find(name, true)?;
        let config = device
            .default_input_config()
            .map_err(|e| SoundError::Open(e.to_string()))?;
        let dev_rate = config.sample_rate().0;
        let (producer, ring) = rtrb::RingBuffer::new((dev_rate as f32 * RING_SECONDS) as usize);
        let (thread, rate) = spawn_stream("microphone", move || {
            let stream = match config.sample_format() {
                cpal::SampleFormat::F32 => input::<f32>(&device, &config.clone().into(), producer),
                cpal::SampleFormat::I16 => input::<i16>(&device, &config.clone().into(), producer),
                cpal::SampleFormat::U16 => input::<u16>(&device, &config.clone().into(), producer),
                other => Err(SoundError::Open(format!(
                    "unsupported sample format {other}"
                ))),
            }?;
            Ok((stream, dev_rate))
        })?;
        let target = (codec_rate / 50 * 3 / 2) as usize;
        Ok(Capture {
            ring,
            rate: Rate::new(rate, codec_rate)?,
            drift: Drift::new(rate, target).map_err(|e| SoundError::Open(e.to_string()))?,
            target,
            filling: true,
            fifo: VecDeque::new(),
            scratch: Vec::new(),
            matched: Vec::new(),
            _thread: thread,
        })
    }

    /// The next frame at the codec's rate: silence while the card's samples build up after
    /// running dry, the oldest dropped when a stall piled them up.
    pub fn fill(&mut self, out: &mut [i16]) {
        self.scratch.clear();
        while let Ok(s) = self.ring.pop() {
            self.scratch.push(s);
        }
        self.matched.clear();
        self.drift
            .push(&self.scratch, self.fifo.len(), &mut self.matched);
        match &mut self.rate {
            Some(r) => {
                r.push(&self.matched);
                self.fifo.extend(r.ready.drain(..));
            }
            None => self.fifo.extend(self.matched.iter()),
        }
        match mic_take(self.fifo.len(), self.target, out.len(), self.filling) {
            Take::Wait => {
                self.filling = true;
                return out.fill(0);
            }
            Take::DropFirst(n) => {
                self.fifo.drain(..n);
                self.drift.reset();
            }
            Take::Frame => {}
        }
        self.filling = false;
        for s in out.iter_mut() {
            *s = self.fifo.pop_front().map_or(0, |v| v.to_sample::<i16>());
        }
    }
}

fn input<T: SizedSample>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    mut ring: rtrb::Producer<f32>,
) -> Result<cpal::Stream, SoundError>
where
    f32: FromSample<T>,
{
    let channels = usize::from(config.channels).max(1);
    device
        .build_input_stream(
            config,
            move |data: &[T], _| {
                for frame in data.chunks(channels) {
                    let sum: f32 = frame.iter().map(|s| f32::from_sample(*s)).sum();
                    // A full ring drops the sample: the media clock is behind, not the card.
                    let _ = ring.push(sum / channels as f32);
                }
            },
            |e| tracing::warn!("microphone: {e}"),
            None,
        )
        .map_err(|e| SoundError::Open(e.to_string()))
}

/// The speaker: `play` queues codec-rate frames; the callback drains the ring.
pub struct Playback {
    ring: rtrb::Producer<f32>,
    rate: Option<Rate>,
    drift: Drift,
    /// Device-rate samples to keep queued for the card (two frames), and one frame's.
    target: usize,
    frame: usize,
    scratch: Vec<f32>,
    resampled: Vec<f32>,
    matched: Vec<f32>,
    _thread: StreamThread,
}

impl Playback {
    pub fn open(name: Option<&str>, codec_rate: u32) -> Result<Playback, SoundError> {
        let device = find(name, false)?;
        let config = device
            .default_output_config()
            .map_err(|e| SoundError::Open(e.to_string()))?;
        let dev_rate = config.sample_rate().0;
        let (ring, consumer) = rtrb::RingBuffer::new((dev_rate as f32 * RING_SECONDS) as usize);
        let (thread, rate) = spawn_stream("speaker", move || {
            let stream = match config.sample_format() {
                cpal::SampleFormat::F32 => output::<f32>(&device, &config.clone().into(), consumer),
                cpal::SampleFormat::I16 => output::<i16>(&device, &config.clone().into(), consumer),
                cpal::SampleFormat::U16 => output::<u16>(&device, &config.clone().into(), consumer),
                other => Err(SoundError::Open(format!(
                    "unsupported sample format {other}"
                ))),
            }?;
            Ok((stream, dev_rate))
        })?;
        let frame = (rate / 50) as usize;
        Ok(Playback {
            ring,
            rate: Rate::new(codec_rate, rate)?,
            drift: Drift::new(rate, 2 * frame).map_err(|e| SoundError::Open(e.to_string()))?,
            target: 2 * frame,
            frame,
            scratch: Vec::new(),
            resampled: Vec::new(),
            matched: Vec::new(),
            _thread: thread,
        })
    }

    /// Queues a codec-rate frame for the card: after a prebuffer when the card ran dry, not at
    /// all when a stall piled sound up (it would only be late).
    pub fn play(&mut self, pcm: &[i16]) {
        self.scratch.clear();
        self.scratch
            .extend(pcm.iter().map(|s| s.to_sample::<f32>()));
        let at_device = match &mut self.rate {
            Some(r) => {
                r.push(&self.scratch);
                self.resampled.clear();
                self.resampled.extend(r.ready.drain(..));
                &self.resampled
            }
            None => &self.scratch,
        };
        let mut fill = queued(&self.ring);
        match speaker_admit(fill, self.target, self.frame) {
            Admit::Drop => return self.drift.reset(),
            Admit::Prebuffer(n) => {
                for _ in 0..n.min(self.ring.slots()) {
                    let _ = self.ring.push(0.0);
                }
                fill = queued(&self.ring);
                self.drift.reset();
            }
            Admit::Play => {}
        }
        self.matched.clear();
        self.drift.push(at_device, fill, &mut self.matched);
        for &s in &self.matched {
            if self.ring.push(s).is_err() {
                break;
            }
        }
    }
}

/// Samples in the ring the card has not taken yet.
fn queued(ring: &rtrb::Producer<f32>) -> usize {
    ring.buffer().capacity() - ring.slots()
}

fn output<T: SizedSample + FromSample<f32>>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    mut ring: rtrb::Consumer<f32>,
) -> Result<cpal::Stream, SoundError> {
    let channels = usize::from(config.channels).max(1);
    device
        .build_output_stream(
            config,
            move |out: &mut [T], _| {
                for frame in out.chunks_mut(channels) {
                    // An empty ring plays silence: nothing arrived in time.
                    let s = T::from_sample(ring.pop().unwrap_or(0.0));
                    frame.fill(s);
                }
            },
            |e| tracing::warn!("speaker: {e}"),
            None,
        )
        .map_err(|e| SoundError::Open(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_keeps_a_tone_at_its_frequency() {
        let mut r = Rate::new(44_100, 48_000).unwrap().unwrap();
        let mut tone = crate::media::tone::Tone::new(440.0, 44_100, 12000);
        let mut pcm = vec![0i16; 882];
        for _ in 0..50 {
            tone.fill(&mut pcm);
            let f: Vec<f32> = pcm.iter().map(|s| s.to_sample::<f32>()).collect();
            r.push(&f);
        }
        let out: Vec<i16> = r.ready.iter().map(|s| s.to_sample::<i16>()).collect();
        // 50 chunks of 882 in, 960 out each (minus the filter's delay).
        assert!(out.len() >= 960 * 48, "{}", out.len());
        let tail = &out[out.len() / 2..];
        let best = crate::media::tone::strongest(tail, 48_000, &[300.0, 440.0, 1000.0]);
        assert_eq!(best, Some(440.0));
        assert!(Rate::new(8000, 8000).unwrap().is_none());
    }
}
