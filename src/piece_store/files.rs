//! The download's files and directories as the piece store makes and opens them: never through
//! a symbolic link, nothing in the way of the torrent's layout taken for its own.

use crate::{Error, Result};
use std::fs::{File, OpenOptions};
use std::path::Path;

/// Opens a file of a download for reading and writing, never through a symbolic link
/// (`O_NOFOLLOW`: opening one fails with `ELOOP` instead).
pub(super) fn open_no_follow(path: &Path, create: bool) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// BEP 47 `x`: execute permission for whoever may read the file (the umask already applied).
pub(super) fn make_executable(file: &File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut permissions = file.metadata()?.permissions();
    let mode = permissions.mode();
    permissions.set_mode(mode | (mode & 0o444) >> 2);
    file.set_permissions(permissions)
}

pub(super) fn is_loop(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP)
}

pub(super) fn symlink_error(path: &Path) -> Error {
    Error::Input {
        path: path.to_owned(),
        reason: "is a symbolic link: fetch writes only inside its output directory (remove the \
                 link or choose another --out)"
            .into(),
    }
}

/// Makes `path` a directory unless it is one; a symbolic link or a file there is an error.
pub(super) fn ensure_real_dir(path: &Path) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match std::fs::create_dir(path) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(io(e)),
            _ => std::fs::symlink_metadata(path).map_err(io)?,
        },
        other => other.map_err(io)?,
    };
    if meta.file_type().is_symlink() {
        return Err(symlink_error(path));
    }
    if !meta.is_dir() {
        return Err(Error::Input {
            path: path.to_owned(),
            reason: "is in the way of a directory of the torrent and is not a directory".into(),
        });
    }
    Ok(())
}
