//! The headless command line: `serve`, `agent`, `call`, `chat`, `send-file`, `history`. Each drives the same engine
//! API the GUI uses and prints events as text or, with `--json`, one JSON object per line.

use crate::engine::{AccountConfig, Command, Engine, EngineConfig, Event};
use crate::media::codec::CodecKind;
use crate::media::headless::{SinkSpec, SourceSpec};
use crate::server::{Server, ServerConfig};
use crate::sip::transport::Proto;
use crate::store::{Profile, Store};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Options shared by `agent` and `call`.
#[derive(Debug, Clone, clap::Args)]
pub struct AccountArgs {
    /// Your SIP address, e.g. sip:alice@example.com
    #[arg(long)]
    pub account: String,
    #[arg(long, default_value = "")]
    pub password: String,
    /// The authentication user name, when your provider gives one apart from the address.
    #[arg(long)]
    pub auth_user: Option<String>,
    /// Registrar / outbound proxy HOST:PORT; without it the account's domain is looked up.
    #[arg(long)]
    pub server: Option<String>,
    /// Local SIP address to listen on.
    #[arg(long, default_value = "0.0.0.0:0")]
    pub bind: SocketAddr,
    /// udp, tcp or tls (a sips: account is TLS whatever this says).
    #[arg(long, default_value = "udp", value_parser = parse_proto)]
    pub transport: Proto,
    /// A CA certificate file (PEM) to trust for TLS, beside the system's (a company's own CA).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Trust the server certificate with this SHA-256 fingerprint (AB:CD:...) as it is: for a
    /// self-signed server such as `parley serve`'s, which prints it at start.
    #[arg(long, value_parser = parse_fingerprint)]
    pub tls_fingerprint: Option<crate::tls::Fingerprint>,
    /// Encrypted audio: off, optional or mandatory (default: mandatory over TLS, otherwise
    /// optional). SRTP keys only ever travel over TLS.
    #[arg(long, value_parser = parse_srtp)]
    pub srtp: Option<crate::engine::SrtpPolicy>,
    /// Registration interval to ask for, seconds.
    #[arg(long, default_value_t = 3600)]
    pub expires: u32,
    /// Take calls, texts and files from anyone who reaches this address, not only through the
    /// server (a LAN without one); such callers are marked unverified.
    #[arg(long)]
    pub direct: bool,
    /// Print one JSON object per event.
    #[arg(long)]
    pub json: bool,
    /// Play a tone of this frequency (Hz) as the microphone.
    #[arg(long, conflicts_with = "play")]
    pub tone: Option<f64>,
    /// Play this WAV file (16-bit PCM, looped) as the microphone.
    #[arg(long)]
    pub play: Option<PathBuf>,
    /// Record what the other side says into this WAV file.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Store files received in calls into this folder (default: the profile's `files`).
    #[arg(long)]
    pub accept_files: Option<PathBuf>,
    /// Send files no faster than this many MB per second (leaves room for the voice on a slow
    /// uplink); as fast as the connection takes them by default.
    #[arg(long)]
    pub max_upload_mbps: Option<f64>,
    /// A STUN server HOST:PORT for our public media address behind a NAT (default: the SIP
    /// server, when it answers STUN).
    #[arg(long)]
    pub stun: Option<String>,
    /// A TURN server HOST:PORT to relay the call's media through (with --turn-user and
    /// --turn-password): for NATs that let nothing in.
    #[arg(long, requires_all = ["turn_user", "turn_password"])]
    pub turn: Option<String>,
    /// An MSRP relay HOST[:PORT] (RFC 4976) for chat and files from behind a NAT (default:
    /// the SIP server's, port 2855, as `parley serve --relay` runs it, once behind a NAT).
    #[arg(long)]
    pub msrp_relay: Option<String>,
    #[arg(long)]
    pub turn_user: Option<String>,
    #[arg(long)]
    pub turn_password: Option<String>,
    /// Voice codecs to offer and accept, best first (e.g. `pcmu,opus`); all by default.
    #[arg(long, value_delimiter = ',', value_parser = parse_codec)]
    pub codecs: Vec<CodecKind>,
}

fn parse_codec(s: &str) -> Result<CodecKind, String> {
    CodecKind::from_name(s).ok_or_else(|| format!("unknown codec {s} (opus, pcmu or pcma)"))
}

