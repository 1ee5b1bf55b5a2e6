//! Media: audio devices now; RTP, codecs and the jitter buffer arrive with the audio update.

pub mod devices;
pub mod ringer;
