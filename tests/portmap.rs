//! Port mapping through a real router (issue 23): three network namespaces, a LAN with the
//! p2p seed, a router running Debian's miniupnpd (nftables: masquerade out, its own DNAT
//! chain in) and an Internet side running libtorrent. The seed maps its port, libtorrent
//! completes a fetch through the router's public address and the mapped port, and the
//! mapping is gone once the seed has exited: over UPnP IGD (with the port already taken by
//! another LAN host, so another is mapped) and over NAT-PMP alone. Needs root.

mod common;
use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const LAN_HOST: &str = "192.168.77.2";
const LAN_ROUTER: &str = "192.168.77.1";
/// miniupnpd maps only from a public address: this one exists only in the test's namespaces.
const WAN_ROUTER: &str = "5.5.5.1";
const WAN_HOST: &str = "5.5.5.2";

const RULES: &str = r#"
table inet filter {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "lan0" accept
    jump miniupnpd
  }
  chain miniupnpd {
  }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
    oifname "wan0" masquerade
  }
  chain prerouting_miniupnpd {
  }
  chain postrouting_miniupnpd {
  }
}
"#;

struct Network {
    lan: Namespace,
    router: Namespace,
    wan: Namespace,
    _miniupnpd: Proc,
}

/// The three namespaces and miniupnpd, speaking UPnP, NAT-PMP or both.
fn network(tag: &str, dir: &Path, upnp: bool, natpmp: bool) -> Network {
    let miniupnpd = require("miniupnpd", "miniupnpd-nftables");
    require("nft", "nftables");
    let lan = Namespace::new(&format!("{tag}l"), &[]);
    let router = Namespace::new(&format!("{tag}r"), &[]);
    let wan = Namespace::new(&format!("{tag}w"), &[]);
    link(&lan, "eth0", LAN_HOST, &router, "lan0", LAN_ROUTER);
    link(&wan, "eth0", WAN_HOST, &router, "wan0", WAN_ROUTER);
    let run = |cmd: &mut Command| {
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{cmd:?}: {}", stderr(&o));
    };
    run(Command::new("ip").args([
        "-n", &lan.name, "route", "add", "default", "via", LAN_ROUTER,
    ]));
    run(&mut router.command("sysctl", &["-qw", "net.ipv4.ip_forward=1"]));
    let rules = dir.join("router.nft");
    std::fs::write(&rules, RULES).unwrap();
    run(&mut router.command("nft", &["-f", rules.to_str().unwrap()]));
    let conf = dir.join("miniupnpd.conf");
    let yes = |b: bool| if b { "yes" } else { "no" };
    std::fs::write(
        &conf,
        format!(
            "ext_ifname=wan0\nlistening_ip=lan0\nhttp_port=0\nenable_upnp={}\n\
             enable_natpmp={}\nsecure_mode=no\nsystem_uptime=yes\n\
             uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07d\n\
             allow 1024-65535 192.168.77.0/24 1024-65535\ndeny 0-65535 0.0.0.0/0 0-65535\n",
            yes(upnp),
            yes(natpmp)
        ),
    )
    .unwrap();
    // Its own pid file: two routers of two tests run at once.
    let pid = dir.join("miniupnpd.pid");
    let mut cmd = router.command(
        miniupnpd.to_str().unwrap(),
        &[
            "-f",
            conf.to_str().unwrap(),
            "-d",
            "-P",
            pid.to_str().unwrap(),
        ],
    );
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let miniupnpd = Proc::spawn("miniupnpd", &mut cmd);
    let net = Network {
        lan,
        router,
        wan,
        _miniupnpd: miniupnpd,
    };
    // Up once it answers the way it was set up to.
    let ready = wait_until(Duration::from_secs(10), || {
        if upnp {
            upnpc(&net, &["-s"]).contains("ExternalIPAddress = 5.5.5.1")
        } else {
            let o = net
                .lan
                .command("natpmpc", &["-g", LAN_ROUTER])
                .output()
                .unwrap();
            stdout(&o).contains("Public IP address : 5.5.5.1")
        }
    });
    assert!(ready, "miniupnpd did not start");
    net
}

/// `upnpc ARGS` run on the LAN; its output.
fn upnpc(net: &Network, args: &[&str]) -> String {
    require("upnpc", "miniupnpc");
    let o = net.lan.command("upnpc", args).output().unwrap();
    stdout(&o)
}