impl AccountArgs {
    fn devices(&self) -> (SourceSpec, SinkSpec) {
        let mic = match (self.tone, &self.play) {
            (Some(hz), _) => SourceSpec::Tone(hz),
            (None, Some(p)) => SourceSpec::Play(p.clone()),
            (None, None) => SourceSpec::Silence,
        };
        let speaker = match &self.record {
            Some(p) => SinkSpec::Record(p.clone()),
            None => SinkSpec::Discard,
        };
        (mic, speaker)
    }
}

fn parse_proto(s: &str) -> Result<Proto, String> {
    Proto::parse(s).ok_or_else(|| format!("unknown transport {s} (udp, tcp or tls)"))
}

fn parse_srtp(s: &str) -> Result<crate::engine::SrtpPolicy, String> {
    crate::engine::SrtpPolicy::parse(s)
        .ok_or_else(|| format!("--srtp takes off, optional or mandatory, not {s}"))
}

fn parse_fingerprint(s: &str) -> Result<crate::tls::Fingerprint, String> {
    crate::tls::Fingerprint::parse(s)
        .ok_or_else(|| format!("{s} is not a SHA-256 fingerprint (32 bytes in hex, AB:CD:...)"))
}

fn print_event(ev: &Event, json: bool) {
    // Whole lists are for the window; `parley history` prints the history.
    if matches!(
        ev,
        Event::Contacts { .. }
            | Event::History { .. }
            | Event::CallLogged { .. }
            | Event::Settings { .. }
            | Event::Conversations { .. }
    ) {
        return;
    }
    // Ten level readings a second are for a meter, not a terminal.
    if matches!(ev, Event::Levels { .. }) {
        return;
    }
    if json {
        if let Ok(line) = serde_json::to_string(ev) {
            println!("{line}");
        }
        return;
    }
    let line = match ev {
        Event::AccountAdded { aor, .. } => format!("account {aor}"),
        Event::AccountUpdated { account, .. } => format!("account {account}: settings changed"),
        Event::Registering { aor, .. } => format!("registering {aor}..."),
        Event::Registered { aor, expires, .. } => format!("registered {aor} for {expires} s"),
        Event::RegistrationFailed {
            message, retry_in, ..
        } => match retry_in {
            Some(s) => format!("registration failed: {message} (retrying in {s} s)"),
            None => format!("registration failed: {message}"),
        },
        Event::Unregistered { aor, .. } => format!("unregistered {aor}"),
        Event::ServerUntrusted {
            server,
            fingerprint,
            can_pin,
            ..
        } => match can_pin {
            true => format!(
                "{server}'s certificate has the SHA-256 fingerprint {fingerprint}: if whoever runs \
                 it confirms that, trust it with --tls-fingerprint {fingerprint}"
            ),
            false => format!("{server} no longer shows the certificate trusted before"),
        },
        Event::Connection { message, .. } => message.clone(),
        Event::IncomingCall {
            call,
            from,
            verified,
            ..
        } => format!("call {call}: incoming from {}", who(from, *verified)),
        Event::Call {
            call,
            state,
            peer,
            reason,
            ..
        } => match reason {
            Some(r) => format!("call {call} {peer}: {state:?} ({r})"),
            None => format!("call {call} {peer}: {state:?}"),
        },
        Event::CallEnded {
            call,
            message,
            duration,
            ..
        } => format!("call {call} ended: {message} after {duration} s"),
        Event::Error { message } => format!("error: {message}"),
        Event::Hold {
            call,
            local,
            remote,
        } => format!("call {call}: on hold here {local}, there {remote}"),
        Event::Dtmf { call, digit } => format!("call {call}: key {digit}"),
        Event::Message {
            call, peer, text, ..
        } => format!("call {call}: message from {peer}: {text}"),
        Event::InstantMessage {
            from,
            text,
            verified,
            ..
        } => format!("message from {}: {text}", who(from, *verified)),
        Event::MessageSending { id, to, .. } => format!("message {id} to {to}: sending"),
        Event::MessageSent { id, to } => format!("message {id} to {to}: delivered"),
        Event::MessageFailed { id, to, message } => {
            format!("message {id} to {to} failed: {message}")
        }
        Event::FileReceived {
            call,
            peer,
            name,
            path,
            size,
            sha256,
            ..
        } => format!(
            "call {call}: received {name} from {peer} ({size} bytes, sha256 {sha256}) into {}",
            path.display()
        ),
        Event::FileSent {
            call,
            peer,
            name,
            size,
            ..
        } => format!("call {call}: sent {name} to {peer} ({size} bytes, confirmed)"),
        Event::FileSentUnconfirmed {
            call,
            peer,
            name,
            size,
            ..
        } => format!("call {call}: sent {name} to {peer} ({size} bytes), not confirmed"),
        Event::TransferFailed { call, message, .. } => format!("call {call}: {message}"),
        Event::TransferProgress {
            call,
            name,
            done,
            total,
            bytes_per_second,
            ..
        } => format!(
            "call {call}: {name} {done} of {total} bytes ({} KB/s)",
            bytes_per_second / 1000
        ),
        Event::FileOffered {
            call,
            from,
            name,
            size,
            verified,
            ..
        } => format!(
            "call {call}: {} offers {name} ({size} bytes)",
            who(from, *verified)
        ),
        Event::ChatOffered {
            call,
            from,
            verified,
            ..
        } => format!(
            "call {call}: {} wants to chat (answer to take it)",
            who(from, *verified)
        ),
        Event::TransferStarted {
            call,
            name,
            size,
            from,
            incoming,
            ..
        } => match (incoming, from) {
            (true, 0) => format!("call {call}: receiving {name} ({size} bytes)"),
            (false, 0) => format!("call {call}: sending {name} ({size} bytes)"),
            (_, f) => format!("call {call}: resuming {name} at byte {f} of {size}"),
        },
        Event::TransferCancelled {
            call,
            name,
            by_peer,
            ..
        } => match by_peer {
            true => format!("call {call}: {name} was cancelled by the other side"),
            false => format!("call {call}: {name} was cancelled"),
        },
        Event::ChatStarted { call, peer } => format!("call {call}: chat with {peer} open"),
        Event::ChatEnded { call, peer } => format!("call {call}: chat with {peer} closed"),
        Event::MediaPath { call, message, .. } => format!("call {call}: {message}"),
        Event::NoSound { call, message } => format!("call {call}: {message}"),
        Event::CallSecurity { call, message, .. } => format!("call {call}: {message}"),
        Event::Muted { call, on } => {
            format!("call {call}: {}", if *on { "muted" } else { "unmuted" })
        }
        Event::CallStats {
            call,
            sent,
            received,
            lost,
            late,
            jitter_ms,
            rtt_ms,
            peer_lost_percent,
            no_media_secs,
        } => {
            let rtt = rtt_ms
                .map(|r| format!(", round trip {r} ms"))
                .unwrap_or_default();
            let silent = match no_media_secs {
                0 => String::new(),
                s => format!(", nothing heard for {s} s"),
            };
            format!("call {call}: sent {sent}, received {received}, lost {lost}, late {late}, jitter {jitter_ms} ms, they lost {peer_lost_percent}%{rtt}{silent}")
        }
        Event::AccountRemoved { account } => format!("account {account} removed"),
        Event::Restored { accounts } => format!("{accounts} saved account(s)"),
        Event::ServerStarted { addr, domain, tls } => match tls {
            Some((at, f)) => format!("hosting {domain} on {addr}, TLS on {at} (SHA-256 {f})"),
            None => format!("hosting {domain} on {addr}"),
        },
        Event::Devices {
            inputs,
            outputs,
            error,
        } => match error {
            Some(e) => e.clone(),
            None => format!(
                "inputs: {}; outputs: {}",
                inputs.join(", "),
                outputs.join(", ")
            ),
        },
        Event::ContactsImported { count, path } => {
            format!("imported {count} contact(s) from {}", path.display())
        }
        Event::ContactsExported { count, path } => {
            format!("saved {count} contact(s) to {}", path.display())
        }
        Event::Contacts { .. }
        | Event::History { .. }
        | Event::CallLogged { .. }
        | Event::Settings { .. }
        | Event::Conversations { .. }
        | Event::Levels { .. } => return,
        Event::Stopped => "stopped".into(),
    };
    println!("{line}");
}

