//! Matching a sound card's clock to the packets'. A card's 48 kHz is never exactly the sender's
//! (100 ppm apart is common), so the buffer between the media clock and the card slowly fills
//! (delay grows) or drains (gaps). `Drift` resamples by a ratio a hair off 1, steered by how
//! full that buffer is; `speaker_admit` and `mic_take` say when to prebuffer after the buffer
//! ran dry and when to drop what a stall piled up, so a stall never turns into lasting delay or a
//! burst of old sound.

use rubato::{FastFixedIn, PolynomialDegree, Resampler};

/// The largest correction, 0.5 %: ten times a poor card's error, and no pitch an ear can tell.
const MAX_CORRECTION: f64 = 0.005;
/// How fast the fill estimate follows the measured fill, per reading (50 a second: about a
/// second's memory), so a card's period-sized jumps do not swing the ratio.
const SMOOTHING: f64 = 0.02;

/// Steers a ratio from a buffer's fill: too full gives fewer samples out than in, too empty more.
/// A proportional rule: a steady clock error leaves the fill off target by error/MAX_CORRECTION
/// of it (0.1 % leaves it 20 % off), which is all that is needed.
#[derive(Debug, Clone)]
pub struct FillControl {
    target: usize,
    smoothed: Option<f64>,
}

impl FillControl {
    pub fn new(target: usize) -> FillControl {
        FillControl {
            target: target.max(1),
            smoothed: None,
        }
    }

    /// The ratio of samples out to samples in that moves `fill` towards the target.
    pub fn ratio(&mut self, fill: usize) -> f64 {
        let fill = fill as f64;
        let s = match self.smoothed {
            Some(s) => s + (fill - s) * SMOOTHING,
            None => fill,
        };
        self.smoothed = Some(s);
        let error = (s - self.target as f64) / self.target as f64;
        1.0 - (error * MAX_CORRECTION).clamp(-MAX_CORRECTION, MAX_CORRECTION)
    }

    /// Forgets the estimate: after a prebuffer or a drop the fill jumped on purpose.
    pub fn reset(&mut self) {
        self.smoothed = None;
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the clock-matching resampler: {0}")]
pub struct DriftError(String);

/// A resampler at one rate whose ratio follows a buffer's fill.
pub struct Drift {
    inner: FastFixedIn<f32>,
    control: FillControl,
    waiting: Vec<f32>,
    input: Vec<Vec<f32>>,
    output: Vec<Vec<f32>>,
}

impl Drift {
    /// For samples at `rate`, keeping the buffer at `target` samples.
    pub fn new(rate: u32, target: usize) -> Result<Drift, DriftError> {
        let chunk = (rate / 100).max(16) as usize;
        let inner = FastFixedIn::new(
            1.0,
            1.0 + 2.0 * MAX_CORRECTION,
            PolynomialDegree::Cubic,
            chunk,
            1,
        )
        .map_err(|e| DriftError(e.to_string()))?;
        Ok(Drift {
            input: inner.input_buffer_allocate(true),
            output: inner.output_buffer_allocate(true),
            waiting: Vec::with_capacity(chunk * 4),
            control: FillControl::new(target),
            inner,
        })
    }

    /// Appends `samples` to `out`, resampled by the ratio that moves `fill` towards the target.
    pub fn push(&mut self, samples: &[f32], fill: usize, out: &mut Vec<f32>) {
        let ratio = self.control.ratio(fill);
        // Ramped, so a change of ratio is a glide, never a step.
        let _ = self.inner.set_resample_ratio_relative(ratio, true);
        self.waiting.extend_from_slice(samples);
        let need = self.inner.input_frames_next();
        let mut used = 0;
        while self.waiting.len() - used >= need {
            self.input[0][..need].copy_from_slice(&self.waiting[used..used + need]);
            used += need;
            match self
                .inner
                .process_into_buffer(&self.input, &mut self.output, None)
            {
                Ok((_, n)) => out.extend_from_slice(&self.output[0][..n]),
                Err(e) => tracing::debug!("clock matching: {e}"),
            }
        }
        self.waiting.drain(..used);
    }

    /// After a jump in the fill made on purpose (a prebuffer, a drop).
    pub fn reset(&mut self) {
        self.control.reset();
    }
}

/// What the speaker's side does with its next frame, given how many samples wait for the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Queue it.
    Play,
    /// The card ran dry: queue this much silence first, so the next sound does not stutter.
    Prebuffer(usize),
    /// A stall piled sound up: drop this frame rather than play it late.
    Drop,
}

/// The speaker's rule: refill to `target` when nothing waits, drop beyond `target` plus three
/// frames (a stall's burst), else play.
pub fn speaker_admit(fill: usize, target: usize, frame: usize) -> Admit {
    match fill {
        0 => Admit::Prebuffer(target),
        f if f > target + 3 * frame => Admit::Drop,
        _ => Admit::Play,
    }
}

/// What the microphone's side takes for its next frame, given how many samples the card has
/// delivered and whether it is filling up after running dry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// A frame of the card's samples.
    Frame,
    /// Silence while the card's samples build up to the target again.
    Wait,
    /// A frame after dropping this many of the oldest samples (a stall piled them up).
    DropFirst(usize),
}

