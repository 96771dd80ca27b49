//! Shell-style patterns over a torrent's file paths, for `make-torrent --exclude` and
//! `fetch --only/--skip`. `*` is any run of characters but `/`, `**` any run at all, `?` one
//! character but `/`, `[abc]`, `[a-z]` and `[!x]` one character of (or not of) a class; `\`
//! takes the next character as it is. A pattern without `/` is tried on every component of a
//! path (so `*.nfo` names files and `.git` a whole directory); one with `/` on the whole path
//! inside the torrent (`Season 1/*.mkv`), and on each directory above it.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: Vec<char>,
    anchored: bool,
}

impl Glob {
    /// Any text is a pattern; an unclosed `[` is taken literally.
    pub fn new(pattern: &str) -> Glob {
        let trimmed = pattern.trim_start_matches("./").trim_matches('/');
        Glob {
            pattern: trimmed.chars().collect(),
            anchored: trimmed.contains('/'),
        }
    }

    /// Whether the pattern names `components` (a path inside the torrent, component by
    /// component) or a directory it lies in.
    pub fn matches(&self, components: &[String]) -> bool {
        if self.anchored {
            // A pattern naming a directory takes what is below it too.
            (1..=components.len()).any(|n| {
                let prefix: Vec<char> = components[..n].join("/").chars().collect();
                matches(&self.pattern, &prefix)
            })
        } else {
            components
                .iter()
                .any(|c| matches(&self.pattern, &c.chars().collect::<Vec<_>>()))
        }
    }
}

/// Backtracking match of `p` against all of `t`.
fn matches(p: &[char], t: &[char]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some('*') => {
            let deep = p.get(1) == Some(&'*');
            let rest = if deep { &p[2..] } else { &p[1..] };
            // `**/` also matches no directory at all.
            if deep && rest.first() == Some(&'/') && matches(&rest[1..], t) {
                return true;
            }
            for skip in 0..=t.len() {
                if matches(rest, &t[skip..]) {
                    return true;
                }
                if skip < t.len() && t[skip] == '/' && !deep {
                    return false;
                }
            }
            false
        }
        Some('?') => t.first().is_some_and(|&c| c != '/') && matches(&p[1..], &t[1..]),
        Some('[') => match class(&p[1..]) {
            Some((set, negated, used)) => {
                t.first().is_some_and(|&c| {
                    c != '/' && set.iter().any(|&(lo, hi)| lo <= c && c <= hi) != negated
                }) && matches(&p[1 + used..], &t[1..])
            }
            None => t.first() == Some(&'[') && matches(&p[1..], &t[1..]),
        },
        Some('\\') if p.len() > 1 => t.first() == Some(&p[1]) && matches(&p[2..], &t[1..]),
        Some(&c) => t.first() == Some(&c) && matches(&p[1..], &t[1..]),
    }
}

/// A class after its `[`: the ranges, whether negated, and the characters used including `]`.
type Class = (Vec<(char, char)>, bool, usize);

fn class(p: &[char]) -> Option<Class> {
    let negated = matches!(p.first(), Some('!') | Some('^'));
    let mut i = negated as usize;
    let mut set = Vec::new();
    let mut first = true;
    while i < p.len() {
        let c = p[i];
        if c == ']' && !first {
            return Some((set, negated, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&e| e != ']') {
            set.push((c, p[i + 2]));
            i += 3;
        } else {
            set.push((c, c));
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('/').map(String::from).collect()
    }

    #[test]
    fn names_match_any_component_and_paths_match_from_the_top() {
        let g = Glob::new("*.nfo");
        assert!(g.matches(&path("info.nfo")));
        assert!(g.matches(&path("a/b/info.nfo")));
        assert!(!g.matches(&path("a/info.nfo.txt")));
        let git = Glob::new(".git");
        assert!(git.matches(&path(".git/objects/ab")));
        assert!(!git.matches(&path("x.git")));
        let anchored = Glob::new("Season 1/*.mkv");
        assert!(anchored.matches(&path("Season 1/e01.mkv")));
        assert!(!anchored.matches(&path("Season 1/sub/e01.mkv")));
        assert!(!anchored.matches(&path("x/Season 1/e01.mkv")));
        assert!(Glob::new("Season 1/**/*.mkv").matches(&path("Season 1/sub/e01.mkv")));
        assert!(Glob::new("Season 1/**/*.mkv").matches(&path("Season 1/e01.mkv")));
        assert!(Glob::new("a/b").matches(&path("a/b/c/d")), "a directory");
        assert!(Glob::new("./a/b/").matches(&path("a/b/c")));
        assert!(!Glob::new("a/b").matches(&path("a/bc")));
    }

    #[test]
    fn wildcards_and_classes() {
        let m = |p: &str, t: &str| Glob::new(p).matches(&path(t));
        assert!(m("e0?.mkv", "e01.mkv"));
        assert!(!m("e0?.mkv", "e1.mkv"));
        assert!(m("e[0-2]1.*", "e21.txt"));
        assert!(!m("e[!0-2]1.*", "e21.txt"));
        assert!(m("e[!0-2]1.*", "e31.txt"));
        assert!(m("[]]", "]"));
        assert!(m("a[b", "a[b"), "an unclosed class is literal");
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "x"));
        assert!(m("*", "anything"));
        assert!(m("**", "a/b/c"));
        assert!(!m("a*c", "a/c/x"), "`*` stops at `/`");
        assert!(m("a/*", "a/b/c"), "a/b is a directory the pattern names");
        assert!(!m("*a*a*a*b", &"a".repeat(30)));
    }
}