fn open_store(profile: Option<&PathBuf>) -> Result<Arc<Store>, String> {
    let p = Profile::new(profile.map(|p| p.as_path())).map_err(|e| e.to_string())?;
    Store::open(&p.database())
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

async fn start_engine(
    args: &AccountArgs,
    profile: Option<&PathBuf>,
) -> Result<
    (
        crate::engine::EngineHandle,
        tokio::sync::mpsc::Receiver<Event>,
    ),
    String,
> {
    let mut cfg = EngineConfig::new(args.bind);
    cfg.store = Some(open_store(profile)?);
    match (
        &args.accept_files,
        Profile::new(profile.map(|p| p.as_path())),
    ) {
        (Some(dir), Ok(p)) => (cfg.files, cfg.partial) = (dir.clone(), Some(p.partial())),
        (Some(dir), Err(_)) => cfg.files = dir.clone(),
        (None, Ok(p)) => (cfg.files, cfg.partial) = (p.files(), Some(p.partial())),
        (None, Err(_)) => {}
    }
    (cfg.microphone, cfg.speaker) = args.devices();
    cfg.max_upload = args.max_upload_mbps.map(|mb| (mb * 1e6) as u64);
    if !args.codecs.is_empty() {
        cfg.codecs = args.codecs.clone();
    }
    let (h, ev) = Engine::start(cfg)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.bind))?;
    let mut acc = AccountConfig::new(&args.account, &args.password);
    acc.server = args.server.clone();
    acc.auth_user = args.auth_user.clone();
    acc.transport = args.transport;
    acc.expires = args.expires;
    acc.stun = args.stun.clone();
    acc.msrp_relay = args.msrp_relay.clone();
    acc.ca_file = args.ca_file.clone();
    acc.tls_fingerprint = args.tls_fingerprint;
    acc.srtp = args.srtp;
    acc.direct = args.direct;
    if let (Some(t), Some(u), Some(p)) = (&args.turn, &args.turn_user, &args.turn_password) {
        acc.turn = Some((t.clone(), u.clone(), p.clone()));
    }
    h.send(Command::AddAccount(Box::new(acc))).await;
    Ok((h, ev))
}

