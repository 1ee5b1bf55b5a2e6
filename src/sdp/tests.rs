use super::*;

fn local(port: u16) -> LocalMedia {
    LocalMedia {
        user: "bob".into(),
        session_id: 4242,
        address: "192.168.1.200".parse().unwrap(),
        rtp_port: port,
        msrp_path: Some("msrp://192.168.1.200:6006/b0b;tcp".into()),
        accept_types: "text/plain message/cpim *".into(),
        codecs: Vec::new(),
        file: None,
        resume_from: 1,
        connect_out: false,
        ice: None,
        msrp_relayed: false,
        relay_tls: None,
        sdes: None,
        dtls: None,
    }
}

fn ip(s: &str) -> Address {
    Address::Ip(s.parse().unwrap())
}

/// The seed's offer: PCMU and PCMA audio plus an MSRP stream.
const SEED_OFFER: &str = "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.168.1.100\r\ns=-\r\nc=IN IP4 192.168.1.100\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0 8\r\nm=message 5006 TCP/MSRP *\r\na=accept-types:text/plain\r\na=path:msrp://192.168.1.100:5006\r\n";

#[test]
fn answers_the_seed_offer() {
    let offer = Session::parse(SEED_OFFER).unwrap();
    let (ans, neg) = answer(&offer, &local(6004), 1, false).unwrap();
    let audio = neg.audio.unwrap();
    assert_eq!((audio.remote, audio.port), (ip("192.168.1.100"), 5004));
    assert_eq!((audio.payload_type, audio.codec.as_str()), (0, "PCMU"));
    // Alice may send either (RFC 3264 6.1): both are kept for the media to decode.
    assert_eq!(audio.formats, [(0, "PCMU".into()), (8, "PCMA".into())]);
    assert_eq!(audio.rtcp, Some((ip("192.168.1.100"), 5005)));
    assert_eq!(audio.direction, "sendrecv");
    assert_eq!(neg.msrp, Some(("msrp://192.168.1.100:5006".into(), false)));
    let text = ans.to_string();
    assert!(
        text.contains("o=bob 4242 1 IN IP4 192.168.1.200\r\n"),
        "{text}"
    );
    assert!(text.contains("m=audio 6004 RTP/AVP 0 8\r\n"), "{text}");
    assert!(text.contains("m=message 6006 TCP/MSRP *\r\n"));
    assert!(text.contains("a=setup:passive"));
    let back = accept_answer(&Session::parse(&text).unwrap(), false, None, None);
    assert_eq!(back.audio.unwrap().port, 6004);
    assert_eq!(
        back.msrp,
        Some(("msrp://192.168.1.200:6006/b0b;tcp".into(), true))
    );
}

#[test]
fn our_offer_round_trips_and_prefers_opus() {
    let o = offer(&local(4000), 7, false);
    let parsed = Session::parse(&o.to_string()).unwrap();
    let mut expected = o.clone();
    for m in &mut expected.media {
        m.connection = expected.connection.clone();
    }
    assert_eq!(parsed, expected);
    assert_eq!(parsed.media[0].formats, vec!["111", "0", "8", "101", "102"]);
    let (_, neg) = answer(&parsed, &local(5000), 1, false).unwrap();
    let audio = neg.audio.unwrap();
    assert_eq!((audio.codec.as_str(), audio.clock_rate), ("opus", 48000));
    // Keys at Opus's own clock.
    assert_eq!(audio.telephone_event, Some(102));
    // Offered PCMU only, keys at 8 kHz.
    let mut pcmu = local(4000);
    pcmu.codecs = vec!["PCMU".into()];
    let (_, neg) = answer(
        &Session::parse(&offer(&pcmu, 1, false).to_string()).unwrap(),
        &local(5000),
        1,
        false,
    )
    .unwrap();
    assert_eq!(neg.audio.unwrap().telephone_event, Some(101));
}

