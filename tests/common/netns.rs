//! A test host of our own: a network namespace whose loopback carries the addresses a test
//! asks for (in 198.18.0.0/15, the range set aside for benchmarking), deleted on drop. For what
//! 127.0.0.0/8 cannot show: many hosts in distinct /24s, remote (non-loopback) sources. Needs
//! root and iproute2.

use super::clients::require;
use super::process::{BIN, fresh_state_dir, stderr};
use std::process::Command;

pub struct Namespace {
    pub name: String,
}

impl Namespace {
    pub fn new(tag: &str, addrs: &[&str]) -> Namespace {
        let ip = require("ip", "iproute2");
        unsafe extern "C" {
            fn geteuid() -> u32;
        }
        // SAFETY: geteuid(2) has no preconditions.
        assert_eq!(
            unsafe { geteuid() },
            0,
            "this test makes a network namespace and needs root (CI runs as root)"
        );
        let ns = Namespace {
            name: format!("p2p{}{tag}", std::process::id()),
        };
        let run = |args: &[&str]| {
            let o = Command::new(&ip).args(args).output().unwrap();
            assert!(o.status.success(), "ip {}: {}", args.join(" "), stderr(&o));
        };
        run(&["netns", "add", &ns.name]);
        run(&["-n", &ns.name, "link", "set", "lo", "up"]);
        for a in addrs {
            run(&[
                "-n",
                &ns.name,
                "addr",
                "add",
                &format!("{a}/32"),
                "dev",
                "lo",
            ]);
        }
        ns
    }

    /// `program ARGS...` run inside the namespace (`ip netns exec` execs it: its PID is the
    /// program's).
    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]).args(args);
        cmd
    }

    /// `p2p ARGS...` inside the namespace, with a state directory of its own.
    pub fn p2p(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(BIN, args);
        cmd.env("XDG_STATE_HOME", fresh_state_dir());
        cmd
    }
}

/// A veth pair from `a` (`a_dev`, `a_ip`/24) to `b` (`b_dev`, `b_ip`/24), both up.
pub fn link(a: &Namespace, a_dev: &str, a_ip: &str, b: &Namespace, b_dev: &str, b_ip: &str) {
    let run = |args: &[&str]| {
        let o = Command::new("ip").args(args).output().unwrap();
        assert!(o.status.success(), "ip {}: {}", args.join(" "), stderr(&o));
    };
    run(&[
        "-n", &a.name, "link", "add", a_dev, "type", "veth", "peer", "name", b_dev, "netns",
        &b.name,
    ]);
    for (ns, dev, ip) in [(a, a_dev, a_ip), (b, b_dev, b_ip)] {
        run(&[
            "-n",
            &ns.name,
            "addr",
            "add",
            &format!("{ip}/24"),
            "dev",
            dev,
        ]);
        run(&["-n", &ns.name, "link", "set", dev, "up"]);
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
