//! Reading the files p2p keeps its state in (the DHT's `dht.dat`, resume files, torrents it
//! saved) and the torrents it is given: bounded in size, and only ever regular files, so that
//! a link to `/dev/zero` or a FIFO planted in a state directory can neither exhaust memory nor
//! hang a start. State files are opened without following symbolic links; a torrent the user
//! names may be one (they chose it), but must lead to a regular file.

use std::fs::{File, OpenOptions};
use std::io::{Error, ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Whether a symbolic link at the path itself is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// A file p2p wrote itself: a link there is not ours, and is refused.
    Refuse,
    /// A file the user named.
    Follow,
}

/// The whole file at `path`, if it is a regular file of at most `limit` bytes. A missing file
/// is `NotFound`; a link (with [`Links::Refuse`]), a device, FIFO or directory, or a larger file
/// is `InvalidData` saying which.
pub fn read(path: &Path, limit: u64, links: Links) -> std::io::Result<Vec<u8>> {
    let mut options = OpenOptions::new();
    options.read(true);
    // O_NONBLOCK: opening a FIFO must not wait for a writer; the type check below refuses it.
    let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC;
    if links == Links::Refuse {
        flags |= libc::O_NOFOLLOW;
    }
    let file = options.custom_flags(flags).open(path).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            Error::new(ErrorKind::InvalidData, "is a symbolic link")
        } else {
            e
        }
    })?;
    read_regular(file, limit)
}

fn read_regular(file: File, limit: u64) -> std::io::Result<Vec<u8>> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::InvalidData, "is not a regular file"));
    }
    let too_large = || {
        Error::new(
            ErrorKind::InvalidData,
            format!("is larger than {limit} bytes"),
        )
    };
    if meta.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The read is bounded too: the file may grow after the size was read.
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Writes `bytes` to `path` through a new temporary file beside it renamed over it, never
/// through a link or file planted at the temporary name.
pub fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&tmp)?;
    let written = std::io::Write::write_all(&mut file, bytes).and_then(|()| file.sync_all());
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state");
        std::fs::write(&file, b"d2:idi1ee").unwrap();
        assert_eq!(read(&file, 100, Links::Refuse).unwrap(), b"d2:idi1ee");
        let e = read(&file, 4, Links::Refuse).unwrap_err();
        assert!(e.to_string().contains("larger than 4 bytes"), "{e}");
        // A link to /dev/zero: refused as a link, or (followed) as not a regular file.
        let link = dir.path().join("dht.dat");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let e = read(&link, 1 << 20, Links::Refuse).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let e = read(&link, 1 << 20, Links::Follow).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        // A FIFO neither hangs the open nor is read.
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read(&fifo, 100, Links::Follow).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(read(dir.path(), 100, Links::Follow).is_err());
        assert_eq!(
            read(&dir.path().join("none"), 1, Links::Refuse)
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn replace_never_writes_through_a_planted_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let path = dir.path().join("dht.dat");
        let planted = format!("{}.{}.tmp", path.display(), std::process::id());
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        replace(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert!(std::fs::symlink_metadata(&planted).is_err());
    }
}