#[test]
fn hold_offer_is_answered_recvonly_and_our_hold_survives_their_offer() {
    let hold = offer(&local(4000), 2, true);
    assert_eq!(audio_direction(&hold), "sendonly");
    let parsed = Session::parse(&hold.to_string()).unwrap();
    let (ans, neg) = answer(&parsed, &local(5000), 2, false).unwrap();
    assert_eq!(audio_direction(&ans), "recvonly");
    assert_eq!(neg.audio.unwrap().direction, "recvonly");
    // We hold; their new sendrecv offer is answered sendonly, not sendrecv.
    let theirs = Session::parse(SEED_OFFER).unwrap();
    let (ans, _) = answer(&theirs, &local(5000), 3, true).unwrap();
    assert_eq!(audio_direction(&ans), "sendonly");
    let (ans, _) = answer(&parsed, &local(5000), 4, true).unwrap();
    assert_eq!(audio_direction(&ans), "inactive");
    let old_style = SEED_OFFER.replace("c=IN IP4 192.168.1.100", "c=IN IP4 0.0.0.0");
    assert_eq!(
        audio_direction(&Session::parse(&old_style).unwrap()),
        "inactive"
    );
}

#[test]
fn session_level_sendonly_is_a_hold_and_b_lines_are_kept() {
    let text = "v=0\r\no=pbx 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nb=AS:84\r\nt=0 0\r\na=sendonly\r\nm=audio 5004 RTP/AVP 0\r\nb=TIAS:64000\r\n";
    let s = Session::parse(text).unwrap();
    assert_eq!(audio_direction(&s), "sendonly");
    assert_eq!(s.bandwidth, ["AS:84"]);
    assert_eq!(s.media[0].bandwidth, ["TIAS:64000"]);
    let printed = s.to_string();
    assert!(printed.contains("b=AS:84\r\n") && printed.contains("b=TIAS:64000\r\n"));
    assert!(printed.contains("a=sendonly\r\n"));
    assert_eq!(Session::parse(&printed).unwrap(), s);
    let (ans, _) = answer(&s, &local(6000), 1, false).unwrap();
    assert_eq!(audio_direction(&ans), "recvonly");
}

#[test]
fn host_names_in_origin_and_connection() {
    let text = "v=0\r\no=- 7 7 IN IP4 pbx.example.com\r\ns=-\r\nc=IN IP4 media.example.com\r\nt=0 0\r\nm=audio 5004 RTP/AVP 8\r\n";
    let s = Session::parse(text).unwrap();
    assert_eq!(s.address, Address::Name("pbx.example.com".into()));
    let (_, neg) = answer(&s, &local(6000), 1, false).unwrap();
    let audio = neg.audio.unwrap();
    assert_eq!(audio.remote, Address::Name("media.example.com".into()));
    assert_eq!(audio.codec, "PCMA");
    assert!(Session::parse(&text.replace("pbx.example.com", "bad host!")).is_err());
}

#[test]
fn ipv6_connection_addresses() {
    let text =
        "v=0\r\no=- 7 7 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n";
    let s = Session::parse(text).unwrap();
    let (_, neg) = answer(&s, &local(6000), 1, false).unwrap();
    assert_eq!(neg.audio.unwrap().remote, ip("::1"));
    let mut l = local(6000);
    l.address = "::1".parse().unwrap();
    let o = offer(&l, 1, false).to_string();
    assert!(
        o.contains("o=bob 4242 1 IN IP6 ::1\r\n") && o.contains("c=IN IP6 ::1\r\n"),
        "{o}"
    );
}

