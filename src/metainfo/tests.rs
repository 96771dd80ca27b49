//! Reading torrents: valid ones, hostile ones, and what each field becomes.
use super::*;
use crate::bencode::Bencode;

fn info_dict(extra: Vec<(&str, Bencode)>) -> Bencode {
    let mut entries: Vec<(&str, Bencode)> = vec![
        ("name", Bencode::str("file.bin")),
        ("piece length", Bencode::Int(16384)),
        ("pieces", Bencode::Bytes(vec![7; 40])),
        ("length", Bencode::Int(20000)),
    ];
    for (k, v) in extra {
        entries.retain(|(key, _)| *key != k);
        entries.push((k, v));
    }
    entries.into_iter().collect()
}

fn torrent(info: Bencode) -> Vec<u8> {
    [
        ("announce", Bencode::str("http://t/announce")),
        ("info", info),
    ]
    .into_iter()
    .collect::<Bencode>()
    .encode()
}

fn error_of(info: Bencode) -> String {
    Torrent::from_bytes(&torrent(info)).unwrap_err().to_string()
}

#[test]
fn reads_single_file_torrent() {
    let bytes = torrent(info_dict(vec![]));
    let t = Torrent::from_bytes(&bytes).unwrap();
    assert_eq!(t.info.name, "file.bin");
    assert_eq!(t.info.total_length(), 20000);
    assert_eq!(t.info.piece_count(), 2);
    assert!(!t.info.multi_file);
    assert_eq!(
        t.tracker_tiers(),
        vec![vec!["http://t/announce".to_string()]]
    );
}

#[test]
fn info_hash_is_over_raw_bytes_with_unknown_keys_and_any_order() {
    // Keys out of order plus an unknown key: the hash must cover the bytes as found.
    let raw_info = b"d6:lengthi20000e4:name8:file.bin12:piece lengthi16384e6:pieces40:\
AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1:xi1e5:aaaaa1:ze";
    let mut file = b"d8:announce3:url4:info".to_vec();
    file.extend_from_slice(raw_info);
    file.push(b'e');
    let t = Torrent::from_bytes(&file).unwrap();
    assert_eq!(t.info_hash, InfoHash(sha1(raw_info)));
}

#[test]
fn two_files_at_one_path_are_refused_naming_it() {
    let file = |p: &[&str]| -> Bencode {
        [
            ("length", Bencode::Int(5)),
            (
                "path",
                Bencode::List(p.iter().map(|c| Bencode::str(c)).collect()),
            ),
        ]
        .into_iter()
        .collect()
    };
    let torrent = |files: Vec<Bencode>| {
        let info: Bencode = [
            ("name", Bencode::str("dir")),
            ("piece length", Bencode::Int(16384)),
            ("pieces", Bencode::Bytes(vec![1; 20])),
            ("files", Bencode::List(files)),
        ]
        .into_iter()
        .collect();
        Torrent::from_bytes(&[("info", info)].into_iter().collect::<Bencode>().encode())
    };
    let e = torrent(vec![file(&["a", "b"]), file(&["c"]), file(&["a", "b"])])
        .err()
        .unwrap();
    assert_eq!(e.to_string(), "file path \"a/b\" appears twice");
    assert!(torrent(vec![file(&["a", "b"]), file(&["a", "c"]), file(&["b"])]).is_ok());
}

#[test]
fn reads_multi_file_and_announce_list() {
    let files = Bencode::List(vec![
        [
            ("length", Bencode::Int(5)),
            (
                "path",
                Bencode::List(vec![Bencode::str("a"), Bencode::str("b.txt")]),
            ),
        ]
        .into_iter()
        .collect(),
        [
            ("length", Bencode::Int(0)),
            ("path", Bencode::List(vec![Bencode::str("empty")])),
        ]
        .into_iter()
        .collect(),
    ]);
    let info = [
        ("name", Bencode::str("dir")),
        ("piece length", Bencode::Int(16384)),
        ("pieces", Bencode::Bytes(vec![1; 20])),
        ("files", files),
        ("private", Bencode::Int(1)),
    ]
    .into_iter()
    .collect();
    let tiers = Bencode::List(vec![
        Bencode::List(vec![
            Bencode::str("udp://a:1"),
            Bencode::str("http://b/announce"),
        ]),
        Bencode::List(vec![Bencode::str("http://c/announce")]),
    ]);
    let bytes = [
        ("info", info),
        ("announce-list", tiers),
        ("announce", Bencode::str("x")),
    ]
    .into_iter()
    .collect::<Bencode>()
    .encode();
    let t = Torrent::from_bytes(&bytes).unwrap();
    assert!(t.info.multi_file && t.info.private);
    assert_eq!(t.info.files[0].path, vec!["a", "b.txt"]);
    assert_eq!(
        t.info.file_path(&t.info.files[0]),
        PathBuf::from("dir/a/b.txt")
    );
    assert_eq!(t.tracker_tiers().len(), 2);
    assert_eq!(t.tracker_tiers()[0][0], "udp://a:1");
}

