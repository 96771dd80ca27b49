//! uTP packets (BEP 29): a 20-byte header, then extensions as a chain (each names the next),
//! then the payload. Two extensions are read: the selective ack (1) and p2p's own
//! [`EXT_DATAGRAM`]; others are skipped by their length, as BEP 29 asks of every client.
//! Every length is checked against the datagram before it is used.

/// Packet types.
pub const ST_DATA: u8 = 0;
pub const ST_FIN: u8 = 1;
pub const ST_STATE: u8 = 2;
pub const ST_RESET: u8 = 3;
pub const ST_SYN: u8 = 4;
const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 20;
const EXT_SACK: u8 = 1;
/// µTorrent's "extension bits" (8 bytes), which libutp reads and µTorrent sends on its SYNs;
/// we send them, zero, ahead of [`EXT_DATAGRAM`]: libutp (Transmission's) takes a packet whose
/// first extension is 3 or more for a version-0 packet and drops it.
const EXT_BITS: u8 = 2;
/// p2p's extension: the largest datagram its sender reads whole (2 bytes, big-endian). A
/// receiver that reads datagrams into a smaller buffer (libtorrent's is 1,500 bytes) would
/// take a longer one cut short, so a sender goes past [`super::conn::PAYLOAD`] only for a
/// peer that said it can. It rides on the SYN and on the answers to it, after [`EXT_BITS`];
/// clients that do not know it skip it, as BEP 29 asks (libtorrent and libutp do).
const EXT_DATAGRAM: u8 = 0x70;
/// Bytes the extensions we send may add to a header: a selective ack of 8 bytes, the
/// extension bits and [`EXT_DATAGRAM`], each with its 2 bytes of chain.
pub const EXTENSIONS_ROOM: usize = 10 + 10 + 4;
/// The longest selective ack we read (bits for 512 packets past the ack): longer ones are
/// cut to this, which only makes us resend sooner.
const MAX_SACK: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub kind: u8,
    pub conn_id: u16,
    /// The sender's clock, microseconds (wrapping).
    pub timestamp: u32,
    /// The sender's clock less the timestamp of the last packet it got from us: our one-way
    /// delay as it last saw it (wrapping).
    pub timestamp_diff: u32,
    /// Bytes the sender can still take in.
    pub wnd_size: u32,
    pub seq_nr: u16,
    pub ack_nr: u16,
    /// Selective ack: bit `i` (LSB first in each byte) says `ack_nr + 2 + i` arrived.
    pub sack: Option<Vec<u8>>,
    /// [`EXT_DATAGRAM`]: the largest datagram the sender reads whole.
    pub max_datagram: Option<u16>,
}

impl Header {
    /// Parses a datagram: the header and the payload's start; `None` for anything that is not
    /// a version-1 uTP packet of a known type with a well-formed extension chain.
    pub fn decode(datagram: &[u8]) -> Option<(Header, usize)> {
        if datagram.len() < HEADER_LEN {
            return None;
        }
        let (kind, version) = (datagram[0] >> 4, datagram[0] & 0x0f);
        if version != VERSION || kind > ST_SYN {
            return None;
        }
        let u16_at = |at: usize| u16::from_be_bytes([datagram[at], datagram[at + 1]]);
        let u32_at = |at: usize| u32::from_be_bytes(datagram[at..at + 4].try_into().expect("4"));
        let mut header = Header {
            kind,
            conn_id: u16_at(2),
            timestamp: u32_at(4),
            timestamp_diff: u32_at(8),
            wnd_size: u32_at(12),
            seq_nr: u16_at(16),
            ack_nr: u16_at(18),
            sack: None,
            max_datagram: None,
        };
        let mut next = datagram[1];
        let mut at = HEADER_LEN;
        while next != 0 {
            let len = *datagram.get(at + 1)? as usize;
            let data = datagram.get(at + 2..at + 2 + len)?;
            // BEP 29 says a multiple of 4 bytes; libtorrent sends any length (2, 3, 5…
            // bytes), so any length is read.
            if next == EXT_SACK && len > 0 {
                header.sack = Some(data[..len.min(MAX_SACK)].to_vec());
            }
            if next == EXT_DATAGRAM && len == 2 {
                header.max_datagram = Some(u16::from_be_bytes([data[0], data[1]]));
            }
            next = datagram[at];
            at += 2 + len;
        }
        Some((header, at))
    }

