//! The session manager: one tokio task owning every account, registration and call. The GUI,
//! the CLI and the tests drive it through `EngineHandle` (commands) and the event receiver alone.
//! SIP traffic goes through one `sip::Endpoint`; each client transaction's responses come back
//! into the engine's loop tagged with what they answer.

mod account_edit;
pub mod address;
pub mod api;
mod call;
mod data;
mod delivery;
mod described;
mod desktop;
mod flow;
mod gate;
mod im;
mod media;
mod messages;
mod midcall;
mod msrp_nat;
mod outcome;
pub mod reason;
mod register;
mod reinvite;
mod roam;
mod secure;
mod session_timer;
mod srtp;
mod stray;
mod transfer;

pub use account_edit::AccountSettings;
pub use address::{Address, AddressError};
pub use api::*;
pub use outcome::CallOutcome;

use crate::sip::endpoint::{Endpoint, EndpointEvent, Incoming};
use crate::sip::headers::SipUri;
use crate::sip::locate::Locator;
use crate::sip::message::{self as msg, MessageExt, Method, Request, Response};
use crate::sip::transaction::Timers;
use crate::sip::transport::Peer;
use crate::store::Store;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub const USER_AGENT: &str = concat!("Parley/", env!("CARGO_PKG_VERSION"));
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, MESSAGE";

#[derive(Clone)]
pub struct EngineConfig {
    /// Local SIP address (UDP and TCP); port 0 lets the OS choose.
    pub bind: SocketAddr,
    pub timers: Timers,
    pub store: Option<Arc<Store>>,
    /// Let a second incoming call ring while in a call instead of answering 486 Busy Here.
    pub call_waiting: bool,
    /// A DNS server to ask instead of the system's (for SRV lookups of account domains).
    pub dns: Option<SocketAddr>,
    /// A call nobody answers is given up after this long: CANCEL when we call, 480 when we
    /// are called.
    pub ring_timeout: Duration,
    /// The headless microphone and speaker (tone, WAV file, silence; a WAV recording).
    pub microphone: crate::media::headless::SourceSpec,
    pub speaker: crate::media::headless::SinkSpec,
    /// Voice codecs offered and accepted, best first.
    pub codecs: Vec<crate::media::codec::CodecKind>,
    /// Where files received in calls are stored.
    pub files: std::path::PathBuf,
    /// Where arriving files wait until whole: a private folder of the profile (`None`: a
    /// private `.partial` folder inside `files`).
    pub partial: Option<std::path::PathBuf>,
    /// Whether the input and output saved in Settings replace `microphone` and `speaker`
    /// (the window: yes; headless agents with `--tone`/`--record`: no).
    pub use_saved_devices: bool,
    /// Files larger than this are refused (an offer with 488, an MSRP message with 413).
    pub max_file_size: u64,
    /// Bytes per second files are sent at most (`None`: as fast as the connection goes).
    pub max_upload: Option<u64>,
    /// The session timer interval our calls ask for, and the shortest we accept (RFC 4028),
    /// seconds.
    pub session_interval: u32,
    pub min_se: u32,
    /// Where the certificate of a hosted server is kept (the profile's; `None`: one made
    /// for each start).
    pub tls_dir: Option<std::path::PathBuf>,
    /// Play the ringtone while a call rings in (the window: yes; headless agents: no).
    pub ring: bool,
}

impl EngineConfig {
    pub fn new(bind: SocketAddr) -> EngineConfig {
        EngineConfig {
            bind,
            timers: Timers::default(),
            store: None,
            call_waiting: false,
            dns: None,
            ring_timeout: Duration::from_secs(120),
            microphone: crate::media::headless::SourceSpec::Silence,
            speaker: crate::media::headless::SinkSpec::Discard,
            codecs: crate::media::codec::CodecKind::ALL.to_vec(),
            use_saved_devices: false,
            // The user's own data folder, never a shared /tmp.
            files: directories::ProjectDirs::from("org", "Parley", "parley")
                .map(|d| d.data_dir().join("files"))
                .unwrap_or_else(|| std::path::PathBuf::from("parley-files")),
            partial: None,
            max_file_size: 16 * 1024 * 1024 * 1024,
            max_upload: None,
            session_interval: session_timer::DEFAULT_INTERVAL,
            min_se: session_timer::DEFAULT_MIN_SE,
            tls_dir: None,
            ring: false,
        }
    }

