//! SHA-256 speed, for benches/sha256.sh: hashes FILE (read into memory first) with p2p's
//! SHA-256 on the path the processor takes (SHA-NI where it has it) and on the portable path,
//! ROUNDS times each, alternating, and prints the median seconds and GB/s of each.
//!
//! Usage: cargo bench --bench sha256 -- FILE [ROUNDS=3]

use p2p::hash::{Sha256, sha256};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let file = args.first().expect("usage: sha256 FILE [ROUNDS]");
    let rounds: usize = args.get(1).map_or(3, |r| r.parse().expect("ROUNDS"));
    let data = std::fs::read(file).expect("reading FILE");
    let (mut native, mut portable) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        let a = sha256(&data);
        native.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut h = Sha256::portable();
        h.update(&data);
        let b = h.finish();
        portable.push(t.elapsed().as_secs_f64());
        assert_eq!(a, b, "the two paths disagree");
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let gb = data.len() as f64 / 1e9;
    let (n, p) = (median(&mut native), median(&mut portable));
    println!("p2p sha256 (run-time choice): {n:.3} s, {:.2} GB/s", gb / n);
    println!("p2p sha256 (portable):        {p:.3} s, {:.2} GB/s", gb / p);
}
