//! Echo cancelling and noise suppression on the sound-card path: WebRTC's audio processing
//! (AEC3 and its noise suppressor) through `sonora`, a pure-Rust port, so nothing is built from
//! C++ and the same code runs wherever Parley does. It hears every frame we play (render) and
//! cleans every frame the microphone gives (capture), 10 ms at a time, at the codec's rate.

use sonora::config::{EchoCanceller, NoiseSuppression};
use sonora::{AudioProcessing, Config, StreamConfig};

pub struct EchoControl {
    apm: AudioProcessing,
    chunk: usize,
    input: Vec<f32>,
    output: Vec<f32>,
}

impl EchoControl {
    /// For a stream at `rate` (8, 16, 32 or 48 kHz): echo cancelling and noise suppression.
    pub fn new(rate: u32) -> EchoControl {
        Self::with(rate, true)
    }

    fn with(rate: u32, suppress_noise: bool) -> EchoControl {
        let stream = StreamConfig::new(rate, 1);
        let config = Config {
            echo_canceller: Some(EchoCanceller::default()),
            noise_suppression: suppress_noise.then(NoiseSuppression::default),
            ..Default::default()
        };
        let apm = AudioProcessing::builder()
            .config(config)
            .capture_config(stream)
            .render_config(stream)
            .build();
        let chunk = (rate / 100) as usize;
        EchoControl {
            apm,
            chunk,
            input: vec![0.0; chunk],
            output: vec![0.0; chunk],
        }
    }

    /// What the speaker is about to play.
    pub fn render(&mut self, pcm: &[i16]) {
        for part in pcm.chunks_exact(self.chunk) {
            to_f32(part, &mut self.input);
            let _ = self
                .apm
                .process_render_f32(&[&self.input], &mut [&mut self.output]);
        }
    }

    /// The microphone's frame, cleaned of echo and noise in place.
    pub fn capture(&mut self, pcm: &mut [i16]) {
        for part in pcm.chunks_exact_mut(self.chunk) {
            to_f32(part, &mut self.input);
            if self
                .apm
                .process_capture_f32(&[&self.input], &mut [&mut self.output])
                .is_ok()
            {
                for (s, v) in part.iter_mut().zip(&self.output) {
                    *s = (v.clamp(-1.0, 1.0) * 32767.0) as i16;
                }
            }
        }
    }
}

fn to_f32(pcm: &[i16], out: &mut [f32]) {
    for (o, s) in out.iter_mut().zip(pcm) {
        *o = f32::from(*s) / 32768.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tone::{power_at, Tone};

    #[test]
    fn the_far_ends_tone_is_removed_from_the_microphone_and_ours_kept() {
        let rate = 16_000;
        // Noise suppression off here: it would also take the steady test tone for noise.
        let mut ec = EchoControl::with(rate, false);
        let (mut far, mut near) = (Tone::new(440.0, rate, 8000), Tone::new(1000.0, rate, 8000));
        let frame = 320;
        let (mut played, mut ours, mut mic) = (vec![0; frame], vec![0; frame], vec![0; frame]);
        let mut echo_delay = std::collections::VecDeque::from(vec![0i16; 480]);
        let (mut before, mut after) = (Vec::new(), Vec::new());
        for i in 0..400 {
            far.fill(&mut played);
            near.fill(&mut ours);
            ec.render(&played);
            // The room: the speaker's sound comes back 30 ms later at half strength.
            for (m, (p, o)) in mic.iter_mut().zip(played.iter().zip(&ours)) {
                echo_delay.push_back(*p / 2);
                *m = echo_delay.pop_front().unwrap_or(0).saturating_add(*o / 4);
            }
            if i >= 300 {
                before.extend_from_slice(&mic);
            }
            ec.capture(&mut mic);
            if i >= 300 {
                after.extend_from_slice(&mic);
            }
        }
        let echo_cut = power_at(&before, rate, 440.0) / power_at(&after, rate, 440.0).max(1e-12);
        assert!(echo_cut > 10.0, "echo only reduced {echo_cut:.1} times");
        assert!(power_at(&after, rate, 1000.0) > 0.3 * power_at(&before, rate, 1000.0));
    }

    #[test]
    fn steady_noise_is_suppressed() {
        use rand::{rngs::StdRng, Rng, SeedableRng};
        let mut ec = EchoControl::new(16_000);
        let mut rng = StdRng::seed_from_u64(1);
        let (mut before, mut after) = (0f64, 0f64);
        let mut mic = vec![0i16; 320];
        for i in 0..300 {
            mic.iter_mut().for_each(|s| *s = rng.gen_range(-2000..2000));
            ec.render(&[0; 320]);
            let energy = |v: &[i16]| v.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>();
            if i >= 200 {
                before += energy(&mic);
            }
            ec.capture(&mut mic);
            if i >= 200 {
                after += energy(&mic);
            }
        }
        assert!(
            before > 2.0 * after,
            "noise only reduced {:.1} times",
            before / after
        );
    }
}
