//! The `p2p` binary: parse the command line, set up logging, run, map the outcome to an exit code
//! (0 success, 1 error, 2 usage error: an unknown flag, a missing argument, a malformed magnet link).

use argh::FromArgs;
use std::io::{IsTerminal, Write};

/// Standard error for log records on a terminal: each record first clears the line, so that
/// it does not land after a half-drawn status line (see `p2p::progress::ProgressLine`).
struct OverStatusLine;

impl Write for OverStatusLine {
    fn write(&mut self, record: &[u8]) -> std::io::Result<usize> {
        let mut err = std::io::stderr().lock();
        err.write_all(b"\r\x1b[K")?;
        err.write_all(record)?;
        p2p::progress::OVERWRITTEN.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(record.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn main() {
    let args = parse_args();
    let mut logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    logger.format_timestamp_millis();
    if std::io::stderr().is_terminal() {
        // A log line takes the place of a status line being redrawn, which is drawn again
        // under it at the next tick.
        logger.target(env_logger::Target::Pipe(Box::new(OverStatusLine)));
        // Colours as on a terminal, unless NO_COLOR or RUST_LOG_STYLE says otherwise.
        let asked = |v| std::env::var_os(v).is_some_and(|v| !v.is_empty());
        if !asked("NO_COLOR") && !asked("RUST_LOG_STYLE") {
            logger.write_style(env_logger::WriteStyle::Always);
        }
    }
    logger.init();
    if let Err(error) = p2p::run(args) {
        eprintln!("p2p: error: {error}");
        std::process::exit(error.exit_code());
    }
}

fn parse_args() -> p2p::cli::Args {
    let strings: Vec<String> = match std::env::args_os().map(|a| a.into_string()).collect() {
        Ok(strings) => strings,
        Err(bad) => {
            eprintln!("p2p: error: argument {bad:?} is not UTF-8");
            std::process::exit(2);
        }
    };
    let (command, rest) = strings.split_first().expect("argv has the program name");
    if matches!(
        rest.first().map(String::as_str),
        Some("--version" | "-V" | "version")
    ) {
        p2p::outln!("{}", p2p::version());
        std::process::exit(0);
    }
    // `-h` as `--help`, and a bare `p2p` shows the commands with what they do.
    let rest: Vec<String> = if rest.is_empty() {
        vec!["--help".into()]
    } else {
        rest.iter()
            .map(|a| {
                if a == "-h" {
                    "--help".into()
                } else {
                    a.clone()
                }
            })
            .collect()
    };
    let bare = strings.len() == 1;
    let command = std::path::Path::new(command)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("p2p");
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    match p2p::cli::Args::from_args(&[command], &rest) {
        Ok(args) => args,
        Err(exit) => match exit.status {
            Ok(()) if bare => {
                eprintln!("{}", exit.output);
                std::process::exit(2);
            }
            Ok(()) => {
                p2p::outln!("{}", exit.output);
                std::process::exit(0);
            }
            Err(()) => {
                let sub = rest.iter().find(|a| !a.starts_with('-'));
                eprintln!("p2p: error: {}", usage_error(&exit.output, sub.copied()));
                std::process::exit(2);
            }
        },
    }
}

/// argh's usage error (a few lines: "Unrecognized argument: --foo", "Required positional
/// arguments not provided:\n    torrent") as one line, with where to look.
fn usage_error(output: &str, subcommand: Option<&str>) -> String {
    let parts: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut text = parts.join(" ");
    if let Some(first) = text.get(..1) {
        text.replace_range(..1, &first.to_lowercase());
    }
    let text = text.trim_end_matches('.');
    match subcommand {
        // "unrecognized argument: frobnicate": the command itself is unknown.
        Some(sub) if !text.ends_with(&format!(": {sub}")) => {
            format!("{text} (`p2p {sub} --help` lists its options)")
        }
        _ => format!("{text} (`p2p --help` lists the commands)"),
    }
}