    /// The window's engine on a profile: its database, folders and certificate, the sound
    /// card (the default one, or Settings' pick) and a ringtone.
    pub fn desktop(profile: &crate::store::Profile, store: Store) -> EngineConfig {
        let mut cfg = EngineConfig::new(SocketAddr::from(([0, 0, 0, 0], 0)));
        cfg.store = Some(Arc::new(store));
        (cfg.files, cfg.partial) = (profile.files(), Some(profile.partial()));
        cfg.tls_dir = Some(profile.tls_dir());
        cfg.microphone = crate::media::headless::SourceSpec::Device(None);
        cfg.speaker = crate::media::headless::SinkSpec::Device(None);
        cfg.use_saved_devices = true;
        cfg.ring = true;
        cfg
    }

    /// Where temporary files of arriving files go.
    pub fn partial_dir(&self) -> std::path::PathBuf {
        self.partial
            .clone()
            .unwrap_or_else(|| self.files.join(".partial"))
    }

    fn codec_names(&self) -> Vec<String> {
        self.codecs.iter().map(|c| c.name().to_string()).collect()
    }
}

/// The GUI's and CLI's way in. Cheap to clone.
#[derive(Clone, Debug)]
pub struct EngineHandle {
    tx: mpsc::Sender<Command>,
    local: SocketAddr,
}

impl EngineHandle {
    pub async fn send(&self, cmd: Command) {
        let _ = self.tx.send(cmd).await;
    }

    /// For callers outside async code (GUI callbacks). A full queue hands the command back
    /// (`Some`), so the caller can wait with `send` instead of losing it; a stopped engine
    /// drops it.
    pub fn try_send(&self, cmd: Command) -> Option<Command> {
        match self.tx.try_send(cmd) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Full(cmd)) => Some(cmd),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::warn!("engine stopped; command dropped");
                None
            }
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

pub struct Engine;

impl Engine {
    pub async fn start(
        config: EngineConfig,
    ) -> std::io::Result<(EngineHandle, mpsc::Receiver<Event>)> {
        let (endpoint, sip_events) = Endpoint::start(config.bind, config.timers).await?;
        let local = endpoint.local_addr();
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let (ev_tx, ev_rx) = mpsc::channel(256);
        let (int_tx, int_rx) = mpsc::unbounded_channel();
        let locator = match config.dns {
            Some(ns) => Locator::with_nameserver(ns),
            None => Locator::system(),
        };
        let db = config.store.clone().map(crate::store::Db::spawn);
        let device = flow::device_id(config.store.as_deref());
        watch_network(int_tx.clone());
        let media_identity = srtp::media_identity(config.tls_dir.as_deref());
        let ring_enabled = config.ring;
        let core = Core {
            endpoint,
            locator,
            db,
            config,
            events: ev_tx,
            internal: int_tx,
            accounts: HashMap::new(),
            calls: HashMap::new(),
            next_id: 1,
            shutting_down: None,
            server: None,
            pagers: HashMap::new(),
            next_pager: 1,
            msrp_budget: Default::default(),
            described: Default::default(),
            device,
            media_identity,
            ringer: None,
            ring_enabled,
        };
        tokio::spawn(core.run(cmd_rx, sip_events, int_rx));
        Ok((EngineHandle { tx: cmd_tx, local }, ev_rx))
    }
}

/// Network changes, as the engine's own input.
fn watch_network(internal: mpsc::UnboundedSender<Internal>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    crate::nat::netwatch::spawn(tx);
    tokio::spawn(async move {
        while let Some(change) = rx.recv().await {
            if internal.send(Internal::Network(change)).is_err() {
                return;
            }
        }
    });
}

/// What a client transaction's responses are about.
#[derive(Debug, Clone, Copy)]
enum Ctx {
    Register(AccountId),
    Invite(CallId),
    Bye(CallId),
    /// A re-INVITE for hold or resume (what it asks for is in the call's `reinvite`).
    ReInvite(CallId),
    Info(CallId),
    /// A BYE ending a dialog we never kept; its answer changes nothing.
    Orphan,
    /// A SIP MESSAGE of ours.
    Pager(u32),
}

