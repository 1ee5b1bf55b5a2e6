//! A call in progress when the network changes (RFC 3264 8 re-offer): its audio moves to new
//! sockets on our new address, learned again behind a NAT (STUN or a new TURN relay), and a
//! re-INVITE tells the other side where we are now, instead of the call going silent.

use super::{AccountId, CallId, CallState, Core};

impl Core {
    /// Every connected voice call of `account` moves to the network we are on now.
    pub(super) async fn move_calls(&mut self, account: AccountId) {
        let ids: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.account == account && c.purpose.is_voice())
            .filter(|(_, c)| c.state == CallState::Connected)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.move_call(id).await;
        }
    }

    async fn move_call(&mut self, id: CallId) {
        let Some(c) = self.calls.get(&id) else { return };
        let Some(toward) = c.invite_peer else { return };
        let ip = self.endpoint.contact_addr(toward.addr).ip();
        let Some(pair) = super::call::reserve_rtp(ip) else {
            tracing::warn!("call {id}: no new media port on {ip}");
            return;
        };
        let account = c.account;
        let mut reserved = (c.media.clone(), Some(pair), None);
        reserved.0.address = ip;
        reserved.0.rtp_port = reserved
            .1
            .as_ref()
            .and_then(|(s, _)| s.local_addr().ok())
            .map_or(9, |a| a.port());
        // A new ufrag and password with the new candidates: an ICE restart (RFC 8445 9).
        let ice = c.media.ice.is_some();
        let relay = self.reflect(account, &mut reserved, ice).await;
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        tracing::info!(
            "call {id}: moving its audio to {}:{}",
            reserved.0.address,
            reserved.0.rtp_port
        );
        (c.media.address, c.media.rtp_port) = (reserved.0.address, reserved.0.rtp_port);
        c.media.ice = reserved.0.ice;
        // The new media session makes a new DTLS association, so the other side must too.
        if let Some(d) = c.media.dtls.as_mut() {
            d.tls_id = crate::sdp::dtls::new_tls_id();
        }
        c.rtp = reserved.1;
        c.relay = relay;
        // The old session's socket is on an address we no longer have; the re-INVITE's answer
        // starts a new one on the new socket.
        let old = c.media_session.take();
        c.reoffer_owed = true;
        if let Some(m) = old {
            m.stop().await;
        }
        // Now, or once a re-INVITE under way in either direction is done.
        self.refresh_session(id).await;
    }
}
