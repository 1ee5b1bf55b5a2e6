//! Tones and their detection: a sine generator (the `--tone` microphone, dialling feedback) and
//! a Goertzel filter that says how strong one frequency is in a block of samples, which the
//! tests use to check that the tone one side plays is the tone the other side hears.

use std::f64::consts::TAU;

/// A continuous sine at `freq` Hz, `amplitude` out of i16's range.
#[derive(Debug, Clone)]
pub struct Tone {
    step: f64,
    phase: f64,
    amplitude: f64,
}

impl Tone {
    pub fn new(freq: f64, rate: u32, amplitude: i16) -> Tone {
        Tone {
            step: TAU * freq / f64::from(rate),
            phase: 0.0,
            amplitude: f64::from(amplitude),
        }
    }

    /// Fills `out` with the next samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        for s in out {
            *s = (self.phase.sin() * self.amplitude) as i16;
            self.phase = (self.phase + self.step) % TAU;
        }
    }
}

/// The power of `freq` in `samples` (Goertzel), normalised so a full-scale sine gives ~0.25.
pub fn power_at(samples: &[i16], rate: u32, freq: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let coeff = 2.0 * (TAU * freq / f64::from(rate)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) / 32768.0 + coeff * s1 - s2;
        (s2, s1) = (s1, s0);
    }
    let n = samples.len() as f64;
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (n * n)
}

/// The strongest frequency among `candidates` in `samples`.
pub fn strongest(samples: &[i16], rate: u32, candidates: &[f64]) -> Option<f64> {
    candidates
        .iter()
        .copied()
        .max_by(|a, b| power_at(samples, rate, *a).total_cmp(&power_at(samples, rate, *b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tone_is_found_at_its_frequency() {
        let mut t = Tone::new(440.0, 8000, 16000);
        let mut buf = vec![0i16; 1600];
        t.fill(&mut buf);
        let candidates = [300.0, 440.0, 600.0, 1000.0];
        assert_eq!(strongest(&buf, 8000, &candidates), Some(440.0));
        assert!(power_at(&buf, 8000, 440.0) > 100.0 * power_at(&buf, 8000, 1000.0));
        assert_eq!(power_at(&[0; 100], 8000, 440.0), 0.0);
    }
}
