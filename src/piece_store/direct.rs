//! Writing verified pieces around the page cache (`O_DIRECT`), for `fetch --direct-io`: the
//! 4 KiB-aligned middle of each write goes from an aligned buffer straight to the device, the
//! unaligned head and tail (file boundaries, a file's last bytes) through the page cache as
//! usual; the kernel keeps the two coherent. A file system that refuses `O_DIRECT` (tmpfs) gets
//! ordinary writes. Where fresh page cache is dear — a VM whose free memory is handed back to
//! its host costs a host fault a page, about 2.5 s a GiB measured here — this is the difference
//! between a fetch bound by the page cache and one bound by the network and SHA-1; it also
//! keeps a large download from pushing everything else out of the cache.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;

/// Alignment of offsets, lengths and memory for `O_DIRECT`: the page size, which every logical
/// block size divides.
const ALIGN: usize = 4096;
/// Direct handles kept open at once.
const MAX_OPEN: usize = 128;

#[derive(Default)]
pub struct Direct {
    /// `None`: this file does not take direct writes.
    files: HashMap<usize, Option<File>>,
    buffer: Vec<u8>,
}

impl Direct {
    /// Writes `data` at `offset` of file `index` (`buffered` its ordinary handle; `path` is
    /// asked for only to open its direct one).
    pub fn write(
        &mut self,
        index: usize,
        path: impl FnOnce() -> PathBuf,
        buffered: &File,
        data: &[u8],
        offset: u64,
    ) -> std::io::Result<()> {
        let end = offset + data.len() as u64;
        let start = offset.next_multiple_of(ALIGN as u64);
        let stop = end / ALIGN as u64 * ALIGN as u64;
        if stop <= start {
            return buffered.write_all_at(data, offset);
        }
        let (head, rest) = data.split_at((start - offset) as usize);
        let (middle, tail) = rest.split_at((stop - start) as usize);
        if !self.write_middle(index, path, middle, start)? {
            return buffered.write_all_at(data, offset);
        }
        buffered.write_all_at(head, offset)?;
        buffered.write_all_at(tail, stop)
    }

    /// The aligned middle, through the file's direct handle; false when it has none.
    fn write_middle(
        &mut self,
        index: usize,
        path: impl FnOnce() -> PathBuf,
        data: &[u8],
        offset: u64,
    ) -> std::io::Result<bool> {
        if !self.files.contains_key(&index) && self.files.len() >= MAX_OPEN {
            self.files.clear();
        }
        let file = self.files.entry(index).or_insert_with(|| {
            OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_DIRECT | libc::O_CLOEXEC)
                .open(path())
                .ok()
        });
        let Some(direct) = file else {
            return Ok(false);
        };
        if self.buffer.len() < data.len() + ALIGN {
            self.buffer = vec![0; data.len() + ALIGN];
        }
        let at = self.buffer.as_ptr().align_offset(ALIGN);
        let aligned = &mut self.buffer[at..at + data.len()];
        aligned.copy_from_slice(data);
        match direct.write_all_at(aligned, offset) {
            Ok(()) => Ok(true),
            // Opened, but this file system takes no direct writes after all.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                *file = None;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_middles_go_direct_and_every_byte_lands() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = crate::piece_store::tests::scratch_file(&path);
        let len = 5 * ALIGN + 777;
        file.set_len(len as u64).unwrap();
        let content: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        let mut direct = Direct::default();
        // Unaligned start and end, a piece inside one block, a whole aligned run, the tail.
        for (from, to) in [
            (0, 100),
            (100, 3 * ALIGN + 5),
            (3 * ALIGN + 5, 3 * ALIGN + 9),
        ] {
            direct
                .write(0, || path.clone(), &file, &content[from..to], from as u64)
                .unwrap();
        }
        direct
            .write(
                0,
                || path.clone(),
                &file,
                &content[3 * ALIGN + 9..],
                3 * ALIGN as u64 + 9,
            )
            .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), content);
        // Where the file system takes O_DIRECT, the middles went that way.
        let takes_direct = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(&path)
            .is_ok();
        assert_eq!(direct.files[&0].is_some(), takes_direct);
        // Overwriting through the page cache then directly reads back the last bytes written.
        file.write_all_at(&[9; ALIGN], ALIGN as u64).unwrap();
        direct
            .write(
                0,
                || path.clone(),
                &file,
                &content[ALIGN..2 * ALIGN],
                ALIGN as u64,
            )
            .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), content);
    }
}