/// The microphone's rule: wait after running dry until `target` samples are there, drop down to
/// `target` beyond `target` plus three frames, else take a frame.
pub fn mic_take(fill: usize, target: usize, frame: usize, filling: bool) -> Take {
    match fill {
        f if f < frame || (filling && f < target) => Take::Wait,
        f if f > target + 3 * frame => Take::DropFirst(f - target),
        _ => Take::Frame,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A producer at `rate` and a consumer `ppm` faster or slower, 20 ms apart, for `secs`:
    /// the fill after each step.
    fn run_clocks(ppm: f64, secs: usize) -> Vec<usize> {
        let rate = 48_000u32;
        let frame = 960usize;
        let target = 2 * frame;
        let mut d = Drift::new(rate, target).unwrap();
        let (mut queue, mut fills) = (target as f64, Vec::new());
        let mut out = Vec::new();
        let mut tone = crate::media::tone::Tone::new(440.0, rate, 12_000);
        let mut pcm = vec![0i16; frame];
        for _ in 0..secs * 50 {
            tone.fill(&mut pcm);
            let f: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32768.0).collect();
            out.clear();
            d.push(&f, queue as usize, &mut out);
            queue += out.len() as f64;
            queue -= frame as f64 * (1.0 + ppm / 1e6);
            fills.push(queue.max(0.0) as usize);
        }
        fills
    }

    #[test]
    fn a_faster_or_slower_card_keeps_the_buffer_near_its_target() {
        for ppm in [-1000.0, -100.0, 0.0, 100.0, 1000.0] {
            let fills = run_clocks(ppm, 600);
            let last = &fills[fills.len() - 500..];
            // Ten minutes at 1000 ppm is 0.6 s of drift; the buffer holds within a frame of 40 ms.
            assert!(
                last.iter().all(|&f| f > 960 && f < 2 * 1920),
                "{ppm} ppm: fill {:?}",
                &last[..5]
            );
        }
    }

    #[test]
    fn clock_matching_keeps_a_tone_at_its_frequency() {
        let mut d = Drift::new(8000, 320).unwrap();
        let mut tone = crate::media::tone::Tone::new(1000.0, 8000, 12_000);
        let (mut pcm, mut out) = (vec![0i16; 160], Vec::new());
        for i in 0..100 {
            tone.fill(&mut pcm);
            let f: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32768.0).collect();
            // A buffer far too full: the strongest correction.
            d.push(&f, if i < 50 { 3000 } else { 0 }, &mut out);
        }
        let pcm: Vec<i16> = out.iter().map(|&s| (s * 32767.0) as i16).collect();
        let best = crate::media::tone::strongest(&pcm[800..], 8000, &[300.0, 440.0, 1000.0]);
        assert_eq!(best, Some(1000.0));
        // 100 frames in; within the correction (and the filter's few samples) out.
        assert!(out.len().abs_diff(16_000) < 16_000 / 100, "{}", out.len());
    }

    #[test]
    fn the_speaker_prebuffers_when_dry_and_drops_a_stalls_burst() {
        let (target, frame) = (1920, 960);
        assert_eq!(speaker_admit(0, target, frame), Admit::Prebuffer(target));
        assert_eq!(speaker_admit(1500, target, frame), Admit::Play);
        assert_eq!(
            speaker_admit(target + 3 * frame, target, frame),
            Admit::Play
        );
        assert_eq!(
            speaker_admit(target + 3 * frame + 1, target, frame),
            Admit::Drop
        );
    }

    #[test]
    fn the_microphone_waits_to_refill_and_drops_what_piled_up() {
        let (target, frame) = (320, 160);
        assert_eq!(mic_take(100, target, frame, false), Take::Wait);
        assert_eq!(mic_take(200, target, frame, true), Take::Wait);
        assert_eq!(mic_take(200, target, frame, false), Take::Frame);
        assert_eq!(mic_take(320, target, frame, true), Take::Frame);
        assert_eq!(mic_take(2000, target, frame, false), Take::DropFirst(1680));
    }
}