#[test]
fn srtp_lines_we_cannot_use_get_port_zero_and_fail_the_call_alone() {
    let both = "v=0\r\no=x 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:abc\r\nm=audio 5006 RTP/AVP 0\r\n";
    let (ans, neg) = answer(&Session::parse(both).unwrap(), &local(6000), 1, false).unwrap();
    assert_eq!(
        (ans.media[0].port, ans.media[0].proto.as_str()),
        (0, "RTP/SAVP")
    );
    assert_eq!(ans.media[1].port, 6000);
    assert_eq!(neg.audio.unwrap().port, 5006);
    // Only audio we cannot decrypt: the call is refused, never taken without its audio.
    let only = "v=0\r\no=x 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/SAVPF 0\r\n";
    let refused = answer(&Session::parse(only).unwrap(), &local(6000), 1, false);
    assert!(
        matches!(refused, Err(SdpError::NotEncrypted(_))),
        "{refused:?}"
    );
}

#[test]
fn rtcp_and_rtcp_mux() {
    let text = "v=0\r\no=x 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\na=rtcp:6001 IN IP4 10.0.0.9\r\n";
    let (_, neg) = answer(&Session::parse(text).unwrap(), &local(6000), 1, false).unwrap();
    assert_eq!(neg.audio.unwrap().rtcp, Some((ip("10.0.0.9"), 6001)));
    let mux = text.replace("a=rtcp:6001 IN IP4 10.0.0.9", "a=rtcp-mux");
    let (ans, neg) = answer(&Session::parse(&mux).unwrap(), &local(6000), 1, false).unwrap();
    let audio = neg.audio.unwrap();
    assert!(audio.rtcp_mux && audio.rtcp.is_none());
    assert!(ans.media[0].has("rtcp-mux"));
}

#[test]
fn an_avpf_offer_is_answered_as_avpf() {
    let text = "v=0\r\no=x 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/AVPF 0\r\n";
    let (ans, neg) = answer(&Session::parse(text).unwrap(), &local(6000), 1, false).unwrap();
    assert_eq!(ans.media[0].proto, "RTP/AVPF");
    assert_eq!(neg.audio.unwrap().port, 5004);
}

#[test]
fn reoffers_keep_the_lines_the_session_id_and_count_versions() {
    // They offered video, audio and MSRP; we answered video with port 0.
    let text = "v=0\r\no=x 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 31\r\nm=audio 5004 RTP/AVP 0\r\nm=message 5006 TCP/MSRP *\r\na=path:msrp://10.0.0.1:5006/x;tcp\r\n";
    let (ans, _) = answer(&Session::parse(text).unwrap(), &local(6000), 1, false).unwrap();
    let hold = reoffer(&ans, &local(6000), true);
    let kinds: Vec<_> = hold
        .media
        .iter()
        .map(|m| (m.kind.as_str(), m.port))
        .collect();
    assert_eq!(kinds, [("video", 0), ("audio", 6000), ("message", 6006)]);
    assert_eq!((hold.session_id, hold.version), (4242, 2));
    assert_eq!(audio_direction(&hold), "sendonly");
    assert_eq!(hold.media[2].attr("setup"), Some("passive"));
    // The MSRP line is kept, so is its connection (RFC 6714).
    assert_eq!(hold.media[2].attr("connection"), Some("existing"));
    let resume = reoffer(&hold, &local(6000), false);
    assert_eq!((resume.session_id, resume.version), (4242, 3));
    assert_eq!(audio_direction(&resume), "sendrecv");
}

#[test]
fn unsupported_streams_get_port_zero_and_no_codec_is_488() {
    let text = "v=0\r\no=x 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\nm=video 5006 RTP/AVP 31\r\n";
    let (ans, _) = answer(&Session::parse(text).unwrap(), &local(1), 1, false).unwrap();
    assert_eq!(ans.media[1].port, 0);
    assert_eq!(ans.media[1].kind, "video");
    let g729 = "v=0\r\no=x 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 18\r\n";
    assert!(matches!(
        answer(&Session::parse(g729).unwrap(), &local(1), 1, false),
        Err(SdpError::NotAcceptable(_))
    ));
    assert!(Session::parse("garbage").is_err());
}

