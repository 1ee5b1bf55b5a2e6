//! Stateful forwarding and forking (RFC 3261 16.5-16.7, RFC 5393): every target at once, within
//! the request's Max-Breadth; provisional and 2xx responses go upstream as they come, the first
//! 2xx cancels the other branches (RFC 3326 "call completed elsewhere"), and if nobody answers
//! the best final goes upstream. Timer C (16.6 step 11) bounds an INVITE branch that rings
//! forever, and one whose callee never answers our CANCEL is given up 64*T1 later.

use super::{nat, nat::Target, route, Proxy, COMPLETED_ELSEWHERE};
use crate::sip::endpoint::{Incoming, TxKey};
use crate::sip::message::{self as msg, MessageExt, Method, Response};
use crate::sip::transport::Peer;
use crate::sip::transport::Proto;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Max-Breadth when a request carries none (RFC 5393 5.3.2 suggests 60).
pub(super) const DEFAULT_MAX_BREADTH: u32 = 60;

/// RFC 3261 16.7 step 6, simplified: a 6xx beats everything (nobody else should be tried), then
/// the lower class wins; within a class the first one received stays.
fn better_final(new: u16, old: u16) -> bool {
    match (new / 100, old / 100) {
        (6, 6) => false,
        (6, _) => true,
        (_, 6) => false,
        (n, o) => n < o,
    }
}

/// One forwarded copy of the request.
struct Branch {
    /// The flow it went down, if any: its responses' Contact is reached down it too.
    flow: Option<Peer>,
    key: TxKey,
    done: bool,
    provisional: bool,
    /// Timer C, or after our CANCEL the time we stop waiting for its effect.
    deadline: Option<Instant>,
    cancelled: bool,
    /// Cancelled by Timer C: its 487 is reported upstream as the timeout it is.
    expired: bool,
}

/// The state of one forwarded request across its branches.
struct Fork {
    branches: Vec<Branch>,
    answered: bool,
    best: Option<Response>,
}

impl Fork {
    fn all_done(&self) -> bool {
        self.branches.iter().all(|b| b.done)
    }

    fn offer_final(&mut self, resp: Response) {
        let code = msg::code_of(&resp);
        if self
            .best
            .as_ref()
            .is_none_or(|b| better_final(code, msg::code_of(b)))
        {
            self.best = Some(resp);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.branches
            .iter()
            .filter(|b| !b.done)
            .filter_map(|b| b.deadline)
            .min()
    }
}

impl Proxy {
    /// How many branches the request's Max-Breadth allows, and the Max-Breadth each carries
    /// (RFC 5393 5.3): the branches share it; with 0 left, one target (no fork) or 440.
    fn breadth(&self, inc: &Incoming, targets: usize) -> Result<(usize, u32), u16> {
        let mb = inc
            .request
            .header("Max-Breadth")
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(DEFAULT_MAX_BREADTH);
        if mb == 0 {
            return if targets == 1 { Ok((1, 0)) } else { Err(440) };
        }
        let n = targets.min(mb as usize).min(self.config.max_forks);
        Ok((n, mb / n as u32))
    }

    /// Forwards to every target at once and relays what comes back (see the module comment).
    pub(super) async fn forward(&self, inc: Incoming, targets: Vec<Target>) {
        let Some(server_key) = inc.key.clone() else {
            return;
        };
        let (n, per_branch) = match self.breadth(&inc, targets.len()) {
            Ok(b) => b,
            Err(code) => return self.reply(&inc, code, Some("Max-Breadth Exceeded")),
        };
        let is_invite = inc.request.method == Method::Invite;
        let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Option<Response>)>();
        let mut fork = Fork {
            branches: Vec::new(),
            answered: false,
            best: None,
        };
        let branch = route::branches(&inc.request, &self.secret);
        let mut keys_refused = false;
        for target in targets.iter().take(n) {
            let Some(peer) = target.peer().await else {
                continue;
            };
            let mut req = inc.request.clone();
            if !keys_may_go(&mut req.body, peer.proto, true) {
                keys_refused = true;
                continue;
            }
            let record = is_invite.then_some(inc.source.proto);
            self.rewrite_for_forward(&mut req, &target.uri, record, peer);
            let own = nat::sent_by(inc.request.top_via().as_ref());
            self.alias_contact(&mut req.headers, own, inc.source);
            msg::set(&mut req.headers, "Max-Breadth", per_branch.to_string());
            let b = branch(fork.branches.len());
            let mut handle = match target.flow {
                Some(_) => self.endpoint.send_request_down_flow(req, peer, b),
                None => self.endpoint.send_request_branch(req, peer, b),
            };
            let (i, tx) = (fork.branches.len(), tx.clone());
            fork.branches.push(Branch {
                flow: target.flow,
                key: handle.key.clone(),
                done: false,
                provisional: false,
                deadline: is_invite.then(|| Instant::now() + self.config.timer_c),
                cancelled: false,
                expired: false,
            });
            tokio::spawn(async move {
                while let Some(r) = handle.responses.recv().await {
                    let _ = tx.send((i, Some(r)));
                }
                let _ = tx.send((i, None)); // the branch's transaction is over
            });
        }
        drop(tx);
        if fork.branches.is_empty() && keys_refused {
            let why = "Not Acceptable Here (SRTP keys would cross an unencrypted hop)";
            return self.reply(&inc, 488, Some(why));
        }
        if fork.branches.is_empty() {
            return self.reply(&inc, 404, Some("Destination Not Found"));
        }
        if is_invite {
            let keys = fork.branches.iter().map(|b| b.key.clone()).collect();
            self.forwarded
                .lock()
                .unwrap()
                .insert(server_key.clone(), keys);
        }
        self.relay(&inc, &server_key, &mut fork, &mut rx).await;
        if !fork.answered {
            let resp = fork.best.take().unwrap_or_else(|| timeout(&inc));
            self.endpoint.respond(&server_key, resp);
        }
        self.forwarded.lock().unwrap().remove(&server_key);
    }

