//! The MSE/PE handshake over a socket, both ways, and the connection's ciphers afterwards.
//! Every read is bounded (padding at most 512 bytes, the initial payload at most 1 KiB) and
//! timed out; a peer that fails the handshake is dropped. The protocol itself is
//! [`crate::wire::mse`].

use crate::hash::Digest;
use crate::metainfo::InfoHash;
use crate::runtime::timeout;
use crate::wire::mse::{
    CRYPTO_PLAINTEXT, CRYPTO_RC4, Ciphers, KEY_LEN, KeyPair, MAX_IA, MAX_PAD, Rc4, VC, req1,
    req2_from, req2_xor_req3,
};
use async_std::io::{Read, ReadExt, Write, WriteExt};
use std::io::{Error, ErrorKind};
use std::time::Duration;

/// What the handshake runs over: a socket, or bytes in memory (tests, fuzzing).
pub trait Stream: Read + Write + Unpin {}
impl<S: Read + Write + Unpin> Stream for S {}

/// The whole encryption handshake must be done within this.
pub const MSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Which connections a node makes and takes (`--encryption`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encryption {
    /// Dial encrypted, fall back to plaintext at once; take both.
    #[default]
    Prefer,
    /// Only RC4-encrypted connections, both ways.
    Require,
    /// Only plaintext connections, both ways.
    Off,
}

impl Encryption {
    pub fn parse(text: &str) -> Option<Encryption> {
        match text {
            "prefer" => Some(Encryption::Prefer),
            "require" => Some(Encryption::Require),
            "off" => Some(Encryption::Off),
            _ => None,
        }
    }
}

/// A connection's ciphers after the handshake (none for plaintext), and bytes already read
/// past the handshake, decrypted.
#[derive(Default)]
pub struct Crypto {
    pub encrypt: Option<Rc4>,
    pub decrypt: Option<Rc4>,
    pub leftover: Vec<u8>,
}

impl Crypto {
    pub fn is_encrypted(&self) -> bool {
        self.encrypt.is_some()
    }

    /// Encrypts outgoing bytes in place (nothing for plaintext).
    pub fn seal(&mut self, data: &mut [u8]) {
        if let Some(rc4) = &mut self.encrypt {
            rc4.apply(data);
        }
    }

    /// Fills `buf` from the leftover bytes, then from the socket, decrypting as needed.
    pub async fn read_exact(
        &mut self,
        stream: &mut impl Stream,
        buf: &mut [u8],
    ) -> std::io::Result<()> {
        let from_leftover = self.leftover.len().min(buf.len());
        buf[..from_leftover].copy_from_slice(&self.leftover[..from_leftover]);
        self.leftover.drain(..from_leftover);
        let rest = &mut buf[from_leftover..];
        if !rest.is_empty() {
            stream.read_exact(rest).await?;
            if let Some(rc4) = &mut self.decrypt {
                rc4.apply(rest);
            }
        }
        Ok(())
    }
}

fn bad(what: &str) -> Error {
    Error::new(
        ErrorKind::InvalidData,
        format!("encryption handshake: {what}"),
    )
}

/// Random padding of 0 to 64 bytes (the protocol allows 512; less is quicker and just as
/// good at hiding the length).
fn padding() -> Vec<u8> {
    let mut rng = crate::random::Rng::new();
    let len = rng.below(65);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

/// Reads until `pattern` shows up within `limit` bytes; returns what followed it in the
/// buffer.
async fn sync_on(
    stream: &mut impl Stream,
    pattern: &[u8],
    limit: usize,
) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(limit + 64);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(at) = buf.windows(pattern.len()).position(|w| w == pattern) {
            return Ok(buf.split_off(at + pattern.len()));
        }
        if buf.len() >= limit {
            return Err(bad("no synchronisation point within the padding allowed"));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(Error::new(
                ErrorKind::UnexpectedEof,
                "closed during the encryption handshake",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Takes `n` bytes from `pending`, reading more from the socket if needed.
async fn take(
    stream: &mut impl Stream,
    pending: &mut Vec<u8>,
    n: usize,
) -> std::io::Result<Vec<u8>> {
    if pending.len() < n {
        let mut more = vec![0u8; n - pending.len()];
        stream.read_exact(&mut more).await?;
        pending.extend_from_slice(&more);
    }
    let rest = pending.split_off(n);
    Ok(std::mem::replace(pending, rest))
}

/// Dials side (A): runs the exchange on a fresh connection for `skey`, sending `ia` (our
/// BitTorrent handshake) inside it. `provide` is `CRYPTO_RC4`, optionally with
/// `CRYPTO_PLAINTEXT`.
pub async fn initiate(
    stream: &mut impl Stream,
    skey: &InfoHash,
    ia: &[u8],
    provide: u32,
) -> std::io::Result<Crypto> {
    initiate_keyed(stream, skey, ia, provide, KeyPair::generate()).await
}

/// [`initiate`] with a given key pair (fuzzing's seed transcripts need a fixed one).
pub async fn initiate_keyed(
    stream: &mut impl Stream,
    skey: &InfoHash,
    ia: &[u8],
    provide: u32,
    keys: KeyPair,
) -> std::io::Result<Crypto> {
    timeout("the encryption handshake", MSE_TIMEOUT, async {
        let mut first = keys.public.to_vec();
        first.extend_from_slice(&padding());
        stream.write_all(&first).await?;
        let mut yb = [0u8; KEY_LEN];
        stream.read_exact(&mut yb[..20]).await?;
        // A plaintext-only peer that took our key for a handshake answers with its own.
        if yb[0] == 19 && &yb[1..20] == crate::wire::PROTOCOL {
            return Err(bad("the peer answered in plaintext"));
        }
        stream.read_exact(&mut yb[20..]).await?;
        let s = keys
            .shared(&yb)
            .ok_or_else(|| bad("a degenerate public key"))?;
        let mut ciphers = Ciphers::initiator(&s, &skey.0);
        let mut third = req1(&s).to_vec();
        third.extend_from_slice(&req2_xor_req3(&skey.0, &s));
        let mut secret = VC.to_vec();
        secret.extend_from_slice(&provide.to_be_bytes());
        secret.extend_from_slice(&0u16.to_be_bytes()); // no PadC
        secret.extend_from_slice(&(ia.len() as u16).to_be_bytes());
        secret.extend_from_slice(ia);
        ciphers.encrypt.apply(&mut secret);
        third.extend_from_slice(&secret);
        stream.write_all(&third).await?;
        // B's reply starts with ENCRYPT(VC) somewhere after PadB.
        let mut expected = VC;
        ciphers.decrypt.clone().apply(&mut expected);
        let mut pending = sync_on(stream, &expected, MAX_PAD + VC.len()).await?;
        ciphers.decrypt.apply(&mut [0u8; 8]);
        let mut head = take(stream, &mut pending, 6).await?;
        ciphers.decrypt.apply(&mut head);
        let select = u32::from_be_bytes(head[..4].try_into().expect("4 bytes"));
        let pad_d = u16::from_be_bytes([head[4], head[5]]) as usize;
        if pad_d > MAX_PAD {
            return Err(bad("padding longer than 512 bytes"));
        }
        let mut pad = take(stream, &mut pending, pad_d).await?;
        ciphers.decrypt.apply(&mut pad);
        match select {
            CRYPTO_RC4 if provide & CRYPTO_RC4 != 0 => {
                ciphers.decrypt.apply(&mut pending);
                Ok(Crypto {
                    encrypt: Some(ciphers.encrypt),
                    decrypt: Some(ciphers.decrypt),
                    leftover: pending,
                })
            }
            CRYPTO_PLAINTEXT if provide & CRYPTO_PLAINTEXT != 0 => Ok(Crypto {
                encrypt: None,
                decrypt: None,
                leftover: pending,
            }),
            other => Err(bad(&format!(
                "the peer selected method {other:#x}, not offered"
            ))),
        }
    })
    .await
}

/// What an accepted encrypted connection asked for.
pub struct Accepted {
    pub info_hash: InfoHash,
    pub crypto: Crypto,
}

/// Accepting side (B): `first` holds the bytes already read (the start of Ya). `torrent`
/// maps HASH('req2', info-hash) to one of our torrents. `require` selects RC4 (and refuses a
/// peer that offers only plaintext-after-handshake); otherwise plaintext-after-handshake is
/// selected when offered.
pub async fn respond(
    stream: &mut impl Stream,
    first: &[u8],
    torrent: impl Fn(&Digest) -> Option<InfoHash>,
    require: bool,
) -> std::io::Result<Accepted> {
    respond_keyed(stream, first, torrent, require, KeyPair::generate()).await
}

/// [`respond`] with a given key pair (fuzzing drives it with a fixed one, so that a seed
/// transcript gets past the key exchange and mutations reach what follows).
pub async fn respond_keyed(
    stream: &mut impl Stream,
    first: &[u8],
    torrent: impl Fn(&Digest) -> Option<InfoHash>,
    require: bool,
    keys: KeyPair,
) -> std::io::Result<Accepted> {
    timeout("the encryption handshake", MSE_TIMEOUT, async {
        let first = &first[..first.len().min(KEY_LEN)];
        let mut ya = [0u8; KEY_LEN];
        ya[..first.len()].copy_from_slice(first);
        stream.read_exact(&mut ya[first.len()..]).await?;
        let mut second = keys.public.to_vec();
        second.extend_from_slice(&padding());
        stream.write_all(&second).await?;
        let s = keys
            .shared(&ya)
            .ok_or_else(|| bad("a degenerate public key"))?;
        let mut pending = sync_on(stream, &req1(&s), MAX_PAD + 20).await?;
        let xored: Digest = take(stream, &mut pending, 20)
            .await?
            .try_into()
            .expect("20 bytes");
        let info_hash = torrent(&req2_from(&xored, &s)).ok_or_else(|| bad("an unknown torrent"))?;
        let mut ciphers = Ciphers::responder(&s, &info_hash.0);
        let mut head = take(stream, &mut pending, 14).await?;
        ciphers.decrypt.apply(&mut head);
        if head[..8] != VC {
            return Err(bad("wrong verification constant"));
        }
        let provide = u32::from_be_bytes(head[8..12].try_into().expect("4 bytes"));
        let pad_c = u16::from_be_bytes([head[12], head[13]]) as usize;
        if pad_c > MAX_PAD {
            return Err(bad("padding longer than 512 bytes"));
        }
        let mut pad = take(stream, &mut pending, pad_c).await?;
        ciphers.decrypt.apply(&mut pad);
        let mut len = take(stream, &mut pending, 2).await?;
        ciphers.decrypt.apply(&mut len);
        let ia_len = u16::from_be_bytes([len[0], len[1]]) as usize;
        if ia_len > MAX_IA {
            return Err(bad("initial payload longer than 1 KiB"));
        }
        let mut ia = take(stream, &mut pending, ia_len).await?;
        ciphers.decrypt.apply(&mut ia);
        // Offered both, a node that does not require RC4 takes plaintext after the handshake,
        // as libtorrent does by default: the handshake is still obfuscated, the payload costs
        // no cipher. A peer that wants RC4 offers only RC4.
        let select = if provide & CRYPTO_PLAINTEXT != 0 && !require {
            CRYPTO_PLAINTEXT
        } else if provide & CRYPTO_RC4 != 0 {
            CRYPTO_RC4
        } else {
            return Err(bad(&format!("no method we accept in {provide:#x}")));
        };
        let mut reply = VC.to_vec();
        reply.extend_from_slice(&select.to_be_bytes());
        reply.extend_from_slice(&0u16.to_be_bytes()); // no PadD
        ciphers.encrypt.apply(&mut reply);
        stream.write_all(&reply).await?;
        let mut leftover = ia;
        let crypto = if select == CRYPTO_RC4 {
            ciphers.decrypt.apply(&mut pending);
            leftover.extend_from_slice(&pending);
            Crypto {
                encrypt: Some(ciphers.encrypt),
                decrypt: Some(ciphers.decrypt),
                leftover,
            }
        } else {
            leftover.extend_from_slice(&pending);
            Crypto {
                encrypt: None,
                decrypt: None,
                leftover,
            }
        };
        Ok(Accepted { info_hash, crypto })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::block_on;
    use async_std::net::{TcpListener, TcpStream};

    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (b, _) = l.accept().await.unwrap();
        (a, b)
    }

    fn lookup(h: &Digest) -> Option<InfoHash> {
        (*h == crate::wire::mse::req2(&[5; 20])).then_some(InfoHash([5; 20]))
    }

    #[test]
    fn both_sides_agree_with_rc4_and_with_plaintext_after_the_handshake() {
        block_on(async {
            for (provide, require, encrypted) in [
                (CRYPTO_RC4, false, true),
                (CRYPTO_RC4 | CRYPTO_PLAINTEXT, false, false),
                (CRYPTO_RC4 | CRYPTO_PLAINTEXT, true, true),
                (CRYPTO_PLAINTEXT, false, false),
            ] {
                let (mut a, mut b) = pair().await;
                let responder = crate::runtime::spawn(async move {
                    let mut first = [0u8; 20];
                    b.read_exact(&mut first).await.unwrap();
                    let mut acc = respond(&mut b, &first, lookup, require).await.unwrap();
                    assert_eq!(acc.info_hash, InfoHash([5; 20]));
                    let mut ia = [0u8; 5];
                    acc.crypto.read_exact(&mut b, &mut ia).await.unwrap();
                    assert_eq!(&ia, b"hello");
                    let mut more = *b"world";
                    acc.crypto.seal(&mut more);
                    b.write_all(&more).await.unwrap();
                    acc.crypto.is_encrypted()
                });
                let mut crypto = initiate(&mut a, &InfoHash([5; 20]), b"hello", provide)
                    .await
                    .unwrap();
                let mut got = [0u8; 5];
                crypto.read_exact(&mut a, &mut got).await.unwrap();
                assert_eq!(&got, b"world");
                assert_eq!(responder.await, encrypted);
                assert_eq!(crypto.is_encrypted(), encrypted);
            }
        });
    }

    #[test]
    fn garbage_unknown_torrents_and_refused_methods_fail_the_handshake() {
        block_on(async {
            // Plaintext offered to a node that requires encryption.
            let (mut a, mut b) = pair().await;
            let responder = crate::runtime::spawn(async move {
                let mut first = [0u8; 20];
                b.read_exact(&mut first).await.unwrap();
                respond(&mut b, &first, lookup, true).await.err().unwrap()
            });
            let _ = initiate(&mut a, &InfoHash([5; 20]), b"", CRYPTO_PLAINTEXT).await;
            assert!(responder.await.to_string().contains("no method"));
            // A torrent the responder does not have.
            let (mut a, mut b) = pair().await;
            let responder = crate::runtime::spawn(async move {
                let mut first = [0u8; 20];
                b.read_exact(&mut first).await.unwrap();
                respond(&mut b, &first, lookup, false).await.err().unwrap()
            });
            let _ = initiate(&mut a, &InfoHash([6; 20]), b"", CRYPTO_RC4).await;
            assert!(responder.await.to_string().contains("unknown torrent"));
            // Garbage after a key: no synchronisation point within the padding allowed.
            let (mut a, mut b) = pair().await;
            let responder = crate::runtime::spawn(async move {
                let mut first = [0u8; 20];
                b.read_exact(&mut first).await.unwrap();
                respond(&mut b, &first, lookup, false).await.err().unwrap()
            });
            let keys = KeyPair::generate();
            a.write_all(&keys.public).await.unwrap();
            a.write_all(&[0x55; 700]).await.unwrap();
            assert!(responder.await.to_string().contains("synchronisation"));
        });
    }

    /// Plays A by hand up to step 3, with a chosen VC and PadC length.
    async fn hand_made_initiator(a: &mut TcpStream, vc: [u8; 8], pad_c: u16) {
        let keys = KeyPair::generate();
        a.write_all(&keys.public).await.unwrap();
        let mut yb = [0u8; KEY_LEN];
        a.read_exact(&mut yb).await.unwrap();
        let s = keys.shared(&yb).unwrap();
        let skey = [5u8; 20];
        let mut ciphers = Ciphers::initiator(&s, &skey);
        let mut out = req1(&s).to_vec();
        out.extend_from_slice(&req2_xor_req3(&skey, &s));
        let mut secret = vc.to_vec();
        secret.extend_from_slice(&CRYPTO_RC4.to_be_bytes());
        secret.extend_from_slice(&pad_c.to_be_bytes());
        secret.extend_from_slice(&vec![0u8; pad_c as usize]);
        secret.extend_from_slice(&0u16.to_be_bytes());
        ciphers.encrypt.apply(&mut secret);
        out.extend_from_slice(&secret);
        let _ = a.write_all(&out).await;
    }

    async fn responder_error(
        setup: impl std::future::Future<Output = (TcpStream, TcpStream)>,
        initiator: impl AsyncFnOnce(&mut TcpStream),
    ) -> String {
        let (mut a, mut b) = setup.await;
        let responder = crate::runtime::spawn(async move {
            let mut first = [0u8; 20];
            b.read_exact(&mut first).await.unwrap();
            respond(&mut b, &first, lookup, false)
                .await
                .err()
                .unwrap()
                .to_string()
        });
        initiator(&mut a).await;
        let e = responder.await;
        drop(a);
        e
    }

    #[test]
    fn a_wrong_vc_oversized_padding_or_a_stall_fails_the_handshake() {
        block_on(async {
            let e =
                responder_error(pair(), async |a| hand_made_initiator(a, [1; 8], 0).await).await;
            assert!(e.contains("wrong verification constant"), "{e}");
            let e = responder_error(pair(), async |a| hand_made_initiator(a, VC, 600).await).await;
            assert!(e.contains("padding longer than 512"), "{e}");
            // A key, then silence: the handshake's time limit ends it.
            let e = responder_error(pair(), async |a| {
                a.write_all(&KeyPair::generate().public).await.unwrap();
            })
            .await;
            assert!(e.contains("timed out"), "{e}");
        });
    }
}