/// A sender's address, marked when nobody vouched for it.
fn who(from: &str, verified: bool) -> String {
    match verified {
        true => from.to_string(),
        false => format!("{from} (unverified)"),
    }
}

/// Logs to stderr, filtered by `PARLEY_LOG` (e.g. `info`, `debug`), else by `default`.
pub fn init_logging(default: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PARLEY_LOG")
                .unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log file stays plain for grep and fail2ban.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// `parley serve`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    #[arg(long, default_value = "0.0.0.0:5060")]
    pub bind: SocketAddr,
    #[arg(long)]
    pub domain: String,
    /// NAME:PASSWORD, repeatable.
    #[arg(long = "user")]
    pub users: Vec<String>,
    /// File with one NAME:PASSWORD per line.
    #[arg(long = "users")]
    pub users_file: Option<PathBuf>,
    /// Let anyone register without a password (LAN mode).
    #[arg(long)]
    pub open: bool,
    /// Shortest registration interval accepted, seconds.
    #[arg(long, default_value_t = 60)]
    pub min_expires: u32,
    /// Digest algorithms to challenge with, in order (clients that read only the first
    /// challenge use the first).
    #[arg(long, value_delimiter = ',', default_value = "md5,sha-256")]
    pub digest: Vec<String>,
    /// Also relay media for our users (a TURN server, RFC 8656, with their passwords), for
    /// those behind NATs that let nothing in.
    #[arg(long)]
    pub relay: bool,
    /// The TURN server's UDP port (on the --bind address).
    #[arg(long, default_value_t = 3478)]
    pub turn_port: u16,
    /// Ports for relayed addresses, FIRST-LAST.
    #[arg(long, default_value = "49152-65535", value_parser = parse_ports)]
    pub relay_ports: std::ops::RangeInclusive<u16>,
    /// The MSRP relay's TCP port (RFC 4976; on the --bind address), for chat and files.
    #[arg(long, default_value_t = 2855)]
    pub msrp_port: u16,
    /// Let the relays reach this range too (repeatable, e.g. 10.0.0.0/8 on a LAN): by default
    /// they refuse loopback, private, link-local, multicast and this host's own addresses.
    #[arg(long = "relay-allow", value_parser = parse_cidr)]
    pub relay_allow: Vec<crate::server::reach::Cidr>,
    /// The public address the TURN server's relayed addresses are given as (behind a NAT
    /// that forwards the relay ports to this host).
    #[arg(long)]
    pub external_ip: Option<std::net::IpAddr>,
    /// Also take SIP over TLS here (e.g. 0.0.0.0:5061).
    #[arg(long)]
    pub tls_bind: Option<SocketAddr>,
    /// The TLS certificate chain (PEM); without it a self-signed one is made at first start
    /// and kept in the profile, and its fingerprint printed for users to pin.
    #[arg(long, requires_all = ["tls_key", "tls_bind"])]
    pub tls_cert: Option<PathBuf>,
    /// The key of --tls-cert (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

fn parse_cidr(s: &str) -> Result<crate::server::reach::Cidr, String> {
    crate::server::reach::Cidr::parse(s)
        .ok_or_else(|| format!("--relay-allow takes an address or range like 10.0.0.0/8, not {s}"))
}

fn parse_ports(s: &str) -> Result<std::ops::RangeInclusive<u16>, String> {
    let bad = || format!("--relay-ports takes FIRST-LAST, like 49152-65535; got {s}");
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let (a, b): (u16, u16) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    );
    (a <= b && a > 0).then_some(a..=b).ok_or_else(bad)
}

