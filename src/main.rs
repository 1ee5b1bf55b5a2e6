//! `parley`: argument parsing and launching only. Everything else lives in the library.

use clap::{Parser, Subcommand};
use parley::cli;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "parley",
    version,
    about = "Parley: calls, chat and files over SIP"
)]
struct Args {
    /// Keep all data (database, files, logs) under DIR instead of the usual folders.
    #[arg(long, global = true)]
    profile: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Cmd>,
    /// A sip: URI to call (what the desktop passes when a sip: link is opened).
    uri: Option<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the embedded SIP registrar and proxy.
    Serve(cli::ServeArgs),
    /// Register and stay, printing events.
    Agent {
        #[command(flatten)]
        account: cli::AccountArgs,
        /// Answer incoming calls at once.
        #[arg(long)]
        auto_answer: bool,
    },
    /// Call a SIP URI and print the call's progress.
    Call {
        target: String,
        #[command(flatten)]
        account: cli::AccountArgs,
        /// Hang up this many seconds after the call is answered.
        #[arg(long)]
        hangup_after: Option<f64>,
        /// Send this file on the call's MSRP line once answered (while the audio flows); the
        /// call hangs up once the other side confirmed it, unless --hangup-after says when.
        #[arg(long)]
        send_file: Option<std::path::PathBuf>,
    },
    /// Send a one-off text message (SIP MESSAGE) and wait until it is delivered.
    Chat {
        target: String,
        text: String,
        /// Send it in an MSRP chat session instead of a SIP MESSAGE.
        #[arg(long)]
        msrp: bool,
        #[command(flatten)]
        account: cli::AccountArgs,
    },
    /// Send a file outside a call (the other side accepts or declines it); exits 0 only when
    /// the other side confirmed the whole file.
    SendFile {
        target: String,
        path: PathBuf,
        #[command(flatten)]
        account: cli::AccountArgs,
    },
    /// Import contacts from a vCard file, or export them all to one.
    Contacts {
        /// `import` or `export`.
        action: String,
        file: PathBuf,
    },
    /// List call history.
    History {
        #[arg(long)]
        json: bool,
    },
    /// Print speed and memory figures (SIP decoding, call setup on loopback, resident memory).
    Bench {
        /// `all` for every figure in one run; `media` (voice pipeline), `msrp` (file transfer),
        /// `proxy` (beside Kamailio), `overload`, `agent` (beside baresip), `strangers` (a
        /// flood's memory, refusal times for known and unknown users); SIP's otherwise.
        what: Option<String>,
        /// The file size for `msrp`, MiB.
        #[arg(long, default_value_t = 200)]
        mib: u64,
        #[arg(long, default_value_t = 200)]
        calls: usize,
        #[arg(long, default_value_t = 50_000)]
        decodes: usize,
        /// Also wait 33 s and measure memory again, once transactions have expired.
        #[arg(long)]
        settle: bool,
        /// Call rates for `proxy`, per second.
        #[arg(long, value_delimiter = ',', default_values_t = [100u32, 400, 1000])]
        rates: Vec<u32>,
        /// How long each `proxy` rate runs, seconds.
        #[arg(long, default_value_t = 5)]
        seconds: u32,
        /// For `overload`: the share of one core each proxy is held to.
        #[arg(long, default_value_t = 0.25)]
        share: f64,
        /// How long each `proxy` call lasts before its BYE, milliseconds.
        #[arg(long, default_value_t = 0)]
        hold_ms: u32,
        /// Where `msrp-receiver` (the benchmark's own receiving process) puts the file.
        #[arg(long, hide = true)]
        inbox: Option<PathBuf>,
    },
}

