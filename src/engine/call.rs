//! Calls (RFC 3261 sections 13-15, RFC 3264): outgoing INVITE with our SDP offer, provisional
//! states, 2xx + ACK, 3xx redirects, digest retry, every failure turned into a call-ended reason;
//! incoming INVITE with 180, answer/decline, CANCEL, BYE, re-INVITE, busy when already in a call.
//! Media sockets are reserved here and their addresses offered; audio and MSRP bytes come later.

use super::gate::Reached;
use super::transfer::{self, Purpose};
use super::{reason, AccountId, CallId, CallOutcome, CallState, Core, Ctx, Direction, Event};
use crate::sdp::{self, LocalMedia, Session};
use crate::sip::dialog::Dialog;
use crate::sip::endpoint::{Incoming, TxKey};
use crate::sip::headers::{NameAddr, SipUri};
use crate::sip::message::{self as msg, Headers, MessageExt, Method, Request, Response, Version};
use crate::sip::transport::Peer;
use std::time::Instant;

const MAX_REDIRECTS: u32 = 5;

/// The phrase an incoming call nobody answered ends with (a missed call, not a failure).
const UNANSWERED: &str = "Not Answered";

pub(crate) struct Call {
    pub(super) account: AccountId,
    pub(super) direction: Direction,
    pub(super) state: CallState,
    pub(super) peer: String,
    /// UAC: our current INVITE; UAS: the INVITE we received.
    pub(super) invite: Request,
    pub(super) invite_key: Option<TxKey>,
    pub(super) invite_peer: Option<Peer>,
    pub(super) dialog: Option<Dialog>,
    pub(super) local_tag: String,
    pub(super) media: LocalMedia,
    /// Our last SDP, offer or answer: re-offers are built from it (RFC 3264 8).
    pub(super) local_sdp: Option<Session>,
    /// The media as last negotiated, for the media layer.
    pub(super) negotiated: Option<sdp::Negotiated>,
    pub(super) answered: Option<Instant>,
    pub(super) db_id: Option<i64>,
    pub(super) redirects: u32,
    pub(super) hangup_wanted: bool,
    /// Reserved media ports; held so no one else takes them before the media layer does.
    pub(super) rtp: Option<RtpPair>,
    /// RFC 4028's timer, once the call is answered with one.
    pub(super) session_timer: Option<super::session_timer::SessionTimer>,
    /// The RTP socket's TURN relay, when our SDP offers its address.
    pub(super) relay: Option<crate::nat::turn::Relay>,
    /// Our connection to an MSRP relay, when our MSRP path starts there.
    pub(super) msrp_relay: Option<crate::msrp::relay::Granted>,
    /// The call's media once it connected.
    pub(super) media_session: Option<crate::media::session::MediaSession>,
    pub(super) muted: bool,
    pub(super) msrp_listener: Option<std::net::TcpListener>,
    /// The call's MSRP session (chat and files), once connected.
    pub(super) msrp: Option<crate::msrp::session::MsrpSession>,
    /// We hold the other side / they hold us (RFC 3264 8.4).
    pub(super) local_hold: bool,
    pub(super) remote_hold: bool,
    /// An outgoing call still unanswered then is cancelled as "no answer".
    pub(super) give_up_at: Option<Instant>,
    pub(super) gave_up: bool,
    /// The hold state the user asked for; re-INVITEs bring `local_hold` to it one at a time.
    pub(super) want_hold: bool,
    pub(super) reinvite: Option<super::reinvite::Pending>,
    /// After a 491: when our re-INVITE may go again (RFC 3261 14.1).
    pub(super) reinvite_retry_at: Option<Instant>,
    /// We answered the other side's re-INVITE and wait for its ACK.
    pub(super) reinvite_unacked: bool,
    /// Our 2xx carried the offer (their INVITE had none): the answer is due in the ACK.
    pub(super) answer_in_ack: bool,
    /// Our media moved (a new network): a re-offer is owed, sent once no other re-INVITE is
    /// under way.
    pub(super) reoffer_owed: bool,
    /// INFO requests awaiting their answer, with the digest answers tried for each.
    pub(super) infos: Vec<(Request, u8)>,
    /// Servers still to try for our INVITE (RFC 3263 4.3).
    pub(super) fallbacks: Vec<Peer>,
    /// A voice call, or a file or chat session riding the same machinery.
    pub(super) purpose: Purpose,
    /// A file session's outcome was already told (delivered, received, cancelled, broken).
    pub(super) finished: bool,
    /// The connection broke mid-file: what arrived stays for the next attempt to resume.
    pub(super) keep_partial: bool,
    /// Every chunk of the file we send was answered 200 (its report may still not come).
    pub(super) all_answered: bool,
    /// Our texts on the call's chat not yet answered, oldest first.
    pub(super) texts: std::collections::VecDeque<i64>,
    /// Who called us, and whether our server vouched for it (incoming calls only).
    pub(super) caller: Option<super::gate::Caller>,
}

/// The RTP socket (even port) and the RTCP one (the port above it, RFC 3550 11).
pub(super) type RtpPair = (std::net::UdpSocket, std::net::UdpSocket);

pub(super) type Reserved = (LocalMedia, Option<RtpPair>, Option<std::net::TcpListener>);

impl Call {
    /// Whether the other side is who the call names: the one we called, or a caller our
    /// server vouched for.
    pub(super) fn peer_verified(&self) -> bool {
        self.caller.as_ref().is_none_or(|c| c.verified)
    }