/// The certificate `serve` shows over TLS: the one given, or the profile's own.
fn server_identity(
    args: &ServeArgs,
    profile: Option<&PathBuf>,
) -> Result<crate::tls::Identity, String> {
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        return crate::tls::Identity::load(cert, key).map_err(|e| e.to_string());
    }
    let dir = Profile::new(profile.map(|p| p.as_path()))
        .map_err(|e| format!("no profile to keep a certificate in: {e}"))?
        .tls_dir();
    // The domain, then every address it listens on by name (not a wildcard).
    let mut names = vec![args.domain.clone()];
    for ip in [Some(args.bind.ip()), args.tls_bind.map(|a| a.ip())]
        .into_iter()
        .flatten()
        .filter(|ip| !ip.is_unspecified())
    {
        if !names.contains(&ip.to_string()) {
            names.push(ip.to_string());
        }
    }
    crate::tls::Identity::own_in(&dir, &names).map_err(|e| e.to_string())
}

pub async fn serve(args: ServeArgs, profile: Option<PathBuf>) -> Result<(), String> {
    let ServeArgs {
        bind,
        domain,
        users,
        users_file,
        open,
        min_expires,
        digest,
        ..
    } = args.clone();
    let mut cfg = ServerConfig::new(bind, &domain);
    cfg.open = open;
    cfg.min_expires = min_expires;
    cfg.digest = digest
        .iter()
        .map(|d| {
            crate::sip::digest::Algorithm::parse(d.trim())
                .ok_or_else(|| format!("--digest takes md5 and sha-256, got {d}"))
        })
        .collect::<Result<_, _>>()?;
    if cfg.digest.is_empty() {
        return Err("--digest needs at least one of md5, sha-256".into());
    }
    let mut pairs = users;
    if let Some(f) = users_file {
        let text =
            std::fs::read_to_string(&f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        pairs.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
    }
    for u in pairs {
        let (name, pass) = u
            .split_once(':')
            .ok_or_else(|| format!("--user takes NAME:PASSWORD, got {u}"))?;
        cfg.users.insert(name.to_string(), pass.to_string());
    }
    if cfg.users.is_empty() && !open {
        return Err("no users: give --user NAME:PASSWORD, --users FILE or --open".into());
    }
    let relay_users = cfg.users.clone();
    let digest = cfg.digest.clone();
    let mut fingerprint = None;
    if let Some(at) = args.tls_bind {
        let id = server_identity(&args, profile.as_ref())?;
        fingerprint = Some(id.key_fingerprint());
        cfg.tls = Some((at, id.server_config().map_err(|e| e.to_string())?));
    }
    let msrp_tls = cfg.tls.as_ref().map(|(_, c)| c.clone());
    let server = Server::start(cfg)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let _relay = match args.relay {
        true => Some(start_relay(&args, &server, relay_users.clone()).await?),
        false => None,
    };
    let _msrp_relay = match args.relay {
        true => Some(start_msrp_relay(&args, &server, (relay_users, digest), msrp_tls).await?),
        false => None,
    };
    println!(
        "parley server for {domain} listening on {} (udp, tcp)",
        server.local_addr()
    );
    if let (Some(at), Some(f)) = (server.tls_addr(), fingerprint) {
        println!("listening on {at} (tls); key SHA-256 {f} (pin this: it stays when the certificate is renewed)");
    }
    tokio::select! {
        _ = server.wait() => {}
        _ = crate::stop::requested() => {}
    }
    Ok(())
}

/// The TURN relay of `serve --relay`, for the server's own users.
async fn start_relay(
    args: &ServeArgs,
    server: &Server,
    users: std::collections::HashMap<String, String>,
) -> Result<crate::server::relay::Relay, String> {
    let listen = SocketAddr::new(server.local_addr().ip(), args.turn_port);
    let cfg = crate::server::relay::RelayConfig {
        listen,
        ports: args.relay_ports.clone(),
        realm: args.domain.clone(),
        users,
        reach: crate::server::reach::Reach {
            allow: args.relay_allow.clone(),
        },
        quotas: Default::default(),
        external_ip: args.external_ip,
    };
    let relay = crate::server::relay::Relay::start(cfg)
        .await
        .map_err(|e| format!("cannot relay on {listen}: {e}"))?;
    println!("relaying media (TURN) on {} (udp)", relay.local_addr());
    Ok(relay)
}

/// The MSRP relay of `serve --relay` (RFC 4976), for the server's own users.
async fn start_msrp_relay(
    args: &ServeArgs,
    server: &Server,
    (users, digest): (
        std::collections::HashMap<String, String>,
        Vec<crate::sip::digest::Algorithm>,
    ),
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
) -> Result<crate::server::msrp_relay::MsrpRelay, String> {
    let listen = SocketAddr::new(server.local_addr().ip(), args.msrp_port);
    let over = if tls.is_some() { "tcp, tls" } else { "tcp" };
    let cfg = crate::server::msrp_relay::MsrpRelayConfig {
        listen,
        realm: args.domain.clone(),
        users,
        digest,
        tls,
        reach: crate::server::reach::Reach {
            allow: args.relay_allow.clone(),
        },
        unproven_for: crate::server::msrp_relay::UNPROVEN_FOR,
    };
    let relay = crate::server::msrp_relay::MsrpRelay::start(cfg)
        .await
        .map_err(|e| format!("cannot relay MSRP on {listen}: {e}"))?;
    println!(
        "relaying chat and files (MSRP) on {} ({over})",
        relay.local_addr()
    );
    Ok(relay)
}

pub async fn agent(
    args: AccountArgs,
    auto_answer: bool,
    profile: Option<PathBuf>,
) -> Result<(), String> {
    let (h, mut events) = start_engine(&args, profile.as_ref()).await?;
    let mut stopping = false;
    let stop = crate::stop::requested();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { break };
                print_event(&ev, args.json);
                match ev {
                    Event::IncomingCall { call, .. } | Event::ChatOffered { call, .. } if auto_answer => {
                        h.send(Command::Answer(call)).await
                    }
                    // Files are taken only into a folder the user named; otherwise declined.
                    Event::FileOffered { call, name, during_call, .. } => {
                        let accept = args.accept_files.is_some();
                        if !accept {
                            println!("call {call}: declined {name} (run with --accept-files DIR to take files)");
                        }
                        h.send(Command::take_offer(call, &name, during_call, accept)).await
                    }
                    Event::Stopped => break,
                    _ => {}
                }
            }
            _ = &mut stop, if !stopping => {
                stopping = true;
                h.send(Command::Shutdown).await;
            }
        }
    }
    Ok(())
}