    /// The header (and its extensions) followed by `payload`.
    pub fn encode(&self, payload: &[u8]) -> Vec<u8> {
        let datagram = self.max_datagram.map(u16::to_be_bytes);
        let extensions: Vec<(u8, &[u8])> = [
            self.sack.as_deref().map(|s| (EXT_SACK, s)),
            datagram.map(|_| (EXT_BITS, &[0u8; 8][..])),
            datagram.as_ref().map(|d| (EXT_DATAGRAM, &d[..])),
        ]
        .into_iter()
        .flatten()
        .collect();
        let room: usize = extensions.iter().map(|(_, d)| 2 + d.len()).sum();
        let mut out = Vec::with_capacity(HEADER_LEN + room + payload.len());
        out.push((self.kind << 4) | VERSION);
        out.push(extensions.first().map_or(0, |e| e.0));
        out.extend_from_slice(&self.conn_id.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.timestamp_diff.to_be_bytes());
        out.extend_from_slice(&self.wnd_size.to_be_bytes());
        out.extend_from_slice(&self.seq_nr.to_be_bytes());
        out.extend_from_slice(&self.ack_nr.to_be_bytes());
        for (i, (_, data)) in extensions.iter().enumerate() {
            out.push(extensions.get(i + 1).map_or(0, |e| e.0));
            out.push(data.len() as u8);
            out.extend_from_slice(data);
        }
        out.extend_from_slice(payload);
        out
    }
}

/// `a` comes before `b` in sequence space (16 bits, wrapping).
pub fn before(a: u16, b: u16) -> bool {
    (a.wrapping_sub(b) as i16) < 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: u8) -> Header {
        Header {
            kind,
            conn_id: 0x1234,
            timestamp: 0xdead_beef,
            timestamp_diff: 7,
            wnd_size: 1 << 20,
            seq_nr: 65535,
            ack_nr: 3,
            sack: None,
            max_datagram: None,
        }
    }

    #[test]
    fn packets_round_trip_with_and_without_a_selective_ack() {
        let plain = header(ST_DATA);
        let bytes = plain.encode(b"hello");
        assert_eq!(bytes.len(), HEADER_LEN + 5);
        assert_eq!(bytes[0], 0x01, "type 0, version 1");
        let (back, at) = Header::decode(&bytes).unwrap();
        assert_eq!((back, &bytes[at..]), (plain, &b"hello"[..]));
        let sacked = Header {
            sack: Some(vec![0b101, 0, 0, 0x80]),
            ..header(ST_STATE)
        };
        let bytes = sacked.encode(b"");
        assert_eq!(Header::decode(&bytes), Some((sacked, HEADER_LEN + 6)));
        // All, chained: the selective ack, the extension bits, the datagram size.
        let both = Header {
            sack: Some(vec![1; 8]),
            max_datagram: Some(65535),
            ..header(ST_STATE)
        };
        let bytes = both.encode(b"xy");
        assert_eq!(bytes.len(), HEADER_LEN + EXTENSIONS_ROOM + 2);
        let chain = (bytes[1], bytes[20], bytes[30], bytes[40]);
        assert_eq!(chain, (EXT_SACK, EXT_BITS, EXT_DATAGRAM, 0));
        let back = Header::decode(&bytes);
        assert_eq!(back, Some((both, HEADER_LEN + EXTENSIONS_ROOM)));
        // Without a selective ack (a SYN), the extension bits lead: libutp reads a packet
        // whose first extension is 3 or more as version 0.
        let syn = Header {
            max_datagram: Some(1500),
            ..header(ST_SYN)
        };
        let bytes = syn.encode(b"");
        assert_eq!(
            (bytes[1], bytes[20], bytes[30]),
            (EXT_BITS, EXT_DATAGRAM, 0)
        );
        assert_eq!(Header::decode(&bytes), Some((syn, HEADER_LEN + 14)));
    }

    #[test]
    fn malformed_packets_are_refused_and_unknown_extensions_skipped() {
        let good = header(ST_SYN).encode(b"");
        assert!(Header::decode(&good[..19]).is_none(), "short");
        let mut v2 = good.clone();
        v2[0] = (ST_SYN << 4) | 2;
        assert!(Header::decode(&v2).is_none(), "version 2");
        let mut kind = good.clone();
        kind[0] = (5 << 4) | 1;
        assert!(Header::decode(&kind).is_none(), "type 5");
        // An extension whose length runs past the datagram.
        let mut long = good.clone();
        long[1] = 2;
        long.extend_from_slice(&[0, 200, 1, 2]);
        assert!(Header::decode(&long).is_none());
        // A selective ack of 3 bytes, as libtorrent sends them (BEP 29 asks for 4 or more).
        let mut odd = good.clone();
        odd[1] = EXT_SACK;
        odd.extend_from_slice(&[0, 3, 1, 2, 3]);
        assert_eq!(Header::decode(&odd).unwrap().0.sack, Some(vec![1, 2, 3]));
        // An unknown extension (type 2, 8 bytes) is skipped; the payload follows it.
        let mut other = good.clone();
        other[1] = 2;
        other.extend_from_slice(&[0, 8, 0, 0, 0, 0, 0, 0, 0, 0, b'x']);
        let (h, at) = Header::decode(&other).unwrap();
        assert_eq!((h.sack, &other[at..]), (None, &b"x"[..]));
    }

    #[test]
    fn sequence_numbers_compare_across_the_wrap() {
        assert!(before(65535, 0) && before(1, 2) && !before(2, 1) && !before(0, 65535));
        assert!(!before(5, 5));
    }
}
