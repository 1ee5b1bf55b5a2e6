//! The engine's side of a call's media: it turns the SDP negotiation into plain media
//! parameters, starts the session when the call connects, re-points it after a re-INVITE, and
//! forwards its counts as `CallStats` events. A media failure never takes the call down: the
//! call goes on and the user is told why there is no sound.

use super::{CallId, Core, Event};
use crate::media::codec::CodecKind;
use crate::media::headless::{Sink, SinkSpec, Source, SourceSpec};
use crate::media::session::{MediaEvent, MediaParams, MediaSession};
use crate::sdp::{Address, AudioStream};
use std::net::SocketAddr;

/// The stream's RTP and RTCP addresses when the SDP gave numbers (the usual case); `None` when
/// a name must be looked up first.
fn literal(a: &AudioStream) -> Option<(SocketAddr, Option<SocketAddr>)> {
    let rtcp = match &a.rtcp {
        Some((addr, port)) => Some(ip_of(addr, *port)?),
        None => None,
    };
    Some((ip_of(&a.remote, a.port)?, rtcp))
}

fn ip_of(address: &Address, port: u16) -> Option<SocketAddr> {
    match address {
        Address::Ip(ip) => Some(SocketAddr::new(*ip, port)),
        Address::Name(_) => None,
    }
}

/// A name's address; IPv4 first, as SDP names nearly always come as `c=IN IP4 name` (and
/// `localhost` lists `::1` first).
async fn socket_of(address: &Address, port: u16) -> Option<SocketAddr> {
    let Address::Name(n) = address else {
        return ip_of(address, port);
    };
    let all: Vec<SocketAddr> = tokio::net::lookup_host((n.as_str(), port))
        .await
        .ok()?
        .collect();
    all.iter().find(|a| a.is_ipv4()).or(all.first()).copied()
}

/// Looks up the stream's host names (on a task of its own: DNS may take seconds).
async fn resolve(a: &AudioStream) -> Option<(SocketAddr, Option<SocketAddr>)> {
    let rtcp = match &a.rtcp {
        Some((addr, port)) => socket_of(addr, *port).await,
        None => None,
    };
    Some((socket_of(&a.remote, a.port).await?, rtcp))
}

/// How often a held call's path is kept open: well inside the 20-30 s after which many NATs
/// forget an idle UDP mapping (RFC 6263 suggests at most 15 s).
const KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(10);

/// RFC 3550's minimum interval between reports in a two-party call.
const RTCP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Media parameters from a negotiated audio stream and its resolved addresses; `None` when
/// there is nothing to play.
fn params_of(
    a: &AudioStream,
    (remote, rtcp): (SocketAddr, Option<SocketAddr>),
) -> Option<MediaParams> {
    let codec = CodecKind::from_name(&a.codec)?;
    if a.port == 0 {
        return None;
    }
    Some(MediaParams {
        remote,
        rtcp,
        rtcp_interval: RTCP_INTERVAL,
        keepalive: KEEPALIVE,
        ice: None,
        payload_type: a.payload_type,
        codec,
        decodes: a
            .formats
            .iter()
            .filter_map(|(pt, name)| Some((*pt, CodecKind::from_name(name)?)))
            .collect(),
        send: matches!(a.direction, "sendrecv" | "sendonly"),
        receive: matches!(a.direction, "sendrecv" | "recvonly"),
        telephone_event: a.telephone_event,
        event_rate: a.telephone_event_rate,
        srtp: a
            .srtp
            .clone()
            .map(|(theirs, ours)| crate::media::srtp::SrtpKeys { ours, theirs }),
        dtls: None,
    })
}

impl Core {
    fn audio_of(&self, id: CallId) -> Option<AudioStream> {
        self.calls.get(&id)?.negotiated.as_ref()?.audio.clone()
    }

    /// The parameters for the call's audio as negotiated now, at `addrs`.
    fn negotiated_params(
        &self,
        id: CallId,
        addrs: (SocketAddr, Option<SocketAddr>),
    ) -> Option<MediaParams> {
        let call = self.calls.get(&id)?;
        let held = call.local_hold;
        let audio = self.audio_of(id)?;
        let mut p = params_of(&audio, addrs)?;
        p.dtls = match (&audio.dtls, &self.media_identity) {
            (Some(d), Some(identity)) => Some(crate::media::dtls::DtlsSetup {
                identity: identity.clone(),
                theirs: d.theirs,
                active: d.active,
                ids: d.ids.clone(),
            }),
            _ => None,
        };
        // The first offer's maker controls (RFC 8445 6.1.1): the caller, or the callee whose
        // 200 carried the offer; a full agent facing a lite one always does. Both sides must
        // have given ICE attributes.
        let offered_first = match call.direction {
            super::Direction::Outgoing => true,
            super::Direction::Incoming => call.invite.body.is_empty(),
        };
        p.ice = match (&call.media.ice, audio.ice) {
            (Some(local), Some(remote)) => Some(crate::nat::ice::IceStart {
                controlling: offered_first || remote.lite,
                local: local.clone(),
                remote,
            }),
            _ => None,
        };
        if held {
            // On hold, media stops both ways: nothing of ours goes out, nothing is played.
            (p.send, p.receive) = (false, false);
        }
        Some(p)
    }