pub async fn call(
    args: AccountArgs,
    target: String,
    hangup_after: Option<f64>,
    send_file: Option<PathBuf>,
    profile: Option<PathBuf>,
) -> Result<(), String> {
    let (h, mut events) = start_engine(&args, profile.as_ref()).await?;
    let mut result = Ok(());
    let mut placed = false;
    let hangup = tokio::time::sleep(Duration::from_secs(86_400 * 365));
    tokio::pin!(hangup);
    let mut call_id = None;
    let mut delivered = false;
    let stop = crate::stop::requested();
    tokio::pin!(stop);
    let mut stopping = false;
    loop {
        tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { break };
                print_event(&ev, args.json);
                match &ev {
                    Event::Registered { account, .. } | Event::RegistrationFailed { account, .. } if !placed => {
                        placed = true;
                        h.send(Command::Call { account: *account, target: target.clone() }).await;
                    }
                    Event::Call { call, state: crate::engine::CallState::Connected, .. } => {
                        call_id = Some(*call);
                        if let Some(path) = &send_file {
                            // The seed's flow: the file goes on the call's MSRP line.
                            h.send(Command::SendFile { call: *call, path: path.clone() }).await;
                        }
                        if let Some(secs) = hangup_after {
                            hangup.as_mut().reset(tokio::time::Instant::now() + Duration::from_secs_f64(secs));
                        }
                    }
                    Event::Call { call, .. } => call_id = Some(*call),
                    Event::FileSent { call, .. } if send_file.is_some() => {
                        delivered = true;
                        if hangup_after.is_none() {
                            h.send(Command::Hangup(*call)).await;
                        }
                    }
                    Event::TransferFailed { message, call, .. } if send_file.is_some() => {
                        result = Err(message.clone());
                        h.send(Command::Hangup(*call)).await;
                    }
                    Event::CallEnded { status, reason, .. } => {
                        if *status != 200 {
                            result = Err(format!("{status} {reason}"));
                        }
                        h.send(Command::Shutdown).await;
                    }
                    Event::Error { message } => {
                        result = Err(message.clone());
                        h.send(Command::Shutdown).await;
                    }
                    Event::Stopped => break,
                    _ => {}
                }
            }
            _ = &mut hangup => {
                if let Some(c) = call_id { h.send(Command::Hangup(c)).await; }
                hangup.as_mut().reset(tokio::time::Instant::now() + Duration::from_secs(86_400 * 365));
            }
            _ = &mut stop, if !stopping => {
                stopping = true;
                match call_id {
                    Some(c) => h.send(Command::Hangup(c)).await,
                    None => h.send(Command::Shutdown).await,
                }
            }
        }
    }
    // The file must have been confirmed whole; a call that ended first did not deliver it.
    match (&send_file, delivered, &result) {
        (Some(p), false, Ok(())) => Err(format!("{} was not delivered", p.display())),
        _ => result,
    }
}