#[test]
fn validation_errors_name_the_field() {
    assert!(
        error_of(info_dict(vec![("pieces", Bencode::Bytes(vec![0; 39]))]))
            .contains("multiple of 20")
    );
    assert!(
        error_of(info_dict(vec![("pieces", Bencode::Bytes(vec![0; 60]))]))
            .contains("holds 3 hashes")
    );
    assert!(error_of(info_dict(vec![("piece length", Bencode::Int(0))])).contains("piece length"));
    assert!(error_of(info_dict(vec![("piece length", Bencode::Int(-5))])).contains("negative"));
    assert!(error_of(info_dict(vec![("length", Bencode::Int(-1))])).contains("negative"));
    assert!(error_of(info_dict(vec![("name", Bencode::Int(3))])).contains("info.name"));
    let long = "n".repeat(256);
    for bad in ["..", ".", "", "a/b", "a\0b", "a\\b", &long] {
        let e = error_of(info_dict(vec![("name", Bencode::str(bad))]));
        assert!(e.contains("unsafe file path"), "{bad:?}: {e}");
    }
    assert!(error_of(info_dict(vec![("name", Bencode::str(&long))])).contains("255 bytes"));
    let longest = "n".repeat(255);
    assert!(
        Torrent::from_bytes(&torrent(info_dict(vec![("name", Bencode::str(&longest))]))).is_ok()
    );
    assert!(
        Torrent::from_bytes(b"le")
            .unwrap_err()
            .to_string()
            .contains("not a bencoded dictionary")
    );
    assert!(
        Torrent::from_bytes(b"de")
            .unwrap_err()
            .to_string()
            .contains("missing field `info`")
    );
}

#[test]
fn multi_file_paths_cannot_escape() {
    let long = "é".repeat(128);
    for path in [
        vec!["..", "etc"],
        vec!["a", ".."],
        vec![],
        vec!["/abs"],
        vec!["dir", &long],
    ] {
        let files = Bencode::List(vec![
            [
                ("length", Bencode::Int(20000)),
                (
                    "path",
                    Bencode::List(path.iter().map(|c| Bencode::str(c)).collect()),
                ),
            ]
            .into_iter()
            .collect(),
        ]);
        let mut info = info_dict(vec![("files", files)]);
        if let Bencode::Dict(d) = &mut info {
            d.remove(&b"length"[..]);
        }
        let e = error_of(info);
        assert!(e.contains("unsafe file path"), "{path:?}: {e}");
    }
}

/// A multi-file `info` with `files` as given and `pieces` hashes.
fn multi_file_info(files: Bencode, pieces: usize) -> Bencode {
    [
        ("name", Bencode::str("dir")),
        ("piece length", Bencode::Int(16384)),
        ("pieces", Bencode::Bytes(vec![7; 20 * pieces])),
        ("files", files),
    ]
    .into_iter()
    .collect()
}

#[test]
fn padding_files_are_gaps_not_files() {
    // libtorrent's layout (BEP 47): two 10,000-byte files, each padded to its 16 KiB piece;
    // the two pads share one path, which is no clash since they are never on disk.
    let file = |path: &[&str], length: i64, attr: Option<&str>| -> Bencode {
        let mut entry = vec![
            ("length", Bencode::Int(length)),
            (
                "path",
                Bencode::List(path.iter().map(|c| Bencode::str(c)).collect()),
            ),
        ];
        if let Some(a) = attr {
            entry.push(("attr", Bencode::str(a)));
        }
        entry.into_iter().collect()
    };
    let files = Bencode::List(vec![
        file(&["a"], 10_000, None),
        file(&[".pad", "6384"], 6384, Some("p")),
        file(&["run.sh"], 10_000, Some("xh")),
        file(&[".pad", "6384"], 6384, Some("p")),
    ]);
    let t =
        Torrent::from_bytes(&torrent(multi_file_info(files, 2))).unwrap_or_else(|e| panic!("{e}"));
    let i = &t.info;
    assert_eq!(i.files.len(), 2);
    assert_eq!((i.files[0].offset, i.files[1].offset), (0, 16384));
    assert_eq!(i.files[1].path, ["run.sh"]);
    assert!(i.files[1].executable && !i.files[0].executable);
    assert_eq!(i.total_length(), 20_000);
    assert_eq!(i.stream_length, 32768);
    assert_eq!(i.layout().spans(16384, 16384)[0].file, 1);
    assert_eq!(i.piece_count(), 2);
}

#[test]
fn a_torrent_of_nothing_but_padding_is_refused() {
    let pad = [
        ("attr", Bencode::str("p")),
        ("length", Bencode::Int(16384)),
        ("path", Bencode::List(vec![Bencode::str(".pad")])),
    ]
    .into_iter()
    .collect();
    let e = error_of(multi_file_info(Bencode::List(vec![pad]), 1));
    assert!(e.contains("info.files") && e.contains("no file"), "{e}");
}

#[test]
fn urls_that_could_inject_into_a_request_are_dropped() {
    let bytes = [
        ("announce", Bencode::str("http://t/announce\r\nX-Evil: 1")),
        (
            "announce-list",
            Bencode::List(vec![
                Bencode::List(vec![Bencode::str("http://t/a b")]),
                Bencode::List(vec![Bencode::str("udp://t:80")]),
            ]),
        ),
        ("info", info_dict(vec![])),
        (
            "url-list",
            Bencode::List(vec![
                Bencode::str("http://w/x\r\nHost: other"),
                Bencode::str("http://w/ok/"),
                Bencode::str("javascript:alert(1)"),
            ]),
        ),
    ]
    .into_iter()
    .collect::<Bencode>()
    .encode();
    let t = Torrent::from_bytes(&bytes).unwrap();
    assert_eq!(t.url_list, ["http://w/ok/"]);
    assert_eq!(t.tracker_tiers(), [["udp://t:80"]]);
    let only_bad = Torrent {
        announce_list: Vec::new(),
        ..t
    };
    assert!(only_bad.tracker_tiers().is_empty());
}
