//! The engine's API: `Command`s in, `Event`s out. Ids are minted by the engine and come back in
//! the first event about each thing. Events serialise as the CLI's JSON lines.

use crate::sip::transport::Proto;
pub use crate::sip::transport::Proto as Transport;
pub use crate::store::{
    CallRecord, Contact, Direction, MessageRecord, MessageState, TransferRecord, TransferState,
};
/// A certificate's SHA-256 fingerprint, as the user compares it.
pub use crate::tls::Fingerprint;
use serde::Serialize;
use std::net::SocketAddr;

pub type AccountId = u32;
pub type CallId = u32;

#[derive(Debug, Clone)]
pub struct AccountConfig {
    /// `sip:alice@example.com`
    pub aor: String,
    pub password: String,
    /// The digest user name when the provider gives one apart from the address's user.
    pub auth_user: Option<String>,
    pub display_name: Option<String>,
    /// Outbound proxy / registrar `host[:port]`; `None` locates the domain's server.
    pub server: Option<String>,
    pub transport: Proto,
    /// Registration interval asked for, seconds.
    pub expires: u32,
    /// Register as soon as the account is added.
    pub register: bool,
    /// A STUN server `host[:port]` to learn our public media addresses from; `None` asks the
    /// SIP server, once it has shown it answers STUN and that we are behind a NAT.
    pub stun: Option<String>,
    /// A TURN server to relay our media through (`host[:port]`, user, password): its relayed
    /// address is what we offer, so that even a NAT that lets nothing in carries the call.
    pub turn: Option<(String, String, String)>,
    /// An MSRP relay `host[:port]` (RFC 4976) for chat and files from behind a NAT; `None`
    /// tries the SIP server's (port 2855, as `parley serve --relay` runs it) once we are
    /// behind a NAT.
    pub msrp_relay: Option<String>,
    /// A CA certificate file (PEM) this account's TLS trusts beside the system's roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// A server certificate trusted as it is (a self-signed server), by SHA-256 fingerprint.
    pub tls_fingerprint: Option<crate::tls::Fingerprint>,
    /// Whether calls' audio is encrypted; `None`: mandatory when signalling is TLS, else
    /// wherever the other side can.
    pub srtp: Option<SrtpPolicy>,
    /// Take calls, texts and files from anyone who reaches this device, not only through the
    /// server (a LAN without one). Their senders are never verified.
    pub direct: bool,
}

/// Encrypted audio (SRTP) for an account's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SrtpPolicy {
    /// Never: plain RTP (for a network that must see the audio, e.g. a recorder).
    Off,
    /// When the other side can; a call it cannot encrypt is made anyway, and said so.
    Optional,
    /// Encrypted or not at all.
    Mandatory,
}

impl SrtpPolicy {
    pub fn parse(s: &str) -> Option<SrtpPolicy> {
        match s.to_ascii_lowercase().as_str() {
            "off" => Some(SrtpPolicy::Off),
            "optional" => Some(SrtpPolicy::Optional),
            "mandatory" => Some(SrtpPolicy::Mandatory),
            _ => None,
        }
    }

    pub const ALL: [SrtpPolicy; 3] = [SrtpPolicy::Off, SrtpPolicy::Optional, SrtpPolicy::Mandatory];

    /// An account's policy when none is set: mandatory when it signs in over TLS.
    pub fn by_default(over_tls: bool) -> SrtpPolicy {
        match over_tls {
            true => SrtpPolicy::Mandatory,
            false => SrtpPolicy::Optional,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            SrtpPolicy::Off => "off",
            SrtpPolicy::Optional => "optional",
            SrtpPolicy::Mandatory => "mandatory",
        }
    }
}

impl std::fmt::Display for SrtpPolicy {
    /// As Settings offers the choice.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SrtpPolicy::Off => "Never (plain audio)",
            SrtpPolicy::Optional => "When the other side can",
            SrtpPolicy::Mandatory => "Always (refuse calls that cannot be)",
        })
    }
}

