//! The DHT's state between runs: `DIR/dht.dat` holds the node id and the good nodes (bencoded:
//! `id`, compact IPv4 `nodes`), so a restart rejoins without bootstrap. `DIR/dht.lock` (our
//! pid) keeps two processes from taking the same id: the second runs with a fresh id and
//! saves nothing.

use super::krpc::Id;
use crate::bencode::{self, Bencode};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};

const FILE: &str = "dht.dat";
const LOCK: &str = "dht.lock";
/// Nodes kept in the file at most.
const MAX_SAVED: usize = 400;

pub struct Saved {
    pub id: Id,
    pub nodes: Vec<SocketAddrV4>,
}

/// The state file is small (400 nodes); it is never read through a link, nor unless it is a
/// regular file.
const MAX_FILE: u64 = 64 << 10;

pub fn load(dir: &Path) -> std::io::Result<Option<Saved>> {
    use crate::state_file::{Links, read};
    let bytes = match read(&dir.join(FILE), MAX_FILE, Links::Refuse) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not a p2p DHT state file");
    let v = bencode::decode(&bytes).map_err(|_| bad())?;
    let id = v
        .get("id")
        .and_then(|i| i.as_bytes())
        .and_then(|b| <[u8; 20]>::try_from(b).ok())
        .ok_or_else(bad)?;
    let nodes = v
        .get("nodes")
        .and_then(|n| n.as_bytes())
        .unwrap_or_default()
        .chunks_exact(6)
        .take(MAX_SAVED)
        .map(|c| {
            SocketAddrV4::new(
                Ipv4Addr::new(c[0], c[1], c[2], c[3]),
                u16::from_be_bytes([c[4], c[5]]),
            )
        })
        .filter(|a| a.port() != 0)
        .collect();
    Ok(Some(Saved { id: Id(id), nodes }))
}

/// Writes the state (to a temporary file renamed over the old one).
pub fn save(dir: &Path, id: Id, nodes: &[SocketAddrV4]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut compact = Vec::new();
    for n in nodes.iter().take(MAX_SAVED) {
        compact.extend_from_slice(&n.ip().octets());
        compact.extend_from_slice(&n.port().to_be_bytes());
    }
    let v: Bencode = [
        ("id", Bencode::Bytes(id.0.to_vec())),
        ("nodes", Bencode::Bytes(compact)),
    ]
    .into_iter()
    .collect();
    crate::state_file::replace(&dir.join(FILE), &v.encode())
}

/// Held while this process owns the state directory; removed on drop.
#[derive(Debug)]
pub struct Lock(PathBuf);

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Takes the state directory, unless a live process holds it.
pub fn lock(dir: &Path) -> Option<Lock> {
    std::fs::create_dir_all(dir).ok()?;
    let path = dir.join(LOCK);
    for _ in 0..2 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                std::io::Write::write_all(&mut f, std::process::id().to_string().as_bytes())
                    .ok()?;
                return Some(Lock(path));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let alive = holder
                    .trim()
                    .parse::<u32>()
                    .is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
                if alive {
                    log::info!(
                        "dht: {} is in use by process {}; running with a fresh id",
                        dir.display(),
                        holder.trim()
                    );
                    return None;
                }
                // Left by a process that is gone.
                let _ = std::fs::remove_file(&path);
            }
            Err(_) => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_loads_and_locks() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_none());
        let nodes = vec![
            "10.0.0.1:6881".parse().unwrap(),
            "127.0.0.1:7".parse().unwrap(),
        ];
        save(dir.path(), Id([5; 20]), &nodes).unwrap();
        let s = load(dir.path()).unwrap().unwrap();
        assert_eq!((s.id, s.nodes), (Id([5; 20]), nodes));
        let held = lock(dir.path()).expect("free");
        assert!(lock(dir.path()).is_none(), "held by a live process (us)");
        drop(held);
        assert!(lock(dir.path()).is_some());
        // A lock left by a dead process is taken over.
        std::fs::write(dir.path().join(LOCK), "999999999").unwrap();
        assert!(lock(dir.path()).is_some());
        std::fs::write(dir.path().join(FILE), "garbage").unwrap();
        assert!(load(dir.path()).is_err());
    }
}