    /// Relays branch responses upstream until every branch is over.
    async fn relay(
        &self,
        inc: &Incoming,
        server_key: &TxKey,
        fork: &mut Fork,
        rx: &mut mpsc::UnboundedReceiver<(usize, Option<Response>)>,
    ) {
        while !fork.all_done() {
            let sleep = match fork.next_deadline() {
                Some(t) => tokio::time::sleep_until(t),
                None => tokio::time::sleep(Duration::from_secs(86_400)),
            };
            tokio::select! {
                got = rx.recv() => match got {
                    Some((i, Some(resp))) => self.on_branch_response(inc, server_key, fork, i, resp),
                    Some((i, None)) => fork.branches[i].done = true,
                    None => break,
                },
                _ = sleep => self.on_timer_c(inc, fork),
            }
        }
    }

    fn on_branch_response(
        &self,
        inc: &Incoming,
        server_key: &TxKey,
        fork: &mut Fork,
        i: usize,
        mut resp: Response,
    ) {
        let code = msg::code_of(&resp);
        if code == 100 {
            return; // hop-by-hop; we sent our own
        }
        msg::pop_first(&mut resp.headers, "Via");
        // An answer's keys go back over the hop the offer came by only if it is TLS.
        if !keys_may_go(&mut resp.body, inc.source.proto, false) {
            resp.body.clear();
        }
        if let Some(flow) = fork.branches[i].flow {
            self.alias_contact(&mut resp.headers, None, flow);
        }
        if code < 200 {
            let b = &mut fork.branches[i];
            b.provisional = true;
            if !b.cancelled {
                // 16.7 step 2: each provisional restarts Timer C.
                b.deadline = Some(Instant::now() + self.config.timer_c);
            }
            if !fork.answered {
                self.endpoint.respond(server_key, resp);
            }
            return;
        }
        fork.branches[i].done = true;
        if code < 300 {
            if !fork.answered {
                fork.answered = true;
                self.cancel_others(fork, Some(i), Some(COMPLETED_ELSEWHERE));
            }
            // Every 2xx goes upstream: each one is a dialog the caller must ACK (and BYE).
            return self.endpoint.respond(server_key, resp);
        }
        if code >= 600 && !fork.answered {
            // 16.7 step 5: a global failure ends the search; stop the other phones.
            self.cancel_others(fork, None, None);
        }
        if code == 487 && fork.branches[i].expired {
            return fork.offer_final(timeout(inc));
        }
        fork.offer_final(resp);
    }

    fn cancel_others(&self, fork: &mut Fork, except: Option<usize>, reason: Option<&str>) {
        for (j, b) in fork.branches.iter_mut().enumerate() {
            if Some(j) != except && !b.done {
                self.endpoint
                    .cancel_with_reason(&b.key, reason.map(str::to_string));
                b.cancelled = true;
            }
        }
    }

    /// Timer C fired on some branches: CANCEL those that rang (and wait 64*T1 for the effect),
    /// give up on the others, and on those whose CANCEL had no effect, as if they sent 408.
    fn on_timer_c(&self, inc: &Incoming, fork: &mut Fork) {
        let now = Instant::now();
        let grace = self.config.timers.t1 * 64;
        let mut timed_out = false;
        for b in fork.branches.iter_mut() {
            if b.done || b.deadline.is_none_or(|t| t > now) {
                continue;
            }
            if b.provisional && !b.cancelled {
                tracing::info!("Timer C: cancelling a branch that rang too long");
                self.endpoint.cancel(&b.key);
                b.cancelled = true;
                b.expired = true;
                b.deadline = Some(now + grace);
            } else {
                tracing::info!("Timer C: giving up on a branch");
                self.endpoint.abandon(&b.key);
                b.done = true;
                timed_out = true;
            }
        }
        if timed_out {
            fork.offer_final(timeout(inc));
        }
    }
}

/// SDES keys never cross a hop in the clear (RFC 4568 8.1): off `body` unless `hop` is TLS;
/// false when they cannot be taken off (an RTP/SAVP offer, with `refuse_secure`).
fn keys_may_go(body: &mut Vec<u8>, hop: Proto, refuse_secure: bool) -> bool {
    if hop == Proto::Tls {
        return true;
    }
    match crate::sdp::crypto::without_keys(body, refuse_secure) {
        Ok(Some(stripped)) => {
            tracing::info!("SRTP keys taken off an SDP going over {}", hop.as_str());
            *body = stripped;
            true
        }
        Ok(None) => true,
        Err(_) => false,
    }
}

fn timeout(inc: &Incoming) -> Response {
    msg::response_to(&inc.request, 408, None, Some(&msg::new_tag()))
}
