//! The layers `src/lib.rs` states, checked: every `crate::…` path in src/ (outside unit tests)
//! names a top-level module at the same layer or below its own, and no two top-level modules
//! import each other, directly or around a loop. A new module must be given its layer here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Bottom first. A module may import its own layer and those below.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "codecs and leaves",
        &[
            "address",
            "base64",
            "bencode",
            "bitfield",
            "escape",
            "fairness",
            "glob",
            "hash",
            "http1",
            "json",
            "layout",
            "net",
            "progress",
            "random",
            "rate",
            "runtime",
            "signal",
            "state_file",
            "url",
            "wire",
        ],
    ),
    (
        "what a torrent is",
        &["metainfo", "magnet", "selection", "resume"],
    ),
    (
        "parts",
        &[
            "piece_store",
            "picker",
            "extensions",
            "tracker",
            "dht",
            "portmap",
            "lsd",
            "utp",
        ],
    ),
    (
        "connections and making torrents",
        &["peer", "webseed", "create_torrent"],
    ),
    ("the torrent owner", &["torrent"]),
    ("the node", &["session"]),
    ("the lifecycle", &["lifecycle"]),
    ("the daemon", &["daemon"]),
    ("commands", &["cmd", "cli", "error", "fuzzing"]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

/// Top-level module of each file under `src/` → its source up to the first `#[cfg(test)]`.
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).unwrap();
                let first = rel.components().next().unwrap().as_os_str();
                let module = first.to_str().unwrap().trim_end_matches(".rs").to_string();
                let text = std::fs::read_to_string(&path).unwrap();
                let body = text.split("#[cfg(test)]").next().unwrap().to_string();
                out.push((module, body));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out
}

/// The top-level modules a source names through `crate::name` or `use crate::{name, …}`.
fn named(body: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let word = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect()
    };
    for (i, _) in body.match_indices("crate::") {
        let rest = &body[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find("};").unwrap_or(group.len())];
            for item in group.split(',') {
                found.insert(word(item.trim()));
            }
        } else {
            found.insert(word(rest));
        }
    }
    found.retain(|m| modules.contains(m));
    found
}

/// Every loop a depth-first search meets (an edge back to a module on its own path).
fn loops(modules: &BTreeSet<String>, edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        loops: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == m) {
            loops.push(format!("a loop: {} -> {m}", path[at..].join(" -> ")));
            return;
        }
        if !done.insert(m.to_string()) {
            return;
        }
        path.push(m.to_string());
        for t in edges.get(m).into_iter().flatten() {
            visit(t, edges, path, done, loops);
        }
        path.pop();
    }
    let (mut done, mut found) = (BTreeSet::new(), Vec::new());
    for m in modules {
        visit(m, edges, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

#[test]
fn no_module_imports_one_above_it_and_none_import_each_other() {
    let files = sources();
    let modules: BTreeSet<String> = files
        .iter()
        .map(|(m, _)| m.clone())
        .filter(|m| m != "main" && m != "lib")
        .collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for module in &modules {
        if layer_of(module).is_none() {
            wrong.push(format!("{module}: not given a layer in tests/layers.rs"));
        }
    }
    for (module, body) in &files {
        let Some(own) = layer_of(module) else {
            continue;
        };
        for target in named(body, &modules) {
            if &target == module {
                continue;
            }
            if let Some(theirs) = layer_of(&target)
                && theirs > own
            {
                wrong.push(format!(
                    "{module} ({}) imports {target} ({}), a layer above it",
                    LAYERS[own].0, LAYERS[theirs].0
                ));
            }
            edges.entry(module.clone()).or_default().insert(target);
        }
    }
    // Within a layer: no loop.
    wrong.extend(loops(&modules, &edges));
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn the_check_sees_an_upward_import_and_a_loop() {
    let modules: BTreeSet<String> = ["wire", "metainfo", "tracker"].map(String::from).into();
    assert_eq!(
        named("use crate::metainfo::InfoHash;", &modules),
        BTreeSet::from(["metainfo".to_string()])
    );
    assert_eq!(
        named(
            "use crate::{Error, tracker::proto::x, wire};\nfn f() { crate::nothing::g() }",
            &modules
        ),
        BTreeSet::from(["tracker".to_string(), "wire".to_string()])
    );
    assert!(layer_of("wire") < layer_of("metainfo"));
    let edges = BTreeMap::from([
        ("wire".to_string(), BTreeSet::from(["tracker".to_string()])),
        (
            "tracker".to_string(),
            BTreeSet::from(["metainfo".to_string()]),
        ),
        (
            "metainfo".to_string(),
            BTreeSet::from(["tracker".to_string()]),
        ),
    ]);
    assert_eq!(
        loops(&modules, &edges),
        ["a loop: metainfo -> tracker -> metainfo"]
    );
}