    fn new(
        account: AccountId,
        direction: Direction,
        state: CallState,
        peer: String,
        invite: Request,
        media: Reserved,
    ) -> Call {
        let (media, rtp, msrp) = media;
        Call {
            account,
            direction,
            state,
            peer,
            invite,
            invite_key: None,
            invite_peer: None,
            dialog: None,
            local_tag: String::new(),
            media,
            local_sdp: None,
            negotiated: None,
            answered: None,
            db_id: None,
            redirects: 0,
            hangup_wanted: false,
            rtp,
            session_timer: None,
            relay: None,
            msrp_relay: None,
            media_session: None,
            muted: false,
            msrp_listener: msrp,
            msrp: None,
            local_hold: false,
            remote_hold: false,
            give_up_at: None,
            gave_up: false,
            want_hold: false,
            reinvite: None,
            reinvite_retry_at: None,
            reoffer_owed: false,
            reinvite_unacked: false,
            answer_in_ack: false,
            infos: Vec::new(),
            fallbacks: Vec::new(),
            purpose: Purpose::Voice,
            finished: false,
            keep_partial: false,
            caller: None,
            all_answered: false,
            texts: Default::default(),
        }
    }
}

/// The audio address of an SDP offer, when it is an IP literal.
fn offered_audio(body: &[u8]) -> Option<std::net::SocketAddr> {
    let offer = Session::parse(std::str::from_utf8(body).ok()?).ok()?;
    let audio = offer
        .media
        .iter()
        .find(|m| m.kind == "audio" && m.port != 0)?;
    let ip = audio.connection.as_ref()?.ip()?;
    (!ip.is_unspecified()).then(|| std::net::SocketAddr::new(ip, audio.port))
}

/// Whether an offer's audio line does ICE (RFC 8839): then so does our answer.
fn offered_ice(body: &[u8]) -> bool {
    let parsed = std::str::from_utf8(body)
        .ok()
        .and_then(|t| Session::parse(t).ok());
    parsed.is_some_and(|s| {
        s.media
            .iter()
            .find(|m| m.kind == "audio" && m.port != 0)
            .is_some_and(|m| crate::sdp::ice_of(&s, m).is_some())
    })
}

/// An even RTP port and the RTCP port above it, on `ip`.
pub(super) fn reserve_rtp(ip: std::net::IpAddr) -> Option<RtpPair> {
    (0..50).find_map(|_| {
        let rtp = std::net::UdpSocket::bind((ip, 0)).ok()?;
        let port = rtp.local_addr().ok()?.port();
        if port % 2 != 0 || port == u16::MAX {
            return None;
        }
        let rtcp = std::net::UdpSocket::bind((ip, port + 1)).ok()?;
        Some((rtp, rtcp))
    })
}

/// Binds RTP and RTCP ports and an MSRP listener on `ip` and describes them for SDP.
fn reserve_media(ip: std::net::IpAddr, user: &str) -> Reserved {
    let rtp = reserve_rtp(ip);
    let msrp = std::net::TcpListener::bind((ip, 0)).ok();
    let msrp_path = msrp
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map(|a| format!("msrp://{}/{};tcp", a, msg::random_token(12)));
    let media = LocalMedia {
        user: user.to_string(),
        // Small enough for any peer's parser (some read it as a signed 64-bit number).
        session_id: rand::random::<u32>() as u64,
        address: ip,
        rtp_port: rtp
            .as_ref()
            .and_then(|(s, _)| s.local_addr().ok())
            .map(|a| a.port())
            .unwrap_or(9),
        msrp_path,
        accept_types: "text/plain message/cpim application/octet-stream *".into(),
        codecs: Vec::new(),
        file: None,
        resume_from: 1,
        connect_out: false,
        ice: None,
        msrp_relayed: false,
        relay_tls: None,
        sdes: None,
        dtls: None,
    };
    (media, rtp, msrp)
}

impl Core {
    fn active_calls(&self) -> usize {
        self.calls.values().filter(|c| c.purpose.is_voice()).count()
    }

    /// A voice call's state, told (file and chat sessions speak in transfer events).
    pub(super) async fn call_event(&self, id: CallId, status: Option<u16>, reason: Option<String>) {
        let Some(c) = self.calls.get(&id).filter(|c| c.purpose.is_voice()) else {
            return;
        };
        self.emit(Event::Call {
            call: id,
            state: c.state,
            peer: c.peer.clone(),
            direction: c.direction,
            status,
            reason,
        })
        .await;
    }

    /// Ends a call: history row, event, forget it.
    pub(super) async fn end_call(&mut self, id: CallId, status: u16, phrase: &str) {
        let Some(mut c) = self.calls.remove(&id) else {
            return;
        };
        // Silence first: no sound plays after the call has ended.
        if let Some(m) = c.media_session.take() {
            m.stop().await;
        }
        let unanswered = std::mem::take(&mut c.texts);
        let why = "The call ended before it was delivered";
        self.call_texts_failed(unanswered, &c.peer, why).await;
        if !c.purpose.is_voice() {
            return self.session_ended(id, c, status, phrase).await;
        }
        let duration = c.answered.map(|a| a.elapsed().as_secs()).unwrap_or(0);
        let message = if status == 200 && phrase == "Answered elsewhere" {
            reason::ANSWERED_ELSEWHERE.to_string()
        } else if phrase == reason::NO_ACK || phrase == reason::NO_MEDIA_ANSWER {
            // Kept as it is: the history reads the outcome from these words.
            phrase.to_string()
        } else if phrase == UNANSWERED {
            "Missed call: nobody answered in time".to_string()
        } else if status == 200 {
            reason::describe(200).to_string()
        } else {
            reason::line(status, phrase)
        };
        // Saved before the event goes out, so whoever hears of the end finds it in the history.
        let history = match (&self.db, c.db_id) {
            (Some(db), Some(row)) => {
                let text = message.clone();
                db.post("save the end of a call", move |s| {
                    s.call_ended(row, status, &text)
                });
                db.run(move |s| s.call(row))
                    .await
                    .and_then(Result::ok)
                    .flatten()
            }
            _ => None,
        };
        let outcome = CallOutcome::of(c.direction, status, c.answered.is_some(), &message);
        self.emit(Event::CallEnded {
            call: id,
            peer: c.peer,
            direction: c.direction,
            outcome,
            status,
            reason: phrase.to_string(),
            message,
            duration,
        })
        .await;
        if let Some(record) = history {
            self.emit(Event::CallLogged { record }).await;
        }
        crate::memory::give_back();
    }

