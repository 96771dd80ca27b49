//! How the piece store meets the page cache.
//!
//! Reads that never wait for the disk: `preadv2` with `RWF_NOWAIT` copies what the page cache
//! holds and fails with `EAGAIN` where a read would block. A seed serving page-cached data
//! reads its blocks on the connection's own thread this way, without a hop to a blocking
//! thread and back, and leaves only what is not cached to the blocking pool.
//!
//! Writes in 32 KiB calls: see [`write_cached`].
//!
//! [`PieceStore::read_run_cached`] is a seed's way in.

use super::PieceStore;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

use libc::{RWF_NOWAIT, iovec, preadv2};

/// Fills `bufs`, in turn, from `offset` of `file` (one `preadv2`, however many buffers: a run of
/// blocks a peer asked for is one call) if the page cache holds all of it. `false` when any of
/// it would need the disk, or the kernel or file system cannot say (old kernels answer `ENOSYS`
/// or `EOPNOTSUPP`), or the file ends first: the caller then reads the ordinary way, which also
/// reports any real error. Some of `bufs` may have been written when it answers `false`.
pub fn read_nowait(file: &File, bufs: &mut [&mut [u8]], offset: u64) -> bool {
    let total: usize = bufs.iter().map(|b| b.len()).sum();
    let Ok(at) = i64::try_from(offset) else {
        return false;
    };
    let iov: Vec<iovec> = bufs
        .iter_mut()
        .map(|b| iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        })
        .collect();
    let Ok(count) = i32::try_from(iov.len()) else {
        return false;
    };
    // SAFETY: each iovec covers one of `bufs`, borrowed mutably for the call and disjoint (they
    // are distinct `&mut` slices); the descriptor is owned by `file`.
    let n = unsafe { preadv2(file.as_raw_fd(), iov.as_ptr(), count, at, RWF_NOWAIT) };
    n >= 0 && n as usize == total
}

/// Page-cache writes go out in aligned 32 KiB calls. The kernel sizes a file's page-cache folio
/// from the write: one 1 MiB call takes 1 MiB runs of free memory from the buddy lists, and a
/// VM hands exactly those back to its host when idle (free page reporting), so every page of
/// them costs a host fault on first touch; folios up to 32 KiB (order 3) come from the per-CPU
/// lists instead. Measured on the 2-core VM, 1 GiB fetch after 3 s idle: 3.2–3.5 s with
/// whole-piece writes, 1.6–1.7 s (system time 3.0 → 0.7 s) with 16 KiB ones; then, alternating
/// 4 rounds: CPU 1.51–1.53 s with 16 KiB calls, 1.42–1.46 s with 32 KiB, 8 KiB worse, and 64 KiB
/// (order 4, from the buddy lists again) 0.5 to 1.7 s of system time. With memory in use just
/// before (no host faults), small calls cost about 0.07 s a GiB more than 1 MiB ones.
const CACHED_WRITE: u64 = 32 * 1024;

pub fn write_cached(file: &File, data: &[u8], offset: u64) -> std::io::Result<()> {
    let mut done = 0;
    while done < data.len() {
        let at = offset + done as u64;
        let len = ((CACHED_WRITE - at % CACHED_WRITE) as usize).min(data.len() - done);
        file.write_all_at(&data[done..done + len], at)?;
        done += len;
    }
    Ok(())
}

impl PieceStore {
    /// Reads a run of blocks of `piece` lying end to end from `begin` into `bufs`, in order,
    /// only if it can without waiting: every file they lie in is open and the page cache holds
    /// the bytes ([`read_nowait`]). One read where the run lies in one file, else block by block,
    /// each part of a block in its file. `false`: read them with [`PieceStore::read_block`] on a
    /// blocking thread.
    pub fn read_run_cached(&self, piece: u32, begin: u32, bufs: &mut [&mut [u8]]) -> bool {
        if self.parts.is_some() && self.straddling.get(piece as usize) {
            return false;
        }
        let mut at = self.layout.piece_offset(piece as usize) + begin as u64;
        let len: u64 = bufs.iter().map(|b| b.len() as u64).sum();
        if let [span] = self.layout.spans(at, len)[..]
            && span.len == len
        {
            return self
                .open_file(span.file)
                .is_some_and(|f| read_nowait(&f, bufs, span.file_offset));
        }
        bufs.iter_mut().all(|buf| {
            // Padding (BEP 47) is the bytes no span covers: zeros.
            buf.fill(0);
            let read = self.layout.spans(at, buf.len() as u64).iter().all(|span| {
                let part = &mut buf[span.at as usize..(span.at + span.len) as usize];
                self.open_file(span.file)
                    .is_some_and(|f| read_nowait(&f, &mut [part], span.file_offset))
            });
            at += buf.len() as u64;
            read
        })
    }

    /// A file's handle if it is open already: opening one may wait for the disk.
    fn open_file(&self, file: usize) -> Option<std::sync::Arc<File>> {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&file).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_page_cache_holds_and_says_no_past_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = File::open(&path).unwrap();
        // Just written, so in the page cache (ext4, xfs, btrfs and tmpfs all answer NOWAIT).
        let mut buf = vec![0u8; 40_000];
        assert!(read_nowait(&file, &mut [&mut buf], 30_000));
        assert_eq!(buf, data[30_000..70_000]);
        let mut past = vec![0u8; 10];
        assert!(!read_nowait(&file, &mut [&mut past], 99_995));
        assert!(read_nowait(&file, &mut [], 0));
        let (mut a, mut b) = (vec![0u8; 300], vec![0u8; 700]);
        assert!(read_nowait(&file, &mut [&mut a, &mut b], 1_000));
        assert_eq!((&a[..], &b[..]), (&data[1_000..1_300], &data[1_300..2_000]));
        assert!(!read_nowait(&file, &mut [&mut a, &mut b], 99_500));
    }

    #[test]
    fn cached_writes_in_aligned_calls_put_every_byte_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let file = crate::piece_store::tests::scratch_file(&dir.path().join("f"));
        let data: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
        write_cached(&file, &data, 5_000).unwrap();
        write_cached(&file, &[], 0).unwrap();
        let mut back = vec![1u8; 75_000];
        file.read_exact_at(&mut back, 0).unwrap();
        assert!(back[..5_000].iter().all(|&b| b == 0));
        assert_eq!(&back[5_000..], &data[..]);
    }
}
