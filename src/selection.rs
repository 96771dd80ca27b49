//! Which files of a torrent a fetch takes (`--only`, `--skip`), and what that means in pieces:
//! the pieces it wants (those touching a selected file) and, among them, the pieces that
//! straddle a selected and an unselected file — kept whole in the part file, so that nothing of
//! an unselected file appears under the output directory. Pure: the piece store and the picker
//! act on what this computes.

use crate::bitfield::Bitfield;
use crate::glob::Glob;
use crate::layout::Layout;
use crate::metainfo::Info;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    files: Vec<bool>,
}

/// One `--only` or `--skip` value: file numbers as `info` lists them (`2`, `1-3,7`), or a
/// pattern.
#[derive(Debug, Clone)]
enum Rule {
    Numbers(Vec<(usize, usize)>),
    Pattern(Glob),
}

impl Rule {
    fn parse(text: &str) -> Rule {
        let numbers = !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == '-');
        if numbers {
            let ranges: Option<Vec<(usize, usize)>> = text
                .split(',')
                .map(|part| match part.split_once('-') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => part.parse().ok().map(|n| (n, n)),
                })
                .collect();
            if let Some(ranges) = ranges {
                return Rule::Numbers(ranges);
            }
        }
        Rule::Pattern(Glob::new(text))
    }

    /// `number` is 1-based, as `info` lists files.
    fn matches(&self, number: usize, full: &[String], inner: &[String]) -> bool {
        match self {
            Rule::Numbers(ranges) => ranges.iter().any(|&(a, b)| a <= number && number <= b),
            Rule::Pattern(g) => g.matches(full) || (!inner.is_empty() && g.matches(inner)),
        }
    }
}

impl Selection {
    pub fn all(files: usize) -> Selection {
        Selection {
            files: vec![true; files],
        }
    }

    /// Files matching any of `only` (every file when it is empty) and none of `skip`. A
    /// pattern is tried on the path inside the torrent and on it under the torrent's name.
    pub fn new(info: &Info, only: &[String], skip: &[String]) -> Selection {
        let only: Vec<Rule> = only.iter().map(|t| Rule::parse(t)).collect();
        let skip: Vec<Rule> = skip.iter().map(|t| Rule::parse(t)).collect();
        let files = info
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let inner: Vec<String> = if info.multi_file {
                    f.path.clone()
                } else {
                    Vec::new()
                };
                let mut full = vec![info.name.clone()];
                full.extend(inner.iter().cloned());
                let hit = |rules: &[Rule]| rules.iter().any(|r| r.matches(i + 1, &full, &inner));
                (only.is_empty() || hit(&only)) && !hit(&skip)
            })
            .collect();
        Selection { files }
    }

    pub fn from_flags(files: Vec<bool>) -> Selection {
        Selection { files }
    }

    pub fn flags(&self) -> &[bool] {
        &self.files
    }

    pub fn is_selected(&self, file: usize) -> bool {
        self.files.get(file).copied().unwrap_or(false)
    }

    pub fn is_all(&self) -> bool {
        self.files.iter().all(|&s| s)
    }

    pub fn count(&self) -> usize {
        self.files.iter().filter(|&&s| s).count()
    }

    /// Pieces holding bytes of a selected file.
    pub fn wanted(&self, layout: &Layout) -> Bitfield {
        // Every file (a fetch without --only/--skip): no need to look at each piece.
        if self.is_all() {
            return Bitfield::full(layout.piece_count());
        }
        self.pieces(layout, |files| files.iter().any(|&f| self.files[f]))
    }

    /// Wanted pieces that also hold bytes of an unselected file.
    pub fn straddling(&self, layout: &Layout) -> Bitfield {
        if self.is_all() {
            return Bitfield::new(layout.piece_count());
        }
        self.pieces(layout, |files| {
            files.iter().any(|&f| self.files[f]) && files.iter().any(|&f| !self.files[f])
        })
    }

    fn pieces(&self, layout: &Layout, keep: impl Fn(&[usize]) -> bool) -> Bitfield {
        let mut out = Bitfield::new(layout.piece_count());
        for p in 0..layout.piece_count() {
            let files: Vec<usize> = layout
                .spans(layout.piece_offset(p), layout.piece_size(p))
                .iter()
                .map(|s| s.file)
                .collect();
            if keep(&files) {
                out.set(p);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metainfo::FileEntry;

    fn info(files: &[(&str, u64)]) -> Info {
        Info {
            name: "album".into(),
            piece_length: 16384,
            pieces: std::sync::Arc::from([]),
            files: FileEntry::end_to_end(
                files
                    .iter()
                    .map(|(p, l)| (p.split('/').map(String::from).collect(), *l)),
            ),
            stream_length: files.iter().map(|(_, l)| l).sum(),
            multi_file: true,
            private: false,
            source: None,
            v2: None,
        }
    }

    #[test]
    fn only_and_skip_by_pattern_or_number() {
        let i = info(&[
            ("cover.jpg", 10),
            ("cd1/01.flac", 10),
            ("cd1/02.flac", 10),
            ("cd2/01.flac", 10),
        ]);
        let s = |only: &[&str], skip: &[&str]| {
            let own = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
            Selection::new(&i, &own(only), &own(skip)).files
        };
        assert_eq!(s(&[], &[]), [true, true, true, true]);
        assert_eq!(s(&["*.flac"], &[]), [false, true, true, true]);
        assert_eq!(s(&["cd1"], &[]), [false, true, true, false]);
        assert_eq!(s(&["album/cd2/*"], &[]), [false, false, false, true]);
        assert_eq!(s(&["cd2/*"], &[]), [false, false, false, true]);
        assert_eq!(s(&[], &["*.jpg", "02.*"]), [false, true, false, true]);
        assert_eq!(s(&["1,3-4"], &[]), [true, false, true, true]);
        assert_eq!(s(&["*.flac"], &["2"]), [false, false, true, true]);
        assert_eq!(s(&["nothing"], &[]), [false, false, false, false]);
        // The torrent's name is a directory above every file.
        assert_eq!(s(&[], &["album"]), [false, false, false, false]);
    }

    #[test]
    fn wanted_and_straddling_pieces() {
        // Files of 20,000 / 30,000 / 14,000 bytes over 16 KiB pieces:
        // piece 0 = f0; 1 = f0+f1; 2 = f1; 3 = f1+f2.
        let layout = Layout::new(16384, [20_000, 30_000, 14_000]);
        let only_middle = Selection::from_flags(vec![false, true, false]);
        assert_eq!(
            only_middle.wanted(&layout).ones().collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(
            only_middle.straddling(&layout).ones().collect::<Vec<_>>(),
            [1, 3]
        );
        let all = Selection::all(3);
        assert!(all.wanted(&layout).is_full());
        assert_eq!(all.straddling(&layout).count(), 0);
    }
}