#[test]
fn a_codec_choice_limits_offers_and_answers() {
    let mut pcmu_only = local(4000);
    pcmu_only.codecs = vec!["PCMU".into()];
    let o = offer(&pcmu_only, 1, false);
    assert_eq!(o.media[0].formats, vec!["0", "101"]);
    let theirs = offer(&local(5000), 1, false);
    let (ans, neg) = answer(&theirs, &pcmu_only, 1, false).unwrap();
    assert_eq!(ans.media[0].formats, vec!["0", "101"]);
    assert_eq!(neg.audio.unwrap().codec, "PCMU");
}

#[test]
fn a_file_offer_has_one_message_line_and_is_answered_recvonly_with_a_range() {
    use crate::sdp::file::{FileSelector, MessageUse};
    let mut alice = local(0);
    alice.msrp_path = Some("msrp://192.168.1.100:7000/a1;tcp".into());
    let file = FileSelector {
        name: "report.pdf".into(),
        content_type: "application/pdf".into(),
        size: 1000,
        sha1: Some("72245fe8653ddaf371362f86d471913ee4a2ce2e".into()),
    };
    alice.file = Some((file.clone(), "t1".into()));
    let offer = message_offer(&alice);
    assert_eq!(offer.media.len(), 1);
    let m = &offer.media[0];
    assert!(m.has("sendonly"));
    assert_eq!(m.attr("connection"), Some("new"));
    let parsed = Session::parse(&offer.to_string()).unwrap();
    let mut bob = local(0);
    bob.resume_from = 401;
    let (ans, neg) = answer(&parsed, &bob, 1, false).unwrap();
    assert_eq!(neg.message_use, Some(MessageUse::Receive(file)));
    assert!(neg.audio.is_none());
    let am = &ans.media[0];
    assert!(am.has("recvonly"));
    assert_eq!(am.attr("file-range"), Some("401-1000"));
    assert_eq!(am.attr("file-transfer-id"), Some("t1"));
    let back = accept_answer(
        &Session::parse(&ans.to_string()).unwrap(),
        false,
        None,
        None,
    );
    assert_eq!(back.file_from, Some(401));
}

#[test]
fn our_offers_ask_for_rtcp_mux_and_a_muxed_answer_drops_the_rtcp_port() {
    let offer = offer(&local(6000), 1, false);
    assert!(offer.media[0].has("rtcp-mux"), "{offer}");
    let muxed = "v=0\r\no=b 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\na=rtcp-mux\r\n";
    let neg = accept_answer(&Session::parse(muxed).unwrap(), false, None, None);
    let audio = neg.audio.unwrap();
    assert!(audio.rtcp_mux && audio.rtcp.is_none());
    let plain = muxed.replace("a=rtcp-mux\r\n", "");
    let audio = accept_answer(&Session::parse(&plain).unwrap(), false, None, None)
        .audio
        .unwrap();
    assert!(!audio.rtcp_mux);
}

#[test]
fn behind_a_nat_we_take_the_active_part_when_the_offer_lets_us_choose() {
    let offer_text = |setup: &str| {
        format!("v=0\r\no=a 1 1 IN IP4 203.0.113.1\r\ns=-\r\nc=IN IP4 203.0.113.1\r\nt=0 0\r\nm=message 7000 TCP/MSRP *\r\na=accept-types:text/plain\r\na=path:msrp://203.0.113.1:7000/a1;tcp\r\na=setup:{setup}\r\n")
    };
    let natted = LocalMedia {
        connect_out: true,
        ice: None,
        msrp_relayed: false,
        relay_tls: None,
        ..local(6000)
    };
    for (setup, nat, connect) in [
        ("actpass", true, true),
        ("actpass", false, false),
        ("active", true, false),
        ("passive", false, true),
    ] {
        let offer = Session::parse(&offer_text(setup)).unwrap();
        let ours = if nat { natted.clone() } else { local(6000) };
        let (answer, neg) = answer(&offer, &ours, 1, false).unwrap();
        assert_eq!(neg.msrp.unwrap().1, connect, "{setup} behind a NAT: {nat}");
        let want = if connect { "active" } else { "passive" };
        assert_eq!(answer.media[0].attr("setup"), Some(want));
    }
}