/// `parley agent` is the lean `parley-agent` beside this binary when it is there (as packaged:
/// built with `cargo lean-agent`, none of the window's code, measured 6.9-7.1 MB resident idle
/// instead of 14.3 MB); it gets the same arguments. Returns only when there is no such binary
/// or it cannot start.
#[cfg(unix)]
fn hand_over_to_lean_agent() {
    use std::os::unix::process::CommandExt;
    let Some(lean) = std::env::current_exe()
        .ok()
        .map(|e| e.with_file_name("parley-agent"))
        .filter(|p| p.exists())
    else {
        return;
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(at) = args.iter().position(|a| a == "agent") else {
        return;
    };
    let err = std::process::Command::new(&lean)
        .args(&args[..at])
        .args(&args[at + 1..])
        .exec();
    tracing::warn!("could not start {}: {err}", lean.display());
}

/// The server runs on one thread: its path is a chain of tasks handing messages on, and across
/// threads every hand-off is a wake-up (measured: a third of its CPU under load). The other
/// commands keep a thread per core: on one thread a file sender's memory grew with the file
/// (seen in the 200 MiB test, not yet explained), so they stay where they were measured flat.
fn runtime(command: &Option<Cmd>) -> tokio::runtime::Runtime {
    let mut b = match command {
        Some(Cmd::Serve(_)) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    b.enable_all().build().expect("tokio runtime")
}

fn main() {
    // winit warns about X setups it merely dislikes; a user need not read those.
    cli::init_logging("warn,winit=error");
    let args = Args::parse();
    if args.command.is_none() && std::env::var_os("ICED_BACKEND").is_none() {
        // The software renderer draws this UI as well as the GPU one at a third of the memory
        // (measured: 52 MB against 167 MB resident); ICED_BACKEND=wgpu picks the GPU.
        // Set before any thread exists, so no one reads the environment meanwhile.
        std::env::set_var("ICED_BACKEND", "tiny-skia");
    }
    if args.command.is_none() {
        parley::gui::drop::prefer_x11_for_drops();
    }
    let rt = runtime(&args.command);
    let result = match args.command {
        Some(Cmd::Serve(serve)) => rt.block_on(cli::serve(serve, args.profile)),
        Some(Cmd::Agent {
            account,
            auto_answer,
        }) => {
            #[cfg(unix)]
            hand_over_to_lean_agent();
            rt.block_on(cli::agent(account, auto_answer, args.profile))
        }
        Some(Cmd::Call {
            target,
            account,
            hangup_after,
            send_file,
        }) => rt.block_on(cli::call(
            account,
            target,
            hangup_after,
            send_file,
            args.profile,
        )),
        Some(Cmd::Chat {
            target,
            text,
            msrp,
            account,
        }) => rt.block_on(cli::chat(account, target, text, msrp, args.profile)),
        Some(Cmd::SendFile {
            target,
            path,
            account,
        }) => rt.block_on(cli::send_file(account, target, path, args.profile)),
        Some(Cmd::History { json }) => cli::history(json, args.profile),
        Some(Cmd::Contacts { action, file }) => match action.as_str() {
            "import" | "export" => {
                rt.block_on(cli::contacts(action == "export", file, args.profile))
            }
            other => Err(format!("contacts {other}: say import or export")),
        },
        Some(Cmd::Bench { what: Some(w), .. }) if w == "media" => rt
            .block_on(parley::bench::media::run())
            .map(|report| print!("{report}")),
        Some(Cmd::Bench {
            what: Some(w), mib, ..
        }) if w == "msrp" => rt
            .block_on(parley::bench::msrp::run(mib))
            .map(|report| print!("{report}")),
        Some(Cmd::Bench {
            what: Some(w),
            inbox: Some(inbox),
            ..
        }) if w == "msrp-receiver" => rt
            .block_on(parley::bench::msrp::receive(&inbox))
            .map(|report| print!("{report}")),
        Some(Cmd::Bench {
            what: Some(w),
            rates,
            seconds,
            hold_ms,
            ..
        }) if w == "proxy" => {
            let load = parley::bench::proxy::Load { seconds, hold_ms };
            parley::bench::proxy::run(&rates, load).map(|r| print!("{r}"))
        }
        Some(Cmd::Bench {
            what: Some(w),
            rates,
            seconds,
            hold_ms,
            share,
            ..
        }) if w == "overload" => {
            let load = parley::bench::proxy::Load { seconds, hold_ms };
            let start = rates.first().copied().unwrap_or(100);
            parley::bench::overload::run(share, start, load).map(|r| print!("{r}"))
        }
        Some(Cmd::Bench {
            what: Some(w),
            calls,
            ..
        }) if w == "agent" => parley::bench::agent::run(calls).map(|r| print!("{r}")),
        Some(Cmd::Bench { what: Some(w), .. }) if w == "strangers" => rt
            .block_on(parley::bench::strangers::run(25_000))
            .map(|report| print!("{report}")),
        Some(Cmd::Bench { what: Some(w), .. }) if w == "all" => {
            parley::bench::all::run(&rt);
            Ok(())
        }
        Some(Cmd::Bench { what: Some(w), .. }) => Err(format!(
            "unknown benchmark {w} (try all, media, msrp, proxy, overload, agent or strangers)"
        )),
        Some(Cmd::Bench {
            what: None,
            calls,
            decodes,
            settle,
            ..
        }) => rt
            .block_on(parley::bench::run(calls, decodes, settle))
            .map(|report| print!("{report}")),
        None => parley::gui::run(args.profile, args.uri)
            .map_err(|e| format!("cannot open the window: {e}")),
    };
    if let Err(e) = result {
        eprintln!("parley: {e}");
        std::process::exit(1);
    }
}