enum Internal {
    Response(Ctx, Response),
    /// What a call's or session's MSRP connection reported.
    Msrp(CallId, crate::msrp::session::SessionEvent),
    /// A file to offer, hashed off the loop.
    FileReady {
        account: AccountId,
        target: String,
        path: std::path::PathBuf,
        file: Result<crate::sdp::file::FileSelector, String>,
    },
    /// The network changed, or we woke from suspend.
    Network(crate::nat::netwatch::Change),
    /// A call's media addresses, looked up off the loop.
    MediaResolved {
        id: CallId,
        audio: Box<crate::sdp::AudioStream>,
        addrs: Option<(std::net::SocketAddr, Option<std::net::SocketAddr>)>,
    },
    /// An account's TLS connection, opened before its first REGISTER (or refused).
    Opened(secure::Opened),
    /// A call's DTLS-SRTP handshake failed: the call cannot be encrypted and ends.
    EncryptionFailed(CallId),
}

pub(crate) struct Core {
    endpoint: Endpoint,
    locator: Locator,
    /// The store's thread, when the engine keeps history.
    db: Option<crate::store::Db>,
    config: EngineConfig,
    events: mpsc::Sender<Event>,
    internal: mpsc::UnboundedSender<Internal>,
    accounts: HashMap<AccountId, register::Account>,
    calls: HashMap<CallId, call::Call>,
    next_id: u32,
    /// Set by Shutdown: when to stop even if un-REGISTERs are unanswered.
    shutting_down: Option<Instant>,
    /// The embedded server, when this user hosts one.
    server: Option<crate::server::Server>,
    /// SIP MESSAGEs awaiting their answer (RFC 3428).
    pagers: HashMap<u32, im::Pending>,
    next_pager: u32,
    /// What each peer may have in flight across its MSRP sessions.
    msrp_budget: crate::msrp::budget::Budget,
    /// Files hashed for an offer, so a resend or a resume starts at once.
    described: described::Described,
    /// This profile's lasting device ID, behind every account's instance ID (RFC 5626).
    device: String,
    /// The certificate our DTLS-SRTP handshakes show.
    media_identity: Option<std::sync::Arc<crate::media::dtls::MediaIdentity>>,
    /// Plays while a call rings in.
    ringer: Option<crate::media::ringer::Ringer>,
    /// Whether this engine rings and the user has not turned the ringtone off.
    ring_enabled: bool,
}