fn with_dtls(port: u16, fingerprint: u8, mandatory: bool) -> LocalMedia {
    LocalMedia {
        dtls: Some(dtls::DtlsLocal::new(
            crate::tls::Fingerprint([fingerprint; 32]),
            mandatory,
        )),
        ..local(port)
    }
}

fn with_sdes(port: u16, mandatory: bool) -> LocalMedia {
    LocalMedia {
        sdes: Some(Sdes {
            keys: crypto::Suite::ALL
                .into_iter()
                .map(crypto::MasterKey::random)
                .collect(),
            mandatory,
        }),
        ..local(port)
    }
}

#[test]
fn mandatory_dtls_srtp_is_offered_as_udp_tls_and_the_answerer_starts_the_handshake() {
    let (alice, bob) = (with_dtls(4000, 1, true), with_dtls(6000, 2, true));
    let o = offer(&alice, 1, false).to_string();
    assert!(o.contains("m=audio 4000 UDP/TLS/RTP/SAVP "), "{o}");
    assert!(o.contains("a=fingerprint:sha-256 01:01:"), "{o}");
    assert!(o.contains("a=setup:actpass"), "{o}");
    let (ans, neg) = answer(&Session::parse(&o).unwrap(), &bob, 1, false).unwrap();
    let theirs = neg.audio.unwrap().dtls.unwrap();
    assert_eq!(theirs.theirs, crate::tls::Fingerprint([1; 32]));
    assert!(theirs.active, "the answerer is active (RFC 5763 5)");
    let a = ans.to_string();
    assert!(a.contains("m=audio 6000 UDP/TLS/RTP/SAVP "), "{a}");
    assert!(a.contains("a=setup:active") && a.contains("a=fingerprint:sha-256 02:02:"));
    let back = accept_answer(
        &Session::parse(&a).unwrap(),
        false,
        None,
        alice.dtls.as_ref(),
    );
    let ours = back.audio.unwrap().dtls.unwrap();
    assert_eq!(ours.theirs, crate::tls::Fingerprint([2; 32]));
    assert!(
        !ours.active,
        "the offerer waits for the answerer's handshake"
    );
}

#[test]
fn optional_offers_dtls_srtp_on_plain_audio_that_a_plain_peer_answers_plainly() {
    let alice = with_dtls(4000, 1, false);
    let o = offer(&alice, 1, false).to_string();
    assert!(o.contains("m=audio 4000 RTP/AVP "), "{o}");
    assert!(o.contains("a=setup:actpass"), "{o}");
    assert_eq!(o.matches("a=fingerprint:sha-256 01:01:").count(), 1, "{o}");
    let session_part = o.split("m=audio").next().unwrap();
    assert!(
        session_part.contains("a=fingerprint"),
        "once, for the session: {o}"
    );
    // MSRP has no opportunistic form: plain unless encryption is mandatory.
    assert!(o.contains("m=message 6006 TCP/MSRP"), "{o}");
    let offered = Session::parse(&o).unwrap();
    // A peer without DTLS answers plain audio, and the call goes on plain.
    let (plain, neg) = answer(&offered, &local(6000), 1, false).unwrap();
    assert!(!neg.audio.unwrap().encrypted());
    let back = accept_answer(&plain, false, None, alice.dtls.as_ref());
    assert!(!back.audio.unwrap().encrypted());
    // A peer with it answers with its fingerprint on the same plain profile (RFC 8643).
    let (ans, neg) = answer(&offered, &with_dtls(6000, 2, false), 1, false).unwrap();
    assert!(neg.audio.unwrap().dtls.unwrap().active);
    let a = ans.to_string();
    assert!(
        a.contains("m=audio 6000 RTP/AVP ") && a.contains("a=setup:active"),
        "{a}"
    );
    let back = accept_answer(
        &Session::parse(&a).unwrap(),
        false,
        None,
        alice.dtls.as_ref(),
    );
    let ours = back.audio.unwrap().dtls.unwrap();
    assert_eq!(
        (ours.theirs, ours.active),
        (crate::tls::Fingerprint([2; 32]), false)
    );
}