mod files;

pub use files::{chat, send_file};

pub fn history(json: bool, profile: Option<PathBuf>) -> Result<(), String> {
    let store = open_store(profile.as_ref())?;
    let calls = store.calls().map_err(|e| e.to_string())?;
    for c in calls {
        if json {
            let v = serde_json::json!({
                "peer": c.peer_uri, "account": c.account, "direction": c.direction,
                "status": c.status, "reason": c.reason, "started_at": c.started_at,
                "answered_at": c.answered_at, "ended_at": c.ended_at, "duration": c.duration(),
                "call_id": c.sip_call_id,
            });
            println!("{v}");
        } else {
            let status = c
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into());
            println!(
                "{}  {:8}  {}  {}  {} s",
                c.started_at,
                c.direction.as_str(),
                c.peer_uri,
                status,
                c.duration()
            );
        }
    }
    Ok(())
}

/// `parley contacts import|export FILE`: the address book to and from vCard, through the
/// engine as the window does it.
pub async fn contacts(export: bool, file: PathBuf, profile: Option<PathBuf>) -> Result<(), String> {
    let mut cfg = EngineConfig::new("127.0.0.1:0".parse().unwrap());
    cfg.store = Some(open_store(profile.as_ref())?);
    let (h, mut events) = Engine::start(cfg)
        .await
        .map_err(|e| format!("cannot start: {e}"))?;
    h.send(match export {
        true => Command::ExportContacts(file),
        false => Command::ImportContacts(file),
    })
    .await;
    let outcome = loop {
        match events.recv().await {
            Some(ev @ (Event::ContactsImported { .. } | Event::ContactsExported { .. })) => {
                print_event(&ev, false);
                break Ok(());
            }
            Some(Event::Error { message }) => break Err(message),
            Some(_) => {}
            None => break Err("the engine stopped".into()),
        }
    };
    h.send(Command::Shutdown).await;
    while let Some(ev) = events.recv().await {
        if ev == Event::Stopped {
            break;
        }
    }
    outcome
}