    async fn record_start(
        &self,
        account: AccountId,
        call_id: &str,
        dir: Direction,
        peer: &str,
        verified: bool,
    ) -> Option<i64> {
        let db = self.db.as_ref()?;
        let aor = self.accounts.get(&account)?.uri.aor();
        let (call_id, peer) = (call_id.to_string(), peer.to_string());
        db.run(move |s| s.start_call(&aor, &call_id, dir, &peer, verified))
            .await?
            .map_err(|e| tracing::warn!("could not save call: {e}"))
            .ok()
    }

    /// Saved before the Connected event, like the end: an event means the history has it.
    async fn record_answer(&self, row: Option<i64>) {
        if let (Some(db), Some(row)) = (&self.db, row) {
            if let Some(Err(e)) = db.run(move |s| s.call_answered(row)).await {
                tracing::warn!("could not save the answer of a call: {e}");
            }
        }
    }

    /// `bob`, `1234` or `sip:bob@example.com`: a full URI for this account.
    pub(super) fn complete_target(&self, account: AccountId, target: &str) -> Option<SipUri> {
        self.checked_target(account, target).ok()
    }

    /// The target as a URI in the account's domain, or why it is no address, in words.
    pub(super) fn checked_target(
        &self,
        account: AccountId,
        target: &str,
    ) -> Result<SipUri, String> {
        let acc = self.accounts.get(&account).ok_or("no such account")?;
        let address = super::Address::parse(target).map_err(|e| e.to_string())?;
        let full = address.uri_in(&acc.uri.host);
        SipUri::parse(&full).map_err(|_| format!("“{target}” is not a SIP address or number"))
    }

    pub(super) async fn call(&mut self, account: AccountId, target: &str) {
        self.call_with(account, target, Purpose::Voice).await
    }

    /// Our SDP offer for a new session of this purpose.
    fn first_offer(reserved: &mut Reserved, purpose: &Purpose) -> Session {
        match purpose {
            Purpose::SendFile { file, .. } => {
                reserved.0.file = Some((file.clone(), msg::random_token(12)));
                sdp::message_offer(&reserved.0)
            }
            Purpose::Chat => sdp::message_offer(&reserved.0),
            _ => sdp::offer(&reserved.0, 1, false),
        }
    }

    /// Starts an outgoing INVITE: a call, or a file or chat session.
    pub(super) async fn call_with(&mut self, account: AccountId, target: &str, purpose: Purpose) {
        let uri = match self.checked_target(account, target) {
            Ok(uri) => uri,
            Err(why) => {
                let message = format!("Cannot call: {why}");
                return self.emit(Event::Error { message }).await;
            }
        };
        let mut targets = match self.route_targets(account, &uri).await {
            Ok(t) => t.into_iter(),
            Err(e) => {
                let message = format!("Cannot reach {}: {e}", uri.aor());
                return self.emit(Event::Error { message }).await;
            }
        };
        let Some(peer) = targets.next() else { return };
        let acc = &self.accounts[&account];
        let tag_from = msg::new_tag();
        let local_ip = self.endpoint.contact_addr(peer.addr).ip();
        let mut reserved = reserve_media(local_ip, &acc.user());
        reserved.0.codecs = self.config.codec_names();
        match self.protect(account, peer.proto, &mut reserved.0) {
            Ok(()) => {}
            Err(why) => {
                let message = format!("Cannot call {}: {why}", uri.aor());
                return self.emit(Event::Error { message }).await;
            }
        };
        let relay = self.reflect(account, &mut reserved, false).await;
        let msrp_relay = self.relay_msrp(account, &mut reserved).await;
        let acc = &self.accounts[&account];
        let offer = Self::first_offer(&mut reserved, &purpose);
        let mut h = Headers::default();
        msg::push(
            &mut h,
            "From",
            format!("{};tag={tag_from}", acc.name_addr()),
        );
        msg::push(&mut h, "To", NameAddr::new(uri.aor()).to_string());
        msg::push(&mut h, "Call-ID", msg::new_call_id(&acc.uri.host));
        msg::push(&mut h, "CSeq", "1 INVITE");
        msg::push(&mut h, "Contact", self.contact(&acc.user(), peer));
        msg::push(&mut h, "Allow", super::ALLOW);
        msg::push(&mut h, "User-Agent", super::USER_AGENT);
        msg::push(&mut h, "Content-Type", "application/sdp");
        let mut invite = Request {
            method: Method::Invite,
            uri: msg::request_uri(&uri),
            version: Version::V2,
            headers: h,
            body: offer.to_string().into_bytes(),
        };
        if purpose.is_voice() {
            self.ask_session_timer(&mut invite);
        }
        let id = self.mint();
        let peer_uri = uri.aor();
        let db_id = match purpose.is_voice() {
            true => {
                self.record_start(
                    account,
                    &invite.call_id(),
                    Direction::Outgoing,
                    &peer_uri,
                    true,
                )
                .await
            }
            false => None,
        };
        let key = self.send(Ctx::Invite(id), invite.clone(), peer);
        let mut call = Call::new(
            account,
            Direction::Outgoing,
            CallState::Dialing,
            peer_uri,
            invite,
            reserved,
        );
        call.invite_key = Some(key);
        call.invite_peer = Some(peer);
        call.relay = relay;
        call.msrp_relay = msrp_relay;
        call.local_tag = tag_from;
        call.local_sdp = Some(offer);
        call.fallbacks = targets.collect();
        call.db_id = db_id;
        call.give_up_at = Some(Instant::now() + self.config.ring_timeout);
        call.purpose = purpose;
        self.calls.insert(id, call);
        self.call_event(id, None, None).await;
    }