/// Our answer to a peer's offer with `fp` at session level (as baresip writes it, the hash's
/// name in capitals) and one PCMU audio line of `proto` with `attrs`.
fn answered_audio(
    fp: crate::tls::Fingerprint,
    proto: &str,
    attrs: &str,
    ours: &LocalMedia,
) -> Negotiated {
    let text = format!("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\na=fingerprint:SHA-256 {fp}\r\nm=audio 5004 {proto} 0\r\n{attrs}");
    answer(&Session::parse(&text).unwrap(), ours, 1, false)
        .unwrap()
        .1
}

#[test]
fn a_fingerprint_alone_on_a_plain_line_is_no_dtls_offer() {
    let fp = crate::tls::Fingerprint([7; 32]);
    let neg = answered_audio(fp, "RTP/AVP", "", &with_dtls(6000, 2, false));
    assert!(!neg.audio.unwrap().encrypted());
}

#[test]
fn optional_takes_offered_dtls_srtp_and_msrp_over_tls() {
    let secure = offer(&with_dtls(5000, 3, true), 1, false).to_string();
    let (ans, neg) = answer(
        &Session::parse(&secure).unwrap(),
        &with_dtls(6000, 2, false),
        1,
        false,
    )
    .unwrap();
    assert!(neg.audio.unwrap().encrypted());
    assert_eq!(neg.msrp_tls, Some(crate::tls::Fingerprint([3; 32])));
    assert!(ans.to_string().contains("a=path:msrps://"), "{ans}");
}

#[test]
fn a_handshake_made_keeps_its_roles_through_re_offers_both_ways() {
    // Alice offered, Bob answered active; later either re-offers (say, to hold).
    let mut alice = with_dtls(4000, 1, false);
    let mut bob = with_dtls(6000, 2, false);
    alice.dtls.as_mut().unwrap().role = Some(false);
    bob.dtls.as_mut().unwrap().role = Some(true);
    let prev = offer(&alice, 1, false);
    let again = reoffer(&prev, &alice, true).to_string();
    assert!(again.contains("a=setup:passive"), "{again}");
    let (_, neg) = answer(&Session::parse(&again).unwrap(), &bob, 2, false).unwrap();
    assert!(neg.audio.unwrap().dtls.unwrap().active, "Bob still starts");
    // Bob re-offers: his role is offered, and Alice stays passive.
    let bobs = reoffer(&offer(&bob, 1, false), &bob, true).to_string();
    assert!(bobs.contains("a=setup:active"), "{bobs}");
    let (_, neg) = answer(&Session::parse(&bobs).unwrap(), &alice, 2, false).unwrap();
    assert!(!neg.audio.unwrap().dtls.unwrap().active);
    // A peer that re-offers actpass leaves the role to us: kept too.
    let actpass = bobs.replace("a=setup:active", "a=setup:actpass");
    let (_, neg) = answer(&Session::parse(&actpass).unwrap(), &alice, 2, false).unwrap();
    let kept = neg.audio.unwrap().dtls.unwrap();
    assert!(!kept.active);
    // Each side names the association (RFC 8842); a side that starts afresh names a new one.
    let bob_id = bob.dtls.as_ref().unwrap().tls_id.clone();
    assert_eq!(kept.ids.1.as_deref(), Some(bob_id.as_str()));
    bob.dtls.as_mut().unwrap().tls_id = dtls::new_tls_id();
    let moved = reoffer(&offer(&bob, 1, false), &bob, false).to_string();
    let (_, neg) = answer(&Session::parse(&moved).unwrap(), &alice, 2, false).unwrap();
    assert_ne!(neg.audio.unwrap().dtls.unwrap().ids, kept.ids);
}

