//! `p2p demo`, the README's first command, end to end.

mod common;
use common::*;

#[test]
fn demo_shares_a_file_among_fetchers_and_reports() {
    let o = p2p(&["demo", "--size", "3M", "--peers", "3"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(out.contains("1 seed and 3 fetchers"), "{out}");
    assert!(out.contains("done: 3 fetchers each got 3.0 MiB"), "{out}");
    assert!(out.contains("every copy verified identical"), "{out}");
    assert!(out.contains("uploads: the seed sent"), "{out}");
}

#[test]
fn demo_rejects_bad_sizes_and_counts() {
    assert_usage_error(&p2p(&["demo", "--size", "0"]), "--size `0`");
    assert_usage_error(&p2p(&["demo", "--size", "lots"]), "--size `lots`");
    assert_usage_error(&p2p(&["demo", "--peers", "0"]), "--peers `0`");
    assert_usage_error(&p2p(&["demo", "--peers", "33"]), "--peers `33`");
}
