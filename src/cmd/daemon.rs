//! `p2p daemon`: the arguments checked and turned into the daemon's configuration; the node
//! itself is [`crate::daemon`].

use crate::cli::Daemon;
use crate::daemon::{self, http};
use crate::lifecycle::EngineConfig;
use crate::{Error, Result, rate, runtime, signal};
use std::path::PathBuf;

pub fn run(args: Daemon) -> Result<()> {
    crate::runtime::one_heap();
    let rpc = super::parse_addr("--rpc", &args.rpc)?;
    let listen = super::parse_addr("--listen", &args.listen)?;
    super::set_source(listen, args.interface.as_deref())?;
    let auth = args.rpc_auth.as_deref().map(read_auth).transpose()?;
    if !rpc.ip().is_loopback() && auth.is_none() && !args.rpc_no_auth {
        return Err(Error::BadArgument {
            what: "--rpc",
            value: args.rpc.clone(),
            reason: "is reachable from other hosts: give --rpc-auth USER:PASSWORD, or \
                     --rpc-no-auth to serve it without a password"
                .into(),
        });
    }
    let state_dir = args
        .state_dir
        .clone()
        .or_else(crate::dht::default_state_dir)
        .ok_or_else(|| Error::BadArgument {
            what: "--state-dir",
            value: String::new(),
            reason: "neither XDG_STATE_HOME nor HOME is set: give one".into(),
        })?;
    let home_downloads = std::env::var_os("HOME").map(|h| PathBuf::from(h).join("Downloads"));
    let default_download_dir = match (&args.download_dir, home_downloads) {
        (_, Some(d)) => d,
        (Some(d), None) => d.clone(),
        (None, None) => {
            return Err(Error::BadArgument {
                what: "--download-dir",
                value: String::new(),
                reason: "HOME is not set: give one".into(),
            });
        }
    };
    let download_dir = args
        .download_dir
        .clone()
        .map(|d| std::path::absolute(&d).unwrap_or(d));
    let config = daemon::Config {
        state_dir: state_dir.clone(),
        download_dir,
        default_download_dir,
        engine: EngineConfig {
            listen,
            encryption: crate::cli::parse_encryption(args.encryption.as_deref())?,
            utp: crate::cli::parse_utp(args.utp.as_deref())?,
            dht: super::dht_config(
                args.no_dht,
                &args.dht_bootstrap,
                Some(&state_dir),
                Vec::new(),
            ),
            port_mapping: !args.no_port_mapping,
            lsd: !args.no_lsd,
        },
        http: http::Config {
            listen: rpc,
            auth,
            web_home: args.web_home.clone(),
            hosts: args.rpc_host.clone(),
        },
        watch: args.watch.clone(),
        upload_limit: rate::parse_arg("--upload-limit", args.upload_limit.as_deref())?,
        download_limit: rate::parse_arg("--download-limit", args.download_limit.as_deref())?,
        seed_ratio: super::parse_ratio("--seed-ratio", args.seed_ratio.as_deref())?,
    };
    if let Some(home) = &config.http.web_home
        && !home.join("index.html").is_file()
    {
        return Err(Error::Input {
            path: home.clone(),
            reason: "holds no index.html: --web-home wants a web client's directory".into(),
        });
    }
    signal::install();
    runtime::block_on(daemon::run(config))
}

/// `USER:PASSWORD`, or `@FILE` whose first line is that.
fn read_auth(text: &str) -> Result<String> {
    let auth = match text.strip_prefix('@') {
        Some(file) => {
            let path = PathBuf::from(file);
            let bytes = crate::state_file::read(&path, 4096, crate::state_file::Links::Follow)
                .map_err(|source| Error::Io { path, source })?;
            String::from_utf8_lossy(&bytes)
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned()
        }
        None => text.to_owned(),
    };
    if !auth.contains(':') || auth.starts_with(':') {
        return Err(Error::BadArgument {
            what: "--rpc-auth",
            value: if text.starts_with('@') {
                text.into()
            } else {
                String::new()
            },
            reason: "expected USER:PASSWORD (or @FILE holding that line)".into(),
        });
    }
    Ok(auth)
}