#[test]
fn dtls_we_cannot_do_and_plain_offers_to_a_mandatory_account_are_refused() {
    let o = offer(&with_dtls(4000, 1, true), 1, false).to_string();
    let refused = answer(&Session::parse(&o).unwrap(), &local(6000), 1, false);
    assert!(
        matches!(refused, Err(SdpError::NotEncrypted(_))),
        "{refused:?}"
    );
    let plain = offer(&local(4000), 1, false).to_string();
    let refused = answer(
        &Session::parse(&plain).unwrap(),
        &with_dtls(6000, 2, true),
        1,
        false,
    );
    assert!(
        matches!(refused, Err(SdpError::NotEncrypted(_))),
        "{refused:?}"
    );
    // Only SHA-256 fingerprints are taken.
    let sha1 = o.replace("a=fingerprint:sha-256", "a=fingerprint:sha-1");
    let refused = answer(
        &Session::parse(&sha1).unwrap(),
        &with_dtls(6000, 2, true),
        1,
        false,
    );
    assert!(
        matches!(refused, Err(SdpError::NotEncrypted(_))),
        "{refused:?}"
    );
}

#[test]
fn a_fingerprint_at_session_level_counts_for_the_audio() {
    // As baresip writes it: the fingerprint for the session, a=setup on the line.
    let fp = crate::tls::Fingerprint([7; 32]);
    let setup = "a=setup:actpass\r\n";
    let neg = answered_audio(fp, "UDP/TLS/RTP/SAVP", setup, &with_dtls(6000, 2, true));
    assert_eq!(neg.audio.unwrap().dtls.unwrap().theirs, fp);
}

#[test]
fn sdes_keys_are_offered_answered_for_one_suite_and_mirrored() {
    let (alice, bob) = (with_sdes(4000, true), with_sdes(6000, true));
    let o = offer(&alice, 1, false).to_string();
    assert!(o.contains("m=audio 4000 RTP/SAVP "), "{o}");
    assert_eq!(o.matches("a=crypto:").count(), 2, "{o}");
    let (ans, neg) = answer(&Session::parse(&o).unwrap(), &bob, 1, false).unwrap();
    let (alice_key, bob_key) = neg.audio.unwrap().srtp.unwrap();
    let a = ans.to_string();
    assert_eq!(
        a.matches("a=crypto:").count(),
        1,
        "one line answered (RFC 4568 5.1.2): {a}"
    );
    assert!(a.contains("m=audio 6000 RTP/SAVP "), "{a}");
    let back = accept_answer(
        &Session::parse(&a).unwrap(),
        false,
        alice.sdes.as_ref(),
        None,
    );
    let (theirs, ours) = back.audio.unwrap().srtp.unwrap();
    assert_eq!((theirs, ours), (bob_key, alice_key));
}

#[test]
fn with_sdes_keys_the_offer_carries_no_dtls_but_an_offered_fingerprint_is_preferred() {
    let both = LocalMedia {
        dtls: with_dtls(4000, 1, true).dtls,
        ..with_sdes(4000, true)
    };
    let o = offer(&both, 1, false).to_string();
    // (The session has a fingerprint: for MSRP over TLS.)
    let audio = o
        .split("m=audio")
        .nth(1)
        .unwrap()
        .split("m=message")
        .next()
        .unwrap();
    assert!(
        !audio.contains("setup") && audio.contains("RTP/SAVP"),
        "{o}"
    );
    assert!(
        o.contains("m=message 6006 TCP/TLS/MSRP *") && o.contains("a=path:msrps://"),
        "{o}"
    );
    // Offered both, we take DTLS: its keys are seen by no server on the way.
    let theirs = offer(&with_dtls(5000, 3, true), 1, false).to_string();
    let (_, neg) = answer(&Session::parse(&theirs).unwrap(), &both, 1, false).unwrap();
    let audio = neg.audio.unwrap();
    assert!(audio.dtls.is_some() && audio.srtp.is_none());
}