impl AccountConfig {
    pub fn new(aor: &str, password: &str) -> AccountConfig {
        AccountConfig {
            aor: aor.to_string(),
            password: password.to_string(),
            auth_user: None,
            display_name: None,
            server: None,
            transport: Proto::Udp,
            expires: 3600,
            register: true,
            stun: None,
            turn: None,
            msrp_relay: None,
            ca_file: None,
            tls_fingerprint: None,
            srtp: None,
            direct: false,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Command {
    /// Boxed: an account's settings dwarf every other command.
    AddAccount(Box<AccountConfig>),
    Register(AccountId),
    Unregister(AccountId),
    /// Call a SIP URI, or a bare user/number completed with the account's domain.
    Call {
        account: AccountId,
        target: String,
    },
    Answer(CallId),
    /// Refuse an incoming call with 603 Decline.
    Decline(CallId),
    /// End a call in any state: CANCEL before the answer, BYE after.
    Hangup(CallId),
    /// Put a connected call on hold (re-INVITE with `sendonly`) or take it off hold.
    Hold {
        call: CallId,
        on: bool,
    },
    /// Send a one-off text to anyone, in or out of a call (SIP MESSAGE, RFC 3428).
    SendMessage {
        account: AccountId,
        target: String,
        text: String,
    },
    /// Send again a text of ours that failed (`Event::MessageFailed`), as a one-off message.
    RetryMessage {
        account: AccountId,
        id: i64,
    },
    /// Send a chat message in a call's MSRP session.
    SendText {
        call: CallId,
        text: String,
    },
    /// Send a file in a call's MSRP session (the seed's flow: while the audio flows).
    SendFile {
        call: CallId,
        path: std::path::PathBuf,
    },
    /// Stop sending our voice (RTP keeps flowing as silence, so NATs stay open) or start again.
    Mute {
        call: CallId,
        on: bool,
    },
    /// Sends a file to a contact: on the call with them when there is one with a chat line,
    /// else in a session of its own (RFC 5547) they accept or decline.
    SendFileTo {
        account: AccountId,
        target: String,
        path: std::path::PathBuf,
    },
    /// Opens an MSRP chat session with a contact, outside any call.
    StartChat {
        account: AccountId,
        target: String,
    },
    /// Stops a file going either way (an empty name: every file of that call or session).
    CancelTransfer {
        call: CallId,
        name: String,
    },
    /// Keep (stored once whole) or refuse (413, nothing kept) a file arriving on a call's or
    /// chat's MSRP line, after `FileOffered` with `during_call`.
    TakeFile {
        call: CallId,
        name: String,
        accept: bool,
    },
    /// Send a keypad digit (0-9 * # A-D) as SIP INFO `application/dtmf-relay`.
    Dtmf {
        call: CallId,
        digit: char,
    },
    /// Load saved accounts (and register them), contacts and history from the store.
    Restore,
    /// Forget an account: un-REGISTER and delete it from the store.
    RemoveAccount(AccountId),
    /// Change how an account reaches its server and encrypts (Settings): it signs out and in
    /// again, as `AccountRemoved` then `AccountAdded`. A TURN password given replaces the kept
    /// one.
    UpdateAccount {
        account: AccountId,
        settings: Box<super::AccountSettings>,
        turn_password: Option<String>,
    },
    /// Trust the server certificate with this fingerprint for the account from now on (the
    /// answer to `Event::ServerUntrusted`), and sign in again.
    TrustServer {
        account: AccountId,
        fingerprint: crate::tls::Fingerprint,
    },
    /// Insert (id 0) or update a contact.
    SaveContact(Contact),
    DeleteContact(i64),
    /// Remember a preference (theme, ringtone, audio devices).
    SaveSetting {
        key: String,
        value: String,
    },
    /// Run the embedded server in this process, open to the LAN (anyone may register); with
    /// a user, sign in to it as `user@domain` once it runs (over its TLS, trusting its own
    /// certificate).
    HostServer {
        bind: SocketAddr,
        domain: String,
        user: Option<String>,
    },
    /// List the audio inputs and outputs (answered with `Devices`).
    ListDevices,
    /// Add the contacts of a vCard file to the address book.
    ImportContacts(std::path::PathBuf),
    /// Write the whole address book to a vCard file.
    ExportContacts(std::path::PathBuf),
    /// Unregister every account, then stop.
    Shutdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    Dialing,
    Trying,
    Ringing,
    /// 183 Session Progress: early media.
    Progress,
    /// Incoming call alerting the user (we sent 180).
    Incoming,
    /// Answered, waiting for the ACK.
    Connecting,
    Connected,
    Ending,
}

impl Command {
    /// The answer to a `FileOffered`: an offer of its own is answered (or declined with 603),
    /// a file on a call's line is taken (or refused with 413).
    pub fn take_offer(call: CallId, name: &str, during_call: bool, accept: bool) -> Command {
        match (during_call, accept) {
            (false, true) => Command::Answer(call),
            (false, false) => Command::Decline(call),
            (true, accept) => Command::TakeFile {
                call,
                name: name.to_string(),
                accept,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    AccountAdded {
        account: AccountId,
        aor: String,
        /// How it reaches its server and encrypts, for Settings.
        settings: super::AccountSettings,
    },
    Registering {
        account: AccountId,
        aor: String,
    },
    Registered {
        account: AccountId,
        aor: String,
        expires: u32,
    },
    RegistrationFailed {
        account: AccountId,
        aor: String,
        status: u16,
        reason: String,
        message: String,
        /// Seconds until the next try; `None` when retrying cannot help (wrong password).
        retry_in: Option<u64>,
    },
    Unregistered {
        account: AccountId,
        aor: String,
    },
    /// The account's server showed a certificate we do not trust; nothing was sent to it.
    /// With `can_pin`, the user may trust this one certificate (`Command::TrustServer`) after
    /// comparing its fingerprint with the one the server's keeper gives.
    ServerUntrusted {
        account: AccountId,
        aor: String,
        /// The name the certificate was checked against.
        server: String,
        fingerprint: crate::tls::Fingerprint,
        /// Why, in words: "it is not signed by an authority this computer trusts ...".
        why: String,
        can_pin: bool,
    },
    /// An account's settings changed (a server certificate trusted from the prompt).
    AccountUpdated {
        account: AccountId,
        settings: super::AccountSettings,
    },
    /// The account lost its connection to the server (a dead flow, a network gone), or has it
    /// back: what the window shows as offline and back online.
    Connection {
        account: AccountId,
        online: bool,
        message: String,
    },
    /// `verified`: the account's server vouched for `from` (see `ChatOffered`).
    IncomingCall {
        call: CallId,
        account: AccountId,
        from: String,
        display_name: Option<String>,
        verified: bool,
    },
    Call {
        call: CallId,
        state: CallState,
        peer: String,
        direction: Direction,
        status: Option<u16>,
        reason: Option<String>,
    },
    /// Hold changed: `local` when we hold the other side, `remote` when they hold us.
    Hold {
        call: CallId,
        local: bool,
        remote: bool,
    },
    /// The other side pressed a key.
    Dtmf {
        call: CallId,
        digit: char,
    },
    /// A one-off text arrived (SIP MESSAGE), stored as `id` at `at` (Unix seconds).
    InstantMessage {
        id: i64,
        from: String,
        text: String,
        at: i64,
        verified: bool,
    },
    /// A text of ours is on its way (a one-off, or on `call`'s chat): stored as `id`, which
    /// `MessageSent` or `MessageFailed` answers. A retry comes again with the same id.
    MessageSending {
        id: i64,
        to: String,
        text: String,
        at: i64,
        call: Option<CallId>,
    },
    /// The other side (`to`) took our text.
    MessageSent {
        id: i64,
        to: String,
    },
    /// Our text could not be delivered, in words; `Command::RetryMessage` sends it again.
    MessageFailed {
        id: i64,
        to: String,
        message: String,
    },
    /// A chat message arrived in a call, stored as `id` at `at`.
    Message {
        id: i64,
        call: CallId,
        peer: String,
        content_type: String,
        text: String,
        at: i64,
        /// As in `ChatOffered`.
        verified: bool,
    },
    /// Someone who is not a saved contact, and whom the user never wrote to, opens a chat
    /// session (an INVITE with only a message line). It rings like a call and is not taken by
    /// itself: Answer takes it, Decline refuses it (603).
    ///
    /// `verified`: the account's server asserted who this is (RFC 3325); otherwise `from` is
    /// only what the sender claims, and must never be shown as a saved contact.
    ChatOffered {
        call: CallId,
        account: AccountId,
        from: String,
        display_name: Option<String>,
        verified: bool,
    },
    /// Someone offers us a file. Outside a call (`during_call` false) Answer accepts it and
    /// Decline refuses it (603); on a call's or chat's line, `TakeFile` says yes or no.
    FileOffered {
        call: CallId,
        account: AccountId,
        from: String,
        display_name: Option<String>,
        name: String,
        size: u64,
        content_type: String,
        during_call: bool,
        /// As in `ChatOffered`.
        verified: bool,
    },
    /// A file session began moving bytes; `from` > 0 when it resumes a broken attempt.
    TransferStarted {
        call: CallId,
        peer: String,
        name: String,
        size: u64,
        from: u64,
        incoming: bool,
    },
    /// A file was stopped before its end (by us or them); nothing of it was kept.
    TransferCancelled {
        call: CallId,
        peer: String,
        name: String,
        by_peer: bool,
        /// When it happened, Unix seconds.
        at: i64,
    },
    /// An MSRP chat session outside a call is open; SendText goes on it.
    ChatStarted {
        call: CallId,
        peer: String,
    },
    ChatEnded {
        call: CallId,
        peer: String,
    },
    /// A file arrived whole, was checked and stored at `path`.
    FileReceived {
        call: CallId,
        peer: String,
        name: String,
        path: std::path::PathBuf,
        size: u64,
        sha256: String,
        /// When it happened, Unix seconds.
        at: i64,
    },
    /// A file we send is under way.
    TransferProgress {
        call: CallId,
        peer: String,
        name: String,
        incoming: bool,
        done: u64,
        total: u64,
        bytes_per_second: u64,
    },
    /// The other side confirmed every byte of a file we sent.
    FileSent {
        call: CallId,
        peer: String,
        name: String,
        size: u64,
        /// When it happened, Unix seconds.
        at: i64,
    },
    /// Every byte of a file we sent was taken, but the other side ended the session before it
    /// confirmed the file arrived whole: sent, not confirmed (not "not delivered").
    FileSentUnconfirmed {
        call: CallId,
        peer: String,
        name: String,
        size: u64,
        /// When it happened, Unix seconds.
        at: i64,
    },
    /// A message or file could not be carried, in words.
    TransferFailed {
        call: CallId,
        peer: String,
        message: String,
        /// When it happened, Unix seconds.
        at: i64,
    },
    /// How loud we are and they are (0..1 over -60..0 dBFS), ten times a second in a call.
    Levels {
        call: CallId,
        input: f32,
        output: f32,
    },
    /// ICE chose the path the call's audio takes (RFC 8445): `relayed` through a TURN server,
    /// else straight between the two (through whatever NATs); the words say which addresses.
    MediaPath {
        call: CallId,
        relayed: bool,
        message: String,
    },
    /// Whether the call's audio is encrypted, and how, in words for the call view.
    CallSecurity {
        call: CallId,
        encrypted: bool,
        message: String,
    },
    /// The call connected without sound (a device that does not open, an address that does
    /// not resolve), in words; it holds for this call only.
    NoSound {
        call: CallId,
        message: String,
    },
    /// Our microphone is muted (or not) in this call.
    Muted {
        call: CallId,
        on: bool,
    },
    /// About once a second while media flows: RTP packets sent and received, frames lost
    /// (concealed), late packets dropped, interarrival jitter; from RTCP, the round-trip time
    /// and the share of our packets the other side lost.
    CallStats {
        call: CallId,
        sent: u64,
        received: u64,
        lost: u64,
        late: u64,
        jitter_ms: u32,
        rtt_ms: Option<u32>,
        peer_lost_percent: u8,
        /// Seconds nothing has come from a peer that should be sending (0 while voice flows).
        no_media_secs: u32,
    },
    CallEnded {
        call: CallId,
        peer: String,
        direction: Direction,
        /// How it ended, in the user's terms; `status` and `reason` are the details.
        outcome: super::CallOutcome,
        status: u16,
        reason: String,
        message: String,
        /// Seconds from answer to end (0 when never answered).
        duration: u64,
    },
    AccountRemoved {
        account: AccountId,
    },
    /// The whole address book, after a load or any change.
    Contacts {
        contacts: Vec<Contact>,
    },
    /// The whole call history, oldest first, on `Restore`.
    History {
        calls: Vec<CallRecord>,
    },
    /// A call just ended, as its history row now reads (one row, not the whole history again:
    /// that grew with every call).
    CallLogged {
        record: CallRecord,
    },
    /// Every stored chat message and file transfer, oldest first, sent by `Restore` so a
    /// conversation shows what was said before this run.
    Conversations {
        messages: Vec<MessageRecord>,
        transfers: Vec<TransferRecord>,
    },
    /// Saved preferences, sent by `Restore`.
    Settings {
        settings: Vec<(String, String)>,
    },
    /// `Restore` finished: this many saved accounts were found.
    Restored {
        accounts: usize,
    },
    ServerStarted {
        addr: SocketAddr,
        domain: String,
        /// Where it takes TLS, and its certificate's fingerprint for colleagues to check.
        tls: Option<(SocketAddr, crate::tls::Fingerprint)>,
    },
    /// The audio devices there are (after `ListDevices`); `error` says why none, in words.
    Devices {
        inputs: Vec<String>,
        outputs: Vec<String>,
        error: Option<String>,
    },
    ContactsImported {
        count: usize,
        path: std::path::PathBuf,
    },
    ContactsExported {
        count: usize,
        path: std::path::PathBuf,
    },
    Error {
        message: String,
    },
    Stopped,
}
