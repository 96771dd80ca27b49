//! uTP packets (BEP 29): a 20-byte header, then extensions as a chain (each names the next),
//! then the payload. Only the selective-ack extension (1) is read; others are skipped by their
//! length. Every length is checked against the datagram before it is used.

/// Packet types.
pub const ST_DATA: u8 = 0;
pub const ST_FIN: u8 = 1;
pub const ST_STATE: u8 = 2;
pub const ST_RESET: u8 = 3;
pub const ST_SYN: u8 = 4;
const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 20;
const EXT_SACK: u8 = 1;
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
            next = datagram[at];
            at += 2 + len;
        }
        Some((header, at))
    }

    /// The header (and its selective ack) followed by `payload`.
    pub fn encode(&self, payload: &[u8]) -> Vec<u8> {
        let sack_len = self.sack.as_ref().map_or(0, |s| 2 + s.len());
        let mut out = Vec::with_capacity(HEADER_LEN + sack_len + payload.len());
        out.push((self.kind << 4) | VERSION);
        out.push(if self.sack.is_some() { EXT_SACK } else { 0 });
        out.extend_from_slice(&self.conn_id.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.timestamp_diff.to_be_bytes());
        out.extend_from_slice(&self.wnd_size.to_be_bytes());
        out.extend_from_slice(&self.seq_nr.to_be_bytes());
        out.extend_from_slice(&self.ack_nr.to_be_bytes());
        if let Some(sack) = &self.sack {
            out.push(0);
            out.push(sack.len() as u8);
            out.extend_from_slice(sack);
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
