//! Reads that never wait for the disk: `preadv2` with `RWF_NOWAIT` copies what the page cache
//! holds and fails with `EAGAIN` where a read would block. A seed serving page-cached data
//! reads its blocks on the connection's own thread this way, without a hop to a blocking
//! thread and back (two context switches a batch; measured below in `peer::writer`), and
//! leaves only what is not cached to the blocking pool.

use std::fs::File;
use std::os::fd::AsRawFd;

/// `RWF_NOWAIT` (linux/fs.h).
const RWF_NOWAIT: i32 = 0x8;

#[repr(C)]
struct IoVec {
    base: *mut u8,
    len: usize,
}

unsafe extern "C" {
    fn preadv2(fd: i32, iov: *const IoVec, iovcnt: i32, offset: i64, flags: i32) -> isize;
}

/// Fills `buf` from `offset` of `file` if the page cache holds all of it; `false` when any of it
/// would need the disk, or the kernel or file system cannot say (old kernels answer `ENOSYS` or
/// `EOPNOTSUPP`), or the file ends first: the caller then reads the ordinary way, which also
/// reports any real error. Part of `buf` may have been written when it answers `false`.
pub fn read(file: &File, buf: &mut [u8], offset: u64) -> bool {
    let mut done = 0;
    while done < buf.len() {
        let Ok(at) = i64::try_from(offset + done as u64) else {
            return false;
        };
        let iov = IoVec {
            base: buf[done..].as_mut_ptr(),
            len: buf.len() - done,
        };
        // SAFETY: one iovec over the unfilled part of `buf`, which outlives the call; the
        // descriptor is owned by `file`.
        let n = unsafe { preadv2(file.as_raw_fd(), &iov, 1, at, RWF_NOWAIT) };
        if n <= 0 {
            return false;
        }
        done += n as usize;
    }
    true
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
        assert!(read(&file, &mut buf, 30_000));
        assert_eq!(buf, data[30_000..70_000]);
        let mut past = vec![0u8; 10];
        assert!(!read(&file, &mut past, 99_995));
        assert!(read(&file, &mut [], 0));
    }
}
