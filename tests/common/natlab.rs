//! A NAT lab in network namespaces, built and torn down by the test (as root, like CI): an
//! "internet" bridge on 203.0.113.0/24 with the server at 203.0.113.1, and homes behind Linux
//! NAT boxes, every home's laptop at 192.0.2.10. Each NAT box masquerades (port-keeping, or
//! with `random,fully-random` a symmetric NAT), drops what nobody inside asked for in its input
//! and forward chains, as home routers do, and forgets an idle UDP mapping after 20 s. Only
//! RFC 5737 documentation addresses, and nothing leaves the namespaces the lab made.

use super::proc::Proc;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub const SERVER_IP: &str = "203.0.113.1";
pub const LAPTOP_IP: &str = "192.0.2.10";

/// The kind of NAT a home sits behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// Endpoint-independent mapping (Linux keeps the source port), address-dependent filtering.
    Cone,
    /// A new random public port for every destination.
    Symmetric,
}

pub struct Lab {
    prefix: String,
    spaces: Vec<String>,
    homes: u32,
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A command run as root: itself when we are root (CI), else through `sudo -n`.
pub fn as_root(program: &str) -> Command {
    if is_root() {
        return Command::new(program);
    }
    let mut c = Command::new("sudo");
    c.args(["-n", program]);
    c
}

/// `program` in namespace `ns`, as the user running the tests (so its files are theirs).
pub fn in_space(ns: &str, program: &str) -> Command {
    let mut c = as_root("ip");
    c.args(["netns", "exec", ns]);
    if !is_root() {
        // SAFETY: getuid and getgid have no preconditions.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let (uid, gid) = (uid.to_string(), gid.to_string());
        c.args([
            "setpriv",
            "--reuid",
            &uid,
            "--regid",
            &gid,
            "--clear-groups",
        ]);
    }
    c.arg(program);
    c
}

fn run(args: &[&str]) {
    let out = as_root(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Fails, with what to do, when this cannot build a lab: it needs `ip`, `nft` and root (or
/// sudo without a password prompt: the README's test command asks for it just before).
fn require_lab() {
    super::require("ip", "-V", "iproute2");
    let nft = as_root("nft").arg("--version").output();
    assert!(
        nft.is_ok_and(|o| o.status.success()),
        "the NAT lab needs nft as root: sudo apt-get install nftables, and run the tests as \
         root or right after sudo asked for your password (see the README)"
    );
}

impl Lab {
    pub fn new() -> Lab {
        require_lab();
        static N: AtomicU32 = AtomicU32::new(0);
        let prefix = format!(
            "pl{}x{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut lab = Lab {
            prefix,
            spaces: Vec::new(),
            homes: 0,
        };
        let inet = lab.space("inet");
        lab.exec(&inet, &["ip", "link", "add", "br0", "type", "bridge"]);
        lab.exec(&inet, &["ip", "link", "set", "br0", "up"]);
        lab.exec(
            &inet,
            &[
                "ip",
                "addr",
                "add",
                &format!("{SERVER_IP}/24"),
                "dev",
                "br0",
            ],
        );
        // Like any host on the internet, the server has a default route: a packet to an
        // address nobody has (a private one from an ICE candidate) leaves and is lost, instead
        // of failing at the socket (which makes coturn drop the whole allocation).
        lab.exec(&inet, &["ip", "route", "add", "default", "dev", "br0"]);
        lab
    }

    fn space(&mut self, name: &str) -> String {
        let ns = format!("{}{name}", self.prefix);
        run(&["ip", "netns", "add", &ns]);
        self.spaces.push(ns.clone());
        self.exec(&ns, &["ip", "link", "set", "lo", "up"]);
        ns
    }

    fn exec(&self, ns: &str, args: &[&str]) {
        let mut full = vec!["ip", "netns", "exec", ns];
        full.extend_from_slice(args);
        run(&full);
    }

    /// The internet's namespace (where the server runs).
    pub fn internet(&self) -> String {
        format!("{}inet", self.prefix)
    }

    /// A new home behind a NAT box at 203.0.113.(10+n); returns the laptop's namespace.
    pub fn home(&mut self, nat: Nat) -> String {
        self.homes += 1;
        let n = self.homes;
        let (inet, natns) = (self.internet(), self.space(&format!("nat{n}")));
        let laptop = self.space(&format!("home{n}"));
        let port = format!("w{n}");
        run(&[
            "ip", "link", "add", &port, "netns", &inet, "type", "veth", "peer", "name", "wan",
            "netns", &natns,
        ]);
        self.exec(&inet, &["ip", "link", "set", &port, "master", "br0"]);
        self.exec(&inet, &["ip", "link", "set", &port, "up"]);
        let wan = format!("203.0.113.{}/24", 10 + n);
        self.exec(&natns, &["ip", "addr", "add", &wan, "dev", "wan"]);
        self.exec(&natns, &["ip", "link", "set", "wan", "up"]);
        run(&[
            "ip", "link", "add", "lan", "netns", &natns, "type", "veth", "peer", "name", "eth0",
            "netns", &laptop,
        ]);
        self.exec(&natns, &["ip", "addr", "add", "192.0.2.1/24", "dev", "lan"]);
        self.exec(&natns, &["ip", "link", "set", "lan", "up"]);
        self.exec(
            &laptop,
            &[
                "ip",
                "addr",
                "add",
                &format!("{LAPTOP_IP}/24"),
                "dev",
                "eth0",
            ],
        );
        self.exec(&laptop, &["ip", "link", "set", "eth0", "up"]);
        self.exec(
            &laptop,
            &["ip", "route", "add", "default", "via", "192.0.2.1"],
        );
        self.router(&natns, nat);
        laptop
    }

    /// Forwarding, masquerade, a home router's filtering and a 20 s UDP memory.
    fn router(&self, ns: &str, nat: Nat) {
        for (key, value) in [
            ("net.ipv4.ip_forward", "1"),
            ("net.netfilter.nf_conntrack_udp_timeout", "20"),
            ("net.netfilter.nf_conntrack_udp_timeout_stream", "20"),
        ] {
            self.exec(ns, &["sysctl", "-qw", &format!("{key}={value}")]);
        }
        let masquerade = match nat {
            Nat::Cone => "masquerade",
            Nat::Symmetric => "masquerade random,fully-random",
        };
        let rules = format!(
            "table ip nat {{\n chain post {{\n  type nat hook postrouting priority 100; oifname \"wan\" {masquerade}\n }}\n}}\n\
             table ip filter {{\n chain input {{\n  type filter hook input priority 0; policy drop; ct state established,related accept; iifname \"lan\" accept\n }}\n\
             chain forward {{\n  type filter hook forward priority 0; policy drop; iifname \"lan\" oifname \"wan\" accept; ct state established,related accept\n }}\n}}\n"
        );
        let path = std::env::temp_dir().join(format!("{ns}.nft"));
        std::fs::write(&path, rules).unwrap();
        self.exec(ns, &["nft", "-f", path.to_str().unwrap()]);
        let _ = std::fs::remove_file(path);
    }

    /// The laptop in `laptop` gets a new address in its home (a new lease, another Wi-Fi):
    /// the old one goes, and with it every NAT mapping made from it.
    pub fn readdress(&self, laptop: &str, ip: &str) {
        self.exec(
            laptop,
            &[
                "ip",
                "addr",
                "del",
                &format!("{LAPTOP_IP}/24"),
                "dev",
                "eth0",
            ],
        );
        self.exec(
            laptop,
            &["ip", "addr", "add", &format!("{ip}/24"), "dev", "eth0"],
        );
        self.exec(
            laptop,
            &["ip", "route", "add", "default", "via", "192.0.2.1"],
        );
    }

    /// The real `parley` binary, run in namespace `ns`.
    pub fn parley(&self, ns: &str, args: &[&str]) -> Proc {
        Proc::spawn_cmd(in_space(ns, super::proc::BIN).args(args))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.spaces.drain(..).rev() {
            // What still runs there (a program behind sudo outlives its killed sudo) goes first.
            let pids = as_root("ip").args(["netns", "pids", &ns]).output();
            for pid in pids
                .map(|o| o.stdout)
                .unwrap_or_default()
                .split(|b| *b == b'\n')
            {
                let pid = String::from_utf8_lossy(pid);
                if !pid.trim().is_empty() {
                    let _ = as_root("kill").args(["-9", pid.trim()]).status();
                }
            }
            let _ = as_root("ip").args(["netns", "del", &ns]).status();
        }
    }
}
