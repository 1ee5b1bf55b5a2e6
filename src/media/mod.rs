//! Media: RTP and RTCP packets, audio devices and the ringer; codecs, the jitter buffer and
//! the call's media session build on these.

pub mod codec;
pub mod device;
pub mod devices;
pub mod drift;
pub mod dtls;
pub mod dtmf;
pub mod echo;
pub mod headless;
pub mod jitter;
pub mod link;
pub mod peer;
pub mod resample;
pub mod ringer;
pub mod rtcp;
pub mod rtp;
pub mod sequence;
pub mod session;
pub mod srtp;
pub mod tone;
