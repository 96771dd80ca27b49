//! The man page and README stay in step with `--help`.

mod common;
use common::*;
use std::process::Command;

fn subcommands() -> Vec<String> {
    let help = stdout(&p2p(&["--help"]));
    let start = help
        .find("Commands:")
        .expect("a Commands: section in --help");
    help[start..]
        .lines()
        .skip(1)
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

fn flags(help: &str) -> Vec<String> {
    help.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_alphanumeric())
                .to_string()
        })
        .collect()
}

#[test]
fn man_page_documents_every_subcommand_and_flag() {
    let man = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/p2p.1")).unwrap();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let subs = subcommands();
    assert!(subs.len() >= 2, "subcommands from --help: {subs:?}");
    for sub in &subs {
        assert!(
            man.contains(&format!(".Ss {sub}\n")),
            "man page has no section for `{sub}`"
        );
        assert!(
            readme.contains(&format!("p2p {sub}")),
            "README does not show `p2p {sub}`"
        );
        let help = stdout(&p2p(&[sub, "--help"]));
        for flag in flags(&help) {
            if flag == "--help" {
                continue;
            }
            // mdoc writes `--flag` as `Fl -flag`.
            let mdoc = format!("Fl -{}", &flag[2..]);
            assert!(man.contains(&mdoc), "man page lacks `{flag}` of `{sub}`");
        }
    }
}

#[test]
fn readme_usage_block_shows_every_flag() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find("## Usage").expect("a Usage section in README");
    let block = &readme[start..];
    let block = block.split("```").nth(1).expect("a code block under Usage");
    for sub in subcommands() {
        // The subcommand's line and its continuations (and the line seed and fetch share).
        let mut section = String::new();
        let mut inside = false;
        for line in block.lines() {
            if line.starts_with("p2p ") {
                inside = line.split_whitespace().nth(1) == Some(sub.as_str());
            }
            let shared = (line.contains("(seed and fetch:") && (sub == "seed" || sub == "fetch"))
                || (line.contains("(the daemon's clients, and verify ID:")
                    && [
                        "add", "list", "pause", "resume", "remove", "status", "verify",
                    ]
                    .contains(&sub.as_str()));
            if inside || shared {
                section.push_str(line);
                section.push('\n');
            }
        }
        assert!(
            !section.is_empty(),
            "README's Usage block has no `p2p {sub}` line"
        );
        // The options --help lists (argh puts each at the start of a line indented two spaces),
        // not the flags descriptions mention on their deeper-indented lines.
        let help = stdout(&p2p(&[&sub, "--help"]));
        for line in help
            .lines()
            .filter_map(|l| l.strip_prefix("  "))
            .filter(|l| l.starts_with("--"))
        {
            let Some(flag) = line
                .split_whitespace()
                .next()
                .filter(|w| w.starts_with("--"))
            else {
                continue;
            };
            let flag = flag.trim_end_matches(',');
            if flag == "--help" {
                continue;
            }
            assert!(
                section.contains(&format!("{flag} ")) || section.contains(&format!("{flag}]")),
                "README's Usage line for `{sub}` lacks `{flag}`"
            );
        }
    }
}

#[test]
fn man_page_is_lint_clean() {
    let mandoc = require("mandoc", "mandoc");
    let o = Command::new(mandoc)
        .args(["-Tlint", "-W", "warning"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/man/p2p.1"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "mandoc -Tlint: {}{}",
        stdout(&o),
        stderr(&o)
    );
}