    /// The configured microphone and speaker at `rate`. One that cannot open is replaced by
    /// silence, so the call still connects, and the words say why there is no sound.
    fn open_devices(&self, rate: u32) -> (Source, Sink, Option<String>) {
        let (mut mic, mut speaker) = (None, None);
        let source = Source::open(&self.config.microphone, rate).unwrap_or_else(|e| {
            mic = Some(e.to_string());
            Source::Silence
        });
        let sink = Sink::open(&self.config.speaker, rate).unwrap_or_else(|e| {
            speaker = Some(e.to_string());
            Sink::Discard
        });
        (source, sink, no_sound(mic, speaker))
    }

    /// The input or output chosen in Settings: used from now on, and at once in every call.
    pub(super) async fn use_device(&mut self, key: &str, name: &str) {
        let name = (!name.is_empty()).then(|| name.to_string());
        match key {
            "input" => self.config.microphone = SourceSpec::Device(name),
            "output" => self.config.speaker = SinkSpec::Device(name),
            _ => return,
        }
        let live: Vec<(CallId, u32)> = self
            .calls
            .iter()
            .filter(|(_, c)| c.media_session.is_some())
            .filter_map(|(id, c)| {
                let codec = c.negotiated.as_ref()?.audio.as_ref()?.codec.clone();
                Some((*id, CodecKind::from_name(&codec)?.rate()))
            })
            .collect();
        for (id, rate) in live {
            let (source, sink, trouble) = self.open_devices(rate);
            if let Some(message) = trouble {
                self.emit(Event::NoSound { call: id, message }).await;
            }
            if let Some(m) = self.calls.get(&id).and_then(|c| c.media_session.as_ref()) {
                m.switch_devices(source, sink);
            }
        }
    }

    /// Sends a key in the media when the other side takes RFC 4733 events; `false` when the
    /// caller must fall back to SIP INFO.
    pub(super) fn key_in_media(&self, id: CallId, digit: char) -> bool {
        let Some(c) = self.calls.get(&id) else {
            return false;
        };
        // On hold our media sends nothing, so keys then go by INFO.
        let sending = |a: &AudioStream| matches!(a.direction, "sendrecv" | "sendonly");
        let agreed = !c.local_hold
            && c.negotiated
                .as_ref()
                .and_then(|n| n.audio.as_ref())
                .is_some_and(|a| a.telephone_event.is_some() && sending(a));
        match (&c.media_session, agreed) {
            (Some(m), true) => {
                m.key(digit);
                true
            }
            _ => false,
        }
    }

