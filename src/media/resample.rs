//! Sound from a packet at its codec's rate brought to the speaker's rate, for a peer that
//! switches to a codec of another rate mid-call (Opus at 48 kHz, G.711 at 8 kHz). Linear
//! interpolation up, a box average down: plain, enough for voice, and stateless per packet
//! (the sound card's own rate conversion, in `device`, uses rubato).

use std::collections::VecDeque;

/// Appends `input`, sampled at `from` Hz, to `out` at `to` Hz.
pub fn convert(input: &[i16], from: u32, to: u32, out: &mut VecDeque<i16>) {
    if from == to || input.is_empty() || from == 0 || to == 0 {
        out.extend(input);
        return;
    }
    let n = (input.len() as u64 * u64::from(to) / u64::from(from)) as usize;
    let step = f64::from(from) / f64::from(to);
    if from > to {
        let width = step.round().max(1.0) as usize;
        for i in 0..n {
            let start = ((i as f64 * step) as usize).min(input.len() - 1);
            let window = &input[start..(start + width).min(input.len())];
            let sum: i32 = window.iter().map(|s| i32::from(*s)).sum();
            out.push_back((sum / window.len() as i32) as i16);
        }
        return;
    }
    for i in 0..n {
        let pos = i as f64 * step;
        let at = pos as usize;
        let frac = pos - at as f64;
        let a = f64::from(input[at.min(input.len() - 1)]);
        let b = f64::from(input[(at + 1).min(input.len() - 1)]);
        out.push_back((a + (b - a) * frac).round() as i16);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tone::{power_at, Tone};

    #[test]
    fn a_tone_keeps_its_pitch_both_ways() {
        let mut low = vec![0; 1600];
        Tone::new(440.0, 8000, 12000).fill(&mut low);
        let mut up = VecDeque::new();
        convert(&low, 8000, 48_000, &mut up);
        let up: Vec<i16> = up.into();
        assert_eq!(up.len(), 9600);
        assert!(power_at(&up, 48_000, 440.0) > 100.0 * power_at(&up, 48_000, 1000.0));
        let mut down = VecDeque::new();
        convert(&up, 48_000, 8000, &mut down);
        let down: Vec<i16> = down.into();
        assert_eq!(down.len(), 1600);
        assert!(power_at(&down, 8000, 440.0) > 100.0 * power_at(&down, 8000, 1000.0));
    }
}
