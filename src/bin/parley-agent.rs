//! The headless agent alone (`parley agent` runs this when it sits beside `parley`): without
//! the window's code in the process, an idle registered agent holds about half the memory.

use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "parley agent", about = "Register and stay, printing events")]
struct Args {
    /// Profile folder (database, received files).
    #[arg(long)]
    profile: Option<PathBuf>,
    #[command(flatten)]
    account: parley::cli::AccountArgs,
    /// Answer incoming calls at once.
    #[arg(long)]
    auto_answer: bool,
}

fn main() {
    parley::cli::init_logging("warn");
    let args = Args::parse();
    // One thread: an agent has one call's signalling, media and files to move, and each
    // worker thread costs its stack and an allocator arena (measured: 6.9 MB resident idle on
    // one thread, 7.3 MB on two).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let done = rt.block_on(parley::cli::agent(
        args.account,
        args.auto_answer,
        args.profile,
    ));
    if let Err(e) = done {
        eprintln!("parley: {e}");
        std::process::exit(1);
    }
}