/// The router's DNAT rules for `port`, as miniupnpd wrote them.
fn forwarded(net: &Network, port: u16) -> bool {
    let o = net
        .router
        .command(
            "nft",
            &["list", "chain", "inet", "filter", "prerouting_miniupnpd"],
        )
        .output()
        .unwrap();
    stdout(&o).contains(&format!("dport {port} dnat"))
}

/// The seed on the LAN, with the port mapping it logs; libtorrent on the Internet side
/// fetches through the router; then the seed stops and its mapping must be gone.
fn seed_reached_through_the_router(net: &Network, dir: &Path, via: &str, expect_port: u16) {
    let py = require_libtorrent();
    let (content, torrent) = make_content(dir, "f.bin", 2 << 20, "t@127.0.0.1:9", "64K");
    let json = dir.join("seed.json");
    let mut seed = spawn_logged_command(
        "seed",
        net.lan
            .p2p(&[
                "seed",
                torrent.to_str().unwrap(),
                "--dir",
                dir.to_str().unwrap(),
                "--listen",
                "0.0.0.0:6881",
                "--no-dht",
                "--json",
            ])
            .stdout(std::fs::File::create(&json).unwrap()),
    );
    let line = seed.wait_line(
        "port mapping: TCP and UDP port 6881",
        Duration::from_secs(20),
    );
    let public = format!("{WAN_ROUTER}:{expect_port}");
    assert!(
        line.contains(&format!("reachable at {public} (through {via}")),
        "{line}"
    );
    assert!(
        forwarded(net, expect_port),
        "the router forwards {expect_port}"
    );
    // --json tells it too.
    let record =
        format!("{{\"event\":\"port_mapped\",\"external\":\"{public}\",\"via\":\"{via}\"}}");
    assert!(
        wait_until(Duration::from_secs(5), || std::fs::read_to_string(&json)
            .is_ok_and(|j| j.contains(&record))),
        "{record} in {}",
        std::fs::read_to_string(&json).unwrap_or_default()
    );

    let out = dir.join("libtorrent");
    let mut fetch = net.wan.command(
        py,
        &[
            libtorrent_peer_script(),
            torrent.to_str().unwrap(),
            out.to_str().unwrap(),
            "7000",
            "--bind",
            WAN_HOST,
            "--fetch",
            "--timeout",
            "60",
            "--peer",
            &public,
        ],
    );
    fetch.stdout(Stdio::null());
    let mut fetch = Proc::spawn("libtorrent fetch", &mut fetch);
    assert!(
        fetch.wait_for(Duration::from_secs(90)).success(),
        "libtorrent on the Internet side did not complete through {public}"
    );
    assert_eq!(
        std::fs::read(out.join("f.bin")).unwrap(),
        std::fs::read(&content).unwrap()
    );
    seed.wait_line(&format!("{WAN_HOST}:"), Duration::from_secs(10));

    seed.proc.signal("TERM");
    assert!(seed.proc.wait_for(Duration::from_secs(20)).success());
    assert!(
        !forwarded(net, expect_port),
        "the mapping outlived the seed"
    );
}

#[test]
fn a_seed_behind_a_upnp_router_is_reached_from_the_internet() {
    let dir = tempfile::tempdir().unwrap();
    let net = network("pu", dir.path(), true, false);
    // Another LAN host holds TCP 6881 on the router: the seed maps the next port and says so.
    let taken = upnpc(&net, &["-a", "192.168.77.3", "6881", "6881", "TCP"]);
    assert!(
        upnpc(&net, &["-l"]).contains("6881->192.168.77.3:6881"),
        "{taken}"
    );
    seed_reached_through_the_router(&net, dir.path(), "UPnP", 6882);
    let left = upnpc(&net, &["-l"]);
    assert!(
        !left.contains("'p2p'"),
        "p2p's mappings outlived it: {left}"
    );
    assert!(
        left.contains("6881->192.168.77.3:6881"),
        "the other host's mapping stays"
    );
}

#[test]
fn a_seed_behind_a_nat_pmp_router_is_reached_from_the_internet() {
    let dir = tempfile::tempdir().unwrap();
    let net = network("pn", dir.path(), false, true);
    seed_reached_through_the_router(&net, dir.path(), "NAT-PMP", 6881);
}