    /// Nothing came back (or 503): the same INVITE, as a new transaction, to the next server
    /// (RFC 3263 4.3).
    fn invite_next_server(&mut self, id: CallId) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let peer = c.fallbacks.remove(0);
        let mut invite = c.invite.clone();
        let n = invite.cseq().0 + 1;
        msg::set(&mut invite.headers, "CSeq", format!("{n} INVITE"));
        tracing::info!("call {id}: trying the next server, {peer:?}");
        self.resend_invite(id, invite, peer);
    }

    /// Resends our INVITE as a new transaction (after a challenge or a redirect).
    fn resend_invite(&mut self, id: CallId, invite: Request, peer: Peer) {
        let key = self.send(Ctx::Invite(id), invite.clone(), peer);
        if let Some(c) = self.calls.get_mut(&id) {
            c.invite = invite;
            c.invite_key = Some(key);
            c.invite_peer = Some(peer);
        }
    }

    pub(super) async fn invite_response(&mut self, id: CallId, resp: Response) {
        let code = msg::code_of(&resp);
        let Some(c) = self.calls.get_mut(&id) else {
            // A late 2xx for a call we already ended: ACK and BYE it (RFC 3261 15).
            if (200..300).contains(&code) {
                self.refuse_2xx(&resp, None).await;
            }
            return;
        };
        if resp.cseq().0 != c.invite.cseq().0 {
            return;
        }
        let unanswered = matches!(c.state, CallState::Dialing | CallState::Trying);
        if msg::try_next_server(&resp) && unanswered && !c.hangup_wanted && !c.fallbacks.is_empty()
        {
            return self.invite_next_server(id);
        }
        let phrase = msg::reason_of(&resp);
        match code {
            100 => {
                c.state = CallState::Trying;
                self.call_event(id, Some(code), Some(phrase)).await;
            }
            101..=199 => {
                c.state = if code == 183 {
                    CallState::Progress
                } else {
                    CallState::Ringing
                };
                if c.hangup_wanted {
                    if let Some(k) = &c.invite_key {
                        self.endpoint.cancel(k);
                    }
                }
                self.call_event(id, Some(code), Some(phrase)).await;
            }
            200..=299 => {
                if let Some(d) = &c.dialog {
                    if resp.to_tag().as_deref() == Some(d.remote_tag.as_str()) {
                        // A retransmitted 2xx: our ACK was lost, send it again.
                        self.send_ack(id, None).await;
                    } else {
                        // Another fork answered too: one call is kept, this one is ended.
                        let fallback = c.invite_peer;
                        self.refuse_2xx(&resp, fallback).await;
                    }
                    return;
                }
                let dialog = Dialog::uac(&c.invite, &resp);
                c.dialog = Some(dialog);
                let neg = std::str::from_utf8(&resp.body)
                    .ok()
                    .and_then(|b| Session::parse(b).ok())
                    .map(|s| {
                        sdp::accept_answer(&s, false, c.media.sdes.as_ref(), c.media.dtls.as_ref())
                    });
                tracing::info!(?neg, "call {id} media negotiated");
                c.negotiated = neg;
                c.state = CallState::Connected;
                c.answered = Some(Instant::now());
                c.give_up_at = None;
                let (db, hangup) = (c.db_id, c.hangup_wanted);
                self.accept_session_timer(id, &resp, Instant::now());
                self.send_ack(id, None).await;
                self.record_answer(db).await;
                if !self.encryption_holds(id) {
                    // No silent downgrade: an answer without our keys ends the call at once.
                    let message = "Hung up: the other side answered without encryption, which this account requires".to_string();
                    self.emit(Event::Error { message }).await;
                    return self.hangup(id).await;
                }
                self.start_media(id).await;
                self.call_event(id, Some(code), Some(phrase)).await;
                if hangup {
                    self.hangup(id).await;
                }
            }
            300..=399 => {
                let target = resp.contact().and_then(|a| SipUri::parse(&a.uri).ok());
                match target {
                    Some(t) if c.redirects < MAX_REDIRECTS && !c.hangup_wanted => {
                        c.redirects += 1;
                        let mut invite = c.invite.clone();
                        invite.uri = msg::request_uri(&t);
                        let n = invite.cseq().0 + 1;
                        msg::set(&mut invite.headers, "CSeq", format!("{n} INVITE"));
                        msg::set(
                            &mut invite.headers,
                            "To",
                            NameAddr::new(t.aor()).to_string(),
                        );
                        let account = c.account;
                        let mut targets = match self.route_targets(account, &t).await {
                            Ok(t) => t.into_iter(),
                            Err(_) => return self.end_call(id, code, &phrase).await,
                        };
                        let Some(peer) = targets.next() else {
                            return self.end_call(id, code, &phrase).await;
                        };
                        if let Some(c) = self.calls.get_mut(&id) {
                            c.peer = t.aor();
                            c.state = CallState::Dialing;
                            c.fallbacks = targets.collect();
                        }
                        self.resend_invite(id, invite, peer);
                        let why = format!("Redirected ({code}) to {}", t.aor());
                        self.call_event(id, Some(code), Some(why)).await;
                    }
                    _ => self.end_call(id, code, &phrase).await,
                }
            }
            401 | 407 => {
                let mut invite = c.invite.clone();
                let (account, peer) = (c.account, c.invite_peer);
                let hangup = c.hangup_wanted;
                let ok = !hangup
                    && self
                        .accounts
                        .get_mut(&account)
                        .is_some_and(|a| a.authorize(&mut invite, &resp));
                match (ok, peer) {
                    (true, Some(peer)) => {
                        let n = invite.cseq().0 + 1;
                        msg::set(&mut invite.headers, "CSeq", format!("{n} INVITE"));
                        self.resend_invite(id, invite, peer);
                    }
                    _ => self.end_call(id, code, &phrase).await,
                }
            }
            422 => {
                let again = super::session_timer::after_too_brief(&c.invite, &resp);
                match (again, c.invite_peer, c.hangup_wanted) {
                    (Some(invite), Some(peer), false) => self.resend_invite(id, invite, peer),
                    _ => self.end_call(id, code, &phrase).await,
                }
            }
            // Our own CANCEL after the ring timeout: say "no answer", not "cancelled".
            487 if c.gave_up => self.end_call(id, 408, "No Answer").await,
            // A Warning says why better than the status ("File larger than this user takes").
            _ => {
                let why = msg::warning_text(&resp).unwrap_or(phrase);
                self.end_call(id, code, &why).await
            }
        }
    }

    /// Nobody answered in time: cancel the call (RFC 3261 9.1) and report it as unanswered.
    pub(super) async fn give_up(&mut self, id: CallId) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        c.give_up_at = None;
        c.gave_up = true;
        match c.direction {
            // RFC 3261 21.4.18: the callee is not available right now.
            Direction::Incoming => {
                let c = &self.calls[&id];
                let r = msg::response_to(&c.invite, 480, None, Some(&c.local_tag));
                if let Some(k) = &c.invite_key {
                    self.endpoint.respond(k, r);
                }
                self.end_call(id, 480, UNANSWERED).await
            }
            Direction::Outgoing => self.hangup(id).await,
        }
    }

    /// Where a call's in-dialog requests go (RFC 3261 12.2.1.1): the dialog's next hop, from
    /// the route set or the remote target, else the peer the INVITE was exchanged with.
    pub(super) async fn dialog_peer(&self, id: CallId) -> Option<Peer> {
        let c = self.calls.get(&id)?;
        match &c.dialog {
            Some(d) => self.hop(d, c.invite_peer).await,
            None => c.invite_peer,
        }
    }

    /// Where a dialog's requests go: its next hop, else `fallback` when that does not resolve.
    pub(super) async fn hop(&self, d: &Dialog, fallback: Option<Peer>) -> Option<Peer> {
        match d.next_hop() {
            Some(h) => self.locator.resolve(&h).await.ok().or(fallback),
            None => fallback,
        }
    }

    /// ACKs a 2xx: to our INVITE, or with `cseq`, to a re-INVITE.
    pub(super) async fn send_ack(&mut self, id: CallId, cseq: Option<u32>) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(d) = c.dialog.as_mut() else { return };
        let cseq = cseq.unwrap_or(c.invite.cseq().0);
        // An ACK needs no Contact; and as callee, the INVITE's Contact is theirs, not ours.
        let mut ack = d.request(Method::Ack, Some(cseq), "");
        msg::remove(&mut ack.headers, "Contact");
        for name in ["Authorization", "Proxy-Authorization"] {
            if let Some(v) = c.invite.header(name) {
                msg::push(&mut ack.headers, name, v);
            }
        }
        if let Some(p) = self.dialog_peer(id).await {
            self.endpoint.send_stateless(ack, p);
        }
    }

    pub(super) async fn incoming_invite(&mut self, inc: Incoming, reached: Reached) {
        let req = &inc.request;
        let account = reached.account();
        let caller = self.caller(&inc, reached);
        let ctype = req.header("Content-Type").unwrap_or_default();
        if !req.body.is_empty() && !ctype.to_ascii_lowercase().starts_with("application/sdp") {
            let mut r = self.reply_for(req, 415);
            msg::push(&mut r.headers, "Accept", "application/sdp");
            return self.respond(&inc, r);
        }
        if let Some(r) = self.too_brief(req) {
            return self.respond(&inc, r);
        }
        if let Some(unknown) = req.header("Require").filter(|r| !requires_only_timer(r)) {
            let mut r = self.reply_for(req, 420);
            msg::push(&mut r.headers, "Unsupported", unknown);
            return self.respond(&inc, r);
        }
        // Media goes where the offer's audio is, which may be the other address family than
        // the signalling (an IPv4 caller through a server we reach over IPv6).
        let toward = offered_audio(&req.body).unwrap_or(inc.source.addr);
        let local_ip = self.endpoint.contact_addr(toward).ip();
        let user = self.accounts[&account].user();
        let mut reserved = reserve_media(local_ip, &user);
        reserved.0.codecs = self.config.codec_names();
        match self.protect(account, inc.source.proto, &mut reserved.0) {
            Ok(()) => {}
            Err(why) => {
                tracing::info!("refusing call: {why}");
                return self.respond(&inc, self.not_encrypted(req, local_ip));
            }
        };
        let ice = offered_ice(&req.body);
        let relay = self.reflect(account, &mut reserved, ice).await;
        let msrp_relay = self.relay_msrp(account, &mut reserved).await;
        reserved.0.connect_out = relay.is_some() || self.accounts[&account].public.is_some();
        let peer = caller.address.clone();
        let mut purpose = Purpose::Voice;
        if !req.body.is_empty() {
            let offer = match std::str::from_utf8(&req.body).ok().map(Session::parse) {
                Some(Ok(s)) => s,
                _ => {
                    return self.respond(
                        &inc,
                        msg::response_to(req, 400, Some("Bad SDP"), Some(&msg::new_tag())),
                    )
                }
            };
            match sdp::answer(&offer, &reserved.0, 1, false) {
                Err(e @ sdp::SdpError::NotEncrypted(_)) => {
                    tracing::info!("refusing call: {e}");
                    let mut r = self.not_encrypted(req, local_ip);
                    if sdp::wants_zrtp(&offer) {
                        // Linphone set to ZRTP: both people are told why, in words.
                        let w = format!(
                            "399 {local_ip} \"ZRTP is not supported here; SRTP (SDES or DTLS) is\""
                        );
                        msg::set(&mut r.headers, "Warning", w);
                        let message = format!("A call from {peer} was refused: it asked for ZRTP encryption, which Parley does not have");
                        self.emit(Event::Error { message }).await;
                    }
                    return self.respond(&inc, r);
                }
                Err(e) => {
                    tracing::info!("refusing call: {e}");
                    return self.respond(&inc, self.reply_for(req, 488));
                }
                Ok((_, neg)) => purpose = self.purpose_of(&neg, &peer),
            }
        }
        if let Purpose::ReceiveFile { file, .. } = &purpose {
            if file.size > self.config.max_file_size {
                let mut r = self.reply_for(req, 488);
                let warning = format!("399 {} \"File larger than this user takes\"", local_ip);
                msg::push(&mut r.headers, "Warning", warning);
                return self.respond(&inc, r);
            }
        }
        if purpose.is_voice() && self.active_calls() > 0 && !self.config.call_waiting {
            return self.respond(&inc, self.reply_for(req, 486));
        }
        let local_tag = msg::new_tag();
        let id = self.mint();
        let db_id = match purpose.is_voice() {
            true => {
                let (cid, verified) = (req.call_id(), caller.verified);
                self.record_start(account, &cid, Direction::Incoming, &peer, verified)
                    .await
            }
            false => None,
        };
        let mut dialog = Dialog::uas(req, &local_tag);
        dialog.local = {
            let to = req.header("To").unwrap_or_default();
            format!("{to};tag={local_tag}")
        };
        let contact = self.contact(&user, inc.source);
        let mut ringing = msg::response_to(req, 180, None, Some(&local_tag));
        msg::push(&mut ringing.headers, "Contact", contact);
        for rr in msg::get_all(&req.headers, "Record-Route") {
            msg::push(&mut ringing.headers, "Record-Route", rr);
        }
        self.respond(&inc, ringing);
        let mut call = Call::new(
            account,
            Direction::Incoming,
            CallState::Incoming,
            peer.clone(),
            inc.request,
            reserved,
        );
        call.invite_key = inc.key;
        call.invite_peer = Some(inc.source);
        call.relay = relay;
        call.msrp_relay = msrp_relay;
        call.dialog = Some(dialog);
        call.local_tag = local_tag;
        call.db_id = db_id;
        // Unanswered calls end by themselves, as a missed call, instead of ringing forever.
        call.give_up_at = Some(Instant::now() + self.config.ring_timeout);
        call.purpose = purpose;
        call.caller = Some(caller.clone());
        let voice = call.purpose.is_voice();
        self.calls.insert(id, call);
        if !voice {
            return self.offered_session(id).await;
        }
        self.emit(Event::IncomingCall {
            call: id,
            account,
            from: peer,
            display_name: caller.display_name,
            verified: caller.verified,
        })
        .await;
        self.call_event(id, Some(180), Some("Ringing".into())).await;
    }

    /// What an offer is for: voice, a file for us (RFC 5547), or chat alone.
    fn purpose_of(&self, neg: &sdp::Negotiated, peer: &str) -> Purpose {
        match (&neg.audio, &neg.message_use) {
            (None, Some(sdp::file::MessageUse::Receive(file))) => Purpose::ReceiveFile {
                temp: transfer::partial_path(&self.config.partial_dir(), file, peer),
                file: file.clone(),
            },
            (None, Some(sdp::file::MessageUse::Chat)) => Purpose::Chat,
            _ => Purpose::Voice,
        }
    }

    /// Our SDP for a call: the answer to its offer, or an offer when the INVITE had none
    /// (a re-offer from the session so far once there is one). A hold of ours stays in both.
    pub(super) fn local_sdp(c: &mut Call, offer: Option<&[u8]>) -> Option<String> {
        let version = c.local_sdp.as_ref().map_or(1, |s| s.version + 1);
        let ours = match offer.filter(|b| !b.is_empty()) {
            Some(body) => {
                let offer = Session::parse(std::str::from_utf8(body).ok()?).ok()?;
                let (ans, neg) = sdp::answer(&offer, &c.media, version, c.local_hold).ok()?;
                tracing::info!(?neg, "media negotiated");
                c.negotiated = Some(neg);
                ans
            }
            None => match &c.local_sdp {
                Some(prev) => sdp::reoffer(prev, &c.media, c.local_hold),
                None => sdp::offer(&c.media, version, c.local_hold),
            },
        };
        let text = ours.to_string();
        c.local_sdp = Some(ours);
        Some(text)
    }

    pub(super) async fn answer(&mut self, id: CallId) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.state != CallState::Incoming {
            return;
        }
        if let Purpose::ReceiveFile { file, temp } = &c.purpose {
            c.media.resume_from = transfer::resume_point(temp, file.size);
        }
        let body = c.invite.body.clone();
        let Some(sdp) = Self::local_sdp(c, Some(&body)) else {
            return self.decline_with(id, 488).await;
        };
        let c = self.calls.get_mut(&id).unwrap();
        let mut ok = msg::response_to(&c.invite, 200, None, Some(&c.local_tag));
        let user = c
            .invite
            .to_addr()
            .and_then(|a| SipUri::parse(&a.uri).ok())
            .and_then(|u| u.user)
            .unwrap_or_default();
        let src = c.invite_peer;
        for rr in msg::get_all(&c.invite.headers, "Record-Route") {
            msg::push(&mut ok.headers, "Record-Route", rr);
        }
        msg::push(&mut ok.headers, "Allow", super::ALLOW);
        msg::push(&mut ok.headers, "Content-Type", "application/sdp");
        ok.body = sdp.into_bytes();
        c.state = CallState::Connecting;
        c.give_up_at = None;
        c.answer_in_ack = body.is_empty();
        let key = c.invite_key.clone();
        if let Some(src) = src {
            let contact = self.contact(&user, src);
            msg::push(&mut ok.headers, "Contact", contact);
        }
        if self.calls.get(&id).is_some_and(|c| c.purpose.is_voice()) {
            self.grant_session_timer(id, &mut ok, Instant::now());
        }
        if let Some(k) = key {
            self.endpoint.respond_until_ack(&k, ok);
        }
        self.call_event(id, Some(200), Some("OK".into())).await;
    }

    async fn decline_with(&mut self, id: CallId, code: u16) {
        let Some(c) = self.calls.get(&id) else { return };
        if c.state != CallState::Incoming {
            return;
        }
        let r = msg::response_to(&c.invite, code, None, Some(&c.local_tag));
        if let Some(k) = &c.invite_key {
            self.endpoint.respond(k, r);
        }
        self.end_call(id, code, msg::default_reason(code)).await;
    }

    pub(super) async fn decline(&mut self, id: CallId) {
        self.decline_with(id, 603).await;
    }

    pub(super) async fn hangup(&mut self, id: CallId) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        match (c.direction, c.state) {
            (Direction::Incoming, CallState::Incoming) => self.decline_with(id, 603).await,
            (
                Direction::Outgoing,
                CallState::Dialing | CallState::Trying | CallState::Ringing | CallState::Progress,
            ) => {
                c.hangup_wanted = true;
                if let Some(k) = &c.invite_key {
                    // The endpoint holds the CANCEL until a provisional response arrives.
                    self.endpoint.cancel(k);
                }
            }
            // RFC 3261 15: the callee may not send BYE before the ACK (or its timeout).
            (Direction::Incoming, CallState::Connecting) => c.hangup_wanted = true,
            (_, CallState::Connected | CallState::Connecting) => self.send_bye(id).await,
            _ => {}
        }
    }

    /// A BYE in the call's dialog, with the next CSeq.
    pub(super) fn new_bye(c: &mut Call) -> Option<Request> {
        let contact = match c.direction {
            Direction::Outgoing => c.invite.header("Contact").unwrap_or_default(),
            Direction::Incoming => String::new(),
        };
        let mut bye = c.dialog.as_mut()?.request(Method::Bye, None, &contact);
        if contact.is_empty() {
            msg::remove(&mut bye.headers, "Contact");
        }
        msg::push(&mut bye.headers, "User-Agent", super::USER_AGENT);
        Some(bye)
    }

    async fn send_bye(&mut self, id: CallId) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(bye) = Self::new_bye(c) else { return };
        c.state = CallState::Ending;
        match self.dialog_peer(id).await {
            Some(p) => {
                self.send(Ctx::Bye(id), bye, p);
                self.call_event(id, None, None).await;
            }
            None => self.end_call(id, 200, "OK").await,
        }
    }

    pub(super) async fn bye_response(&mut self, id: CallId, resp: Response) {
        let code = msg::code_of(&resp);
        if code < 200 {
            return;
        }
        if code == 401 || code == 407 {
            // Digest on BYE: answer the challenge once with the same dialog.
            let Some(c) = self.calls.get_mut(&id) else {
                return;
            };
            let account = c.account;
            let Some(mut bye) = Self::new_bye(c) else {
                return;
            };
            let ok = self
                .accounts
                .get_mut(&account)
                .is_some_and(|a| a.authorize(&mut bye, &resp));
            if ok {
                if let Some(p) = self.dialog_peer(id).await {
                    self.send(Ctx::Bye(id), bye, p);
                    return;
                }
            }
        }
        // Whatever the answer (200, 481, timeout), the call is over for us.
        self.end_call(id, 200, "OK").await;
    }

    pub(super) fn find_by_dialog(&self, req: &Request) -> Option<CallId> {
        self.calls
            .iter()
            .find(|(_, c)| c.dialog.as_ref().is_some_and(|d| d.matches(req)))
            .map(|(id, _)| *id)
    }

    pub(super) async fn incoming_ack(&mut self, inc: Incoming) {
        let Some(id) = self.find_by_dialog(&inc.request) else {
            return;
        };
        let c = self.calls.get_mut(&id).unwrap();
        let answered_here = std::mem::take(&mut c.answer_in_ack);
        if answered_here && !self.take_ack_answer(id, &inc.request.body) {
            return self.unanswered_offer(id).await;
        }
        let c = self.calls.get_mut(&id).unwrap();
        if c.reinvite_unacked && c.state == CallState::Connected {
            // The other side's re-INVITE is complete: a hold change of ours may go now.
            c.reinvite_unacked = false;
            if answered_here {
                // It asked for our offer: the answer may move the running media.
                self.start_media(id).await;
            }
            return self.offer_hold(id).await;
        }
        if c.state == CallState::Connecting {
            c.state = CallState::Connected;
            c.answered = Some(Instant::now());
            let (row, hangup) = (c.db_id, c.hangup_wanted);
            self.record_answer(row).await;
            self.start_media(id).await;
            self.call_event(id, None, None).await;
            match hangup {
                true => self.send_bye(id).await,
                // A hold asked for while the call was still connecting goes now.
                false => self.offer_hold(id).await,
            }
        }
    }

    /// Reads the answer in the ACK to the offer our 2xx made (RFC 3261 13.3.1.4, RFC 6337
    /// 2.1: trunks, SBCs and PBX transfers offer late). False when there is none we can use.
    fn take_ack_answer(&mut self, id: CallId, body: &[u8]) -> bool {
        let Some(c) = self.calls.get_mut(&id) else {
            return false;
        };
        let answer = std::str::from_utf8(body).ok().map(Session::parse);
        let Some(Ok(answer)) = answer else {
            return false;
        };
        let neg = sdp::accept_answer(
            &answer,
            c.local_hold,
            c.media.sdes.as_ref(),
            c.media.dtls.as_ref(),
        );
        tracing::info!(?neg, "call {id} media negotiated from the ACK");
        let usable = neg.audio.is_some() || neg.msrp.is_some();
        c.negotiated = Some(neg);
        usable && self.encryption_holds(id)
    }

    /// An ACK without a usable answer to our offer: the call cannot have media, so it is ended
    /// with BYE (RFC 3261 13.3.1.4) and the user told why.
    async fn unanswered_offer(&mut self, id: CallId) {
        if let Some(bye) = self.calls.get_mut(&id).and_then(Self::new_bye) {
            if let Some(p) = self.dialog_peer(id).await {
                self.send(Ctx::Orphan, bye, p);
            }
        }
        self.end_call(id, 488, reason::NO_MEDIA_ANSWER).await;
    }

    pub(super) async fn incoming_bye(&mut self, inc: Incoming) {
        let Some(id) = self.find_by_dialog(&inc.request) else {
            return self.respond(&inc, self.reply_for(&inc.request, 481));
        };
        let r = msg::response_to(&inc.request, 200, None, None);
        self.respond(&inc, r);
        let c = &self.calls[&id];
        if c.state == CallState::Incoming {
            // A BYE on the early dialog (RFC 3261 15): the caller gave up, the INVITE ends.
            let r = msg::response_to(&c.invite, 487, None, Some(&c.local_tag));
            if let Some(k) = &c.invite_key {
                self.endpoint.respond(k, r);
            }
            return self.end_call(id, 487, "Request Terminated").await;
        }
        // The call ended normally from the other side.
        self.end_call(id, 200, "Remote hung up").await;
    }

    pub(super) async fn incoming_cancel(&mut self, inc: Incoming) {
        let target = inc.cancels.clone().and_then(|k| {
            self.calls
                .iter()
                .find(|(_, c)| {
                    c.direction == Direction::Incoming && c.invite_key.as_ref() == Some(&k)
                })
                .map(|(id, _)| *id)
        });
        let Some(id) = target else {
            return self.respond(&inc, self.reply_for(&inc.request, 481));
        };
        // The 200 carries the tag of the dialog the INVITE's responses use (RFC 3261 9.2).
        let tag = self.calls[&id].local_tag.clone();
        self.respond(&inc, msg::response_to(&inc.request, 200, None, Some(&tag)));
        // RFC 3326: a CANCEL because another of our devices answered is not a missed call.
        let elsewhere = inc.request.header("Reason").is_some_and(|r| {
            r.replace(' ', "")
                .to_ascii_lowercase()
                .contains("cause=200")
        });
        let c = &self.calls[&id];
        if c.state == CallState::Incoming {
            let r = msg::response_to(&c.invite, 487, None, Some(&c.local_tag));
            if let Some(k) = &c.invite_key {
                self.endpoint.respond(k, r);
            }
            match elsewhere {
                true => self.end_call(id, 200, "Answered elsewhere").await,
                false => self.end_call(id, 487, "Request Terminated").await,
            }
        }
    }

    pub(super) async fn ack_timeout(&mut self, call_id: &str) {
        let id = self
            .calls
            .iter()
            .find(|(_, c)| {
                (c.state == CallState::Connecting || c.reinvite_unacked)
                    && c.invite.call_id() == call_id
            })
            .map(|(id, _)| *id);
        if let Some(id) = id {
            self.send_bye(id).await;
            self.end_call(id, 408, reason::NO_ACK).await;
        }
    }
}

/// A Require we can meet: session timers only (RFC 4028).
fn requires_only_timer(require: &str) -> bool {
    require
        .split(',')
        .all(|o| o.trim().eq_ignore_ascii_case("timer"))
}
