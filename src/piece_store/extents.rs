//! Where a file holds data, as the kernel tells it (`lseek` with `SEEK_DATA`/`SEEK_HOLE`): a
//! piece lying wholly in holes reads as zeros, so checking it needs neither a read nor a hash
//! beyond the one of a zero piece. A fetch that stopped early in a 20 GiB sparse file is checked
//! at the speed of the data it holds, not of its length. The answer is conservative: a file
//! system that cannot tell says the whole file is data.

use std::fs::File;
use std::os::fd::AsRawFd;

use libc::{ENXIO, SEEK_DATA, SEEK_HOLE, lseek64};

/// More runs than this and the rest of the file is taken as data (a bound on what a file
/// fragmented on purpose can make us hold).
const MAX_RUNS: usize = 1 << 20;

/// The data runs of one file: sorted, disjoint `(start, end)` byte ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRuns(Vec<(u64, u64)>);

impl DataRuns {
    /// Everything is data (what a file system without holes answers).
    #[cfg(test)]
    pub fn all(len: u64) -> DataRuns {
        DataRuns(vec![(0, len)])
    }

    /// Asks the kernel for the data runs of the first `len` bytes of `file`.
    pub fn of(file: &File, len: u64) -> DataRuns {
        let fd = file.as_raw_fd();
        let mut runs = Vec::new();
        let mut at = 0u64;
        while at < len {
            // SAFETY: lseek on a descriptor `file` owns; it moves only the file offset, which no
            // reader of the store uses (every read is positional).
            let start = unsafe { lseek64(fd, at as i64, SEEK_DATA) };
            if start < 0 {
                // ENXIO: no data from `at` on (what SEEK_DATA fails with when no data follows).
                // Anything else: say "data" to the end.
                if std::io::Error::last_os_error().raw_os_error() != Some(ENXIO) {
                    runs.push((at, len));
                }
                break;
            }
            let start = (start as u64).max(at);
            if start >= len {
                break;
            }
            // SAFETY: as above.
            let end = unsafe { lseek64(fd, start as i64, SEEK_HOLE) };
            let end = if end < 0 { len } else { (end as u64).min(len) };
            if runs.len() == MAX_RUNS || end <= start {
                runs.push((start, len));
                break;
            }
            runs.push((start, end));
            at = end;
        }
        DataRuns(runs)
    }

    /// Whether `[offset, offset + len)` holds no data.
    pub fn is_hole(&self, offset: u64, len: u64) -> bool {
        let end = offset + len;
        // The first run ending after `offset` is the only one that can start before `end`.
        let i = self.0.partition_point(|&(_, e)| e <= offset);
        self.0.get(i).is_none_or(|&(s, _)| s >= end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn holes_and_data_of_a_sparse_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparse");
        let file = crate::piece_store::tests::scratch_file(&path);
        let mib = 1 << 20;
        file.set_len(64 * mib).unwrap();
        file.write_all_at(&[1; 4096], 10 * mib).unwrap();
        file.write_all_at(&[1; 4096], 40 * mib + 100).unwrap();
        let runs = DataRuns::of(&file, 64 * mib);
        // Every written byte is in a run; file systems without holes say it is all data.
        for (at, len) in [(10 * mib, 4096), (40 * mib + 100, 4096)] {
            assert!(!runs.is_hole(at, len), "{runs:?}");
            assert!(!runs.is_hole(at - 1, 2), "{runs:?}");
        }
        if runs != DataRuns::all(64 * mib) {
            assert!(runs.is_hole(0, 10 * mib), "{runs:?}");
            assert!(runs.is_hole(20 * mib, 16 << 10), "{runs:?}");
            assert!(runs.is_hole(50 * mib, 14 * mib), "{runs:?}");
        }
        // A file with no data at all, and the bounds of a run.
        let empty = File::create(dir.path().join("empty")).unwrap();
        empty.set_len(mib).unwrap();
        let none = DataRuns::of(&empty, mib);
        assert!(none.is_hole(0, mib) || none == DataRuns::all(mib));
        let runs = DataRuns(vec![(100, 200)]);
        assert!(runs.is_hole(0, 100) && runs.is_hole(200, 50));
        assert!(!runs.is_hole(0, 101) && !runs.is_hole(199, 10) && !runs.is_hole(150, 1));
    }
}