    pub(super) async fn mute(&mut self, id: CallId, on: bool) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        c.muted = on;
        if let Some(m) = &c.media_session {
            m.mute(on);
        }
        self.emit(Event::Muted { call: id, on }).await;
    }

    /// Starts the call's media (once it is connected), or re-points it if it runs. Addresses
    /// given as names are looked up off the loop and come back as `Internal::MediaResolved`.
    pub(super) async fn start_media(&mut self, id: CallId) {
        self.start_msrp(id);
        let Some(audio) = self.audio_of(id) else {
            tracing::info!("call {id}: no audio negotiated");
            return;
        };
        self.keep_dtls_role(id, &audio);
        self.say_security(id).await;
        match literal(&audio) {
            Some(addrs) => self.media_at(id, addrs).await,
            None => {
                let internal = self.internal.clone();
                tokio::spawn(async move {
                    let addrs = resolve(&audio).await;
                    let _ = internal.send(super::Internal::MediaResolved {
                        id,
                        audio: Box::new(audio),
                        addrs,
                    });
                });
            }
        }
    }

    /// Later offers and answers of the call keep the handshake's roles (see `DtlsLocal`).
    fn keep_dtls_role(&mut self, id: CallId, audio: &AudioStream) {
        let role = audio.dtls.as_ref().map(|d| d.active);
        let ours = self.calls.get_mut(&id).and_then(|c| c.media.dtls.as_mut());
        if let (Some(role), Some(ours)) = (role, ours) {
            ours.role = Some(role);
        }
    }

    /// A looked-up media address: used if the call still has the audio it was looked up for.
    pub(super) async fn media_resolved(
        &mut self,
        id: CallId,
        audio: AudioStream,
        addrs: Option<(SocketAddr, Option<SocketAddr>)>,
    ) {
        if self.audio_of(id).as_ref() != Some(&audio) {
            return;
        }
        match addrs {
            Some(addrs) => self.media_at(id, addrs).await,
            None => {
                let message = format!("The call has no sound: {} does not resolve", audio.remote);
                self.emit(Event::NoSound { call: id, message }).await;
            }
        }
    }

    async fn media_at(&mut self, id: CallId, addrs: (SocketAddr, Option<SocketAddr>)) {
        let params = self.negotiated_params(id, addrs);
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(params) = params else {
            tracing::info!("call {id}: no audio negotiated");
            return;
        };
        if let Some(m) = &mut c.media_session {
            if let Some(rate) = m.repoint(params) {
                // A new codec rate: the sound card's conversion and the echo canceller follow.
                let (source, sink, trouble) = self.open_devices(rate);
                if let Some(message) = trouble {
                    self.emit(Event::NoSound { call: id, message }).await;
                }
                if let Some(m) = self.calls.get(&id).and_then(|c| c.media_session.as_ref()) {
                    m.switch_devices(source, sink);
                }
            }
            return;
        }
        let Some((socket, rtcp)) = c.rtp.take() else {
            return;
        };
        let relay = c.relay.take();
        let rate = params.codec.rate();
        let (source, sink, trouble) = self.open_devices(rate);
        if let Some(message) = trouble {
            self.emit(Event::NoSound { call: id, message }).await;
        }
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let events = self.events.clone();
        let internal = self.internal.clone();
        let agreed = c
            .negotiated
            .as_ref()
            .and_then(|n| n.audio.as_ref()?.dtls.clone());
        let report = move |ev: MediaEvent| {
            let event = match ev {
                MediaEvent::Stats(s) => Event::CallStats {
                    call: id,
                    sent: s.sent,
                    received: s.received,
                    lost: s.lost,
                    late: s.late,
                    jitter_ms: s.jitter_ms,
                    rtt_ms: s.rtt_ms,
                    peer_lost_percent: s.peer_lost_percent,
                    no_media_secs: s.no_media_secs,
                },
                MediaEvent::Key(digit) => Event::Dtmf { call: id, digit },
                MediaEvent::Path {
                    relayed,
                    local,
                    remote,
                } => Event::MediaPath {
                    call: id,
                    relayed,
                    message: match relayed {
                        true => format!("Audio goes through a relay ({local} to {remote})"),
                        false => format!("Audio goes straight to them ({local} to {remote})"),
                    },
                },
                MediaEvent::ConsentLost => Event::Error {
                    message: "The other side no longer confirms it wants our audio (ICE consent \
                              lost): nothing more is sent"
                        .into(),
                },
                MediaEvent::Levels { input, output } => Event::Levels {
                    call: id,
                    input,
                    output,
                },
                MediaEvent::Secured(suite) => Event::CallSecurity {
                    call: id,
                    encrypted: true,
                    message: match &agreed {
                        Some(a) => super::srtp::secured_message(suite, a),
                        None => format!("Encrypted: SRTP ({})", suite.name()),
                    },
                },
                MediaEvent::EncryptionFailed => {
                    let _ = internal.send(super::Internal::EncryptionFailed(id));
                    Event::Error {
                        message: "Hung up: the call's encryption could not be set up (the \
                                  other side's certificate was not the one its call offer \
                                  named, or the handshake failed)"
                            .into(),
                    }
                }
            };
            let _ = events.try_send(event);
        };
        // With rtcp-mux the RTCP port stays unused (and is closed here).
        let rtcp = params.rtcp.and(Some(rtcp));
        match MediaSession::start(socket, rtcp, relay, params, source, sink, report) {
            Ok(m) => {
                m.mute(c.muted);
                c.media_session = Some(m);
            }
            Err(e) => {
                let message = format!("The call has no sound: {e}");
                self.emit(Event::NoSound { call: id, message }).await;
            }
        }
    }
}

/// Why a call has no sound, each reason said once: the system's words for a microphone and a
/// speaker that fail alike are the same words.
fn no_sound(mic: Option<String>, speaker: Option<String>) -> Option<String> {
    let why = match (mic, speaker) {
        (None, None) => return None,
        (Some(m), Some(s)) if m == s => {
            format!("neither the microphone nor the speaker opens ({m})")
        }
        (Some(m), Some(s)) => format!("no microphone ({m}), no speaker ({s})"),
        (Some(m), None) => format!("no microphone ({m})"),
        (None, Some(s)) => format!("no speaker ({s})"),
    };
    Some(format!("The call has no sound: {why}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_same_reason_is_said_once() {
        let e = || Some("ALSA function 'snd_pcm_open' failed".to_string());
        let said = super::no_sound(e(), e()).unwrap();
        assert_eq!(said.matches("snd_pcm_open").count(), 1, "{said}");
        assert!(super::no_sound(None, None).is_none());
        assert!(super::no_sound(e(), None)
            .unwrap()
            .contains("no microphone"));
    }
}