impl Core {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut sip: mpsc::UnboundedReceiver<EndpointEvent>,
        mut internal: mpsc::UnboundedReceiver<Internal>,
    ) {
        loop {
            if let Some(deadline) = self.shutting_down {
                let pending = self.accounts.values().any(|a| a.busy());
                if !pending || Instant::now() >= deadline {
                    break;
                }
            }
            let wake = self.next_wake();
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.command(cmd).await,
                    None => { self.command(Command::Shutdown).await; }
                },
                Some(ev) = sip.recv() => self.sip_event(ev).await,
                Some(i) = internal.recv() => self.internal(i).await,
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => self.timers().await,
            }
            self.update_ringer();
        }
        self.ringer = None;
        // Let go of a hosted server's ports, and let queued writes land, before saying we stopped.
        self.server = None;
        if let Some(db) = &self.db {
            db.run(|_| ()).await;
        }
        self.emit(Event::Stopped).await;
    }

    async fn internal(&mut self, i: Internal) {
        match i {
            Internal::Response(ctx, resp) => self.response(ctx, resp).await,
            Internal::Msrp(id, e) => self.msrp_event(id, e).await,
            Internal::FileReady {
                account,
                target,
                path,
                file,
            } => self.file_ready(account, &target, path, file).await,
            Internal::MediaResolved { id, audio, addrs } => {
                self.media_resolved(id, *audio, addrs).await
            }
            Internal::Network(change) => self.network_changed(change).await,
            Internal::Opened(o) => self.opened(o).await,
            Internal::EncryptionFailed(id) => self.encryption_failed(id).await,
        }
    }

    fn next_wake(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        let acc = self.accounts.values().filter_map(|a| a.next_timer());
        let shut = self.shutting_down.into_iter();
        let calls = self
            .calls
            .values()
            .flat_map(|c| [c.give_up_at, c.reinvite_retry_at])
            .flatten();
        let keep = self.next_keepalive().into_iter();
        let sessions = self.next_session_timer().into_iter();
        acc.chain(shut)
            .chain(calls)
            .chain(keep)
            .chain(sessions)
            .min()
            .unwrap_or(far)
    }

    async fn emit(&self, ev: Event) {
        tracing::debug!(?ev, "event");
        let _ = self.events.send(ev).await;
    }

    fn mint(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Starts a client transaction whose responses come back as `Internal::Response(ctx, _)`.
    fn send(&self, ctx: Ctx, req: Request, peer: Peer) -> crate::sip::endpoint::TxKey {
        // Behind a NAT, requests to the server go down the registration's flow (RFC 5626
        // 4.3) whatever their size: an INVITE with ICE candidates is past 1300 bytes, and a
        // server that takes only UDP would never see it over TCP.
        let down_flow = self
            .accounts
            .values()
            .any(|a| a.public.is_some() && a.flow.as_ref().is_some_and(|f| f.server == peer));
        let branch = crate::sip::message::new_branch();
        let mut handle = match down_flow {
            true => self.endpoint.send_request_down_flow(req, peer, branch),
            false => self.endpoint.send_request_branch(req, peer, branch),
        };
        let internal = self.internal.clone();
        tokio::spawn(async move {
            while let Some(r) = handle.responses.recv().await {
                if internal.send(Internal::Response(ctx, r)).is_err() {
                    break;
                }
            }
        });
        handle.key
    }

    async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::AddAccount(cfg) => self.add_account(*cfg).await,
            Command::Register(id) => self.register(id, false).await,
            Command::Unregister(id) => self.register(id, true).await,
            Command::Call { account, target } => self.call(account, &target).await,
            Command::Answer(id) => self.answer(id).await,
            Command::Decline(id) => self.decline(id).await,
            Command::Hangup(id) => self.hangup(id).await,
            Command::Hold { call, on } => self.hold(call, on).await,
            Command::Mute { call, on } => self.mute(call, on).await,
            Command::SendText { call, text } => self.send_text(call, &text).await,
            Command::SendMessage {
                account,
                target,
                text,
            } => self.send_pager(account, &target, &text).await,
            Command::RetryMessage { account, id } => self.retry_message(account, id).await,
            Command::SendFile { call, path } => self.send_file(call, path).await,
            Command::SendFileTo {
                account,
                target,
                path,
            } => self.send_file_to(account, &target, path).await,
            Command::StartChat { account, target } => self.start_chat(account, &target).await,
            Command::CancelTransfer { call, name } => self.cancel_transfer(call, &name).await,
            Command::TakeFile { call, name, accept } => self.take_file(call, &name, accept).await,
            Command::Dtmf { call, digit } => self.dtmf(call, digit).await,
            Command::Restore => self.restore().await,
            Command::RemoveAccount(id) => self.remove_account(id).await,
            Command::UpdateAccount {
                account,
                settings,
                turn_password,
            } => self.update_account(account, *settings, turn_password).await,
            Command::TrustServer {
                account,
                fingerprint,
            } => self.trust_server(account, fingerprint).await,
            Command::SaveContact(c) => self.save_contact(c).await,
            Command::DeleteContact(id) => self.delete_contact(id).await,
            Command::SaveSetting { key, value } => self.save_setting(&key, &value).await,
            Command::HostServer { bind, domain, user } => {
                self.host_and_sign_in(bind, domain, user).await
            }
            Command::ListDevices => self.list_devices(),
            Command::ImportContacts(path) => self.import_contacts(path).await,
            Command::ExportContacts(path) => self.export_contacts(path).await,
            Command::Shutdown => {
                if self.shutting_down.is_some() {
                    return;
                }
                self.shutting_down = Some(Instant::now() + Duration::from_secs(3));
                let calls: Vec<CallId> = self.calls.keys().copied().collect();
                for c in calls {
                    self.hangup(c).await;
                }
                let ids: Vec<AccountId> = self.accounts.keys().copied().collect();
                for id in ids {
                    if self.accounts[&id].registered() {
                        self.register(id, true).await;
                    }
                }
            }
        }
    }

    async fn sip_event(&mut self, ev: EndpointEvent) {
        match ev {
            EndpointEvent::Request(inc) => self.request(*inc).await,
            EndpointEvent::AckTimeout { call_id } => self.ack_timeout(&call_id).await,
            // A UA has no one to forward these to (RFC 3261 8.1.3.3: discard).
            EndpointEvent::StrayResponse(_) => {}
            EndpointEvent::Pong { peer, stun } => self.pong(peer, stun).await,
            EndpointEvent::Closed { peer } => self.flow_closed(peer).await,
        }
    }

    async fn request(&mut self, inc: Incoming) {
        if self.in_known_dialog(&inc) {
            return self.in_dialog_request(inc).await;
        }
        let Some(reached) = self.admit(&inc) else {
            // Not our server, not our Contact, not a LAN account: as if nobody were here.
            tracing::info!(
                source = %inc.source.addr,
                method = %inc.request.method,
                "dropped a request from outside our server"
            );
            return;
        };
        match inc.request.method {
            Method::Invite if inc.request.to_tag().is_none() => {
                self.incoming_invite(inc, reached).await
            }
            Method::Message => self.incoming_pager(inc, reached).await,
            _ => self.in_dialog_request(inc).await,
        }
    }

    /// A request inside a dialog, or one outside that the gate let through and that needs no
    /// account (OPTIONS, and the refusals of what is not ours).
    async fn in_dialog_request(&mut self, inc: Incoming) {
        match inc.request.method {
            Method::Invite => self.reinvite(inc).await,
            Method::Ack => self.incoming_ack(inc).await,
            Method::Bye => self.incoming_bye(inc).await,
            Method::Cancel => self.incoming_cancel(inc).await,
            Method::Info => self.incoming_info(inc).await,
            Method::Message => {
                let r = self.reply_for(&inc.request, 481);
                self.respond(&inc, r)
            }
            Method::Options => {
                let mut r = self.reply_for(&inc.request, 200);
                msg::push(&mut r.headers, "Accept", "application/sdp");
                self.respond(&inc, r);
            }
            _ => {
                let mut r = self.reply_for(&inc.request, 405);
                msg::push(&mut r.headers, "Allow", ALLOW);
                self.respond(&inc, r);
            }
        }
    }

    fn reply_for(&self, req: &Request, code: u16) -> Response {
        let mut r = msg::response_to(req, code, None, Some(&msg::new_tag()));
        msg::push(&mut r.headers, "User-Agent", USER_AGENT);
        r
    }

    fn respond(&self, inc: &Incoming, resp: Response) {
        if let Some(key) = &inc.key {
            self.endpoint.respond(key, resp);
        }
    }

    async fn response(&mut self, ctx: Ctx, resp: Response) {
        match ctx {
            Ctx::Register(id) => self.register_response(id, resp).await,
            Ctx::Invite(id) => self.invite_response(id, resp).await,
            Ctx::Bye(id) => self.bye_response(id, resp).await,
            Ctx::ReInvite(id) => self.reinvite_response(id, resp).await,
            Ctx::Info(id) => self.info_response(id, resp).await,
            Ctx::Orphan => tracing::debug!(code = msg::code_of(&resp), "extra dialog ended"),
            Ctx::Pager(id) => self.pager_response(id, resp).await,
        }
    }

    async fn timers(&mut self) {
        let now = Instant::now();
        let due: Vec<AccountId> = self
            .accounts
            .iter()
            .filter(|(_, a)| a.next_timer().is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(a) = self.accounts.get_mut(&id) {
                a.clear_timer();
            }
            self.register(id, false).await;
        }
        let unanswered: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.give_up_at.is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in unanswered {
            self.give_up(id).await;
        }
        self.retry_reinvites(now).await;
        self.keepalives(now).await;
        self.session_timers(now).await;
    }

    /// Where a request for `uri` goes from `account`, in the order to try: its outbound
    /// server if it has one, else the servers RFC 3263 finds over the account's transport.
    async fn route_targets(
        &mut self,
        account: AccountId,
        uri: &SipUri,
    ) -> std::io::Result<Vec<Peer>> {
        crate::sip::locate::check_transport(uri)?;
        let acc = self.accounts.get(&account);
        let targets = match acc.map(|a| (&a.servers, a.cfg.transport)) {
            Some((servers, _)) if !servers.is_empty() => servers.clone(),
            Some((_, proto)) => self.locator.targets(uri, Some(proto)).await?,
            None => self.locator.targets(uri, None).await?,
        };
        let known = acc.map(|_| account);
        self.expect_tls(known, uri, &targets);
        Ok(targets)
    }

    /// Our Contact URI as seen from `toward`, with the account's token (see `gate`).
    fn contact(&self, user: &str, toward: Peer) -> String {
        let (addr, ob) = self.contact_addr_for(toward);
        let t = toward.proto.as_str().to_ascii_lowercase();
        let token = match self.accounts.values().find(|a| a.user() == user) {
            Some(a) => format!(";{}={}", gate::TOKEN_PARAM, a.token),
            None => String::new(),
        };
        format!("<sip:{user}@{addr};transport={t}{token}{ob}>")
    }
}
