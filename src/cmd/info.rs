//! `p2p info`: what a torrent holds, for people and for tests.

use crate::Result;
use crate::cli::Info;
use crate::metainfo::Torrent;
use crate::progress;

pub fn run(args: Info) -> Result<()> {
    let t = Torrent::load(&args.torrent)?;
    let info = &t.info;
    let total = info.total_length();
    let mut out = String::new();
    let mut line = |key: &str, value: String| out.push_str(&format!("{key:<14}{value}\n"));
    line("name:", info.name.clone());
    line("info-hash:", t.info_hash.hex());
    line(
        "total size:",
        format!("{total} bytes ({})", progress::bytes(total)),
    );
    line(
        "piece length:",
        format!(
            "{} bytes ({})",
            info.piece_length,
            progress::bytes(info.piece_length)
        ),
    );
    line("pieces:", info.piece_count().to_string());
    line("private:", if info.private { "yes" } else { "no" }.into());
    for (i, tier) in t.tracker_tiers().iter().enumerate() {
        line(if i == 0 { "trackers:" } else { "" }, tier.join(" "));
    }
    if let Some(c) = &t.comment {
        line("comment:", c.clone());
    }
    if let Some(c) = &t.created_by {
        line("created by:", c.clone());
    }
    line("files:", info.files.len().to_string());
    for file in &info.files {
        out.push_str(&format!(
            "  {:>14}  {}\n",
            file.length,
            info.file_path(file).display()
        ));
    }
    print!("{out}");
    Ok(())
}
