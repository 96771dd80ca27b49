//! URLs as trackers and web seeds use them: percent-encoding both ways, and a URL split into
//! host, port and the rest. Pure.

/// Decodes `%XX` escapes and `+` in a query component into raw bytes; `None` on a bad escape.
pub fn percent_decode(input: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
    // Most values (numbers, `started`) have nothing to decode: no copy for them.
    if !input.iter().any(|&b| b == b'%' || b == b'+') {
        return Some(std::borrow::Cow::Borrowed(input));
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'%' => {
                let hex = input.get(i + 1..i + 3)?;
                let hi = (hex[0] as char).to_digit(16)?;
                let lo = (hex[1] as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(std::borrow::Cow::Owned(out))
}

/// Percent-encodes raw bytes for a query string (unreserved characters stay as they are).
pub fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The port a URL means when it names none: 443 for `https://`, 80 for `http://`, else 0.
pub fn default_port(url: &str) -> u16 {
    if url.starts_with("https://") {
        443
    } else if url.starts_with("http://") {
        80
    } else {
        0
    }
}

/// (host, port, path-and-query) of an `http://`, `https://` or `udp://` URL.
pub fn split_url(url: &str, default_port: u16) -> Option<(String, u16, String)> {
    let rest = url.split_once("://")?.1;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default_port,
    };
    if host.is_empty() {
        return None;
    }
    Some((host.to_string(), port, path.to_string()))
}

/// A request's `Host` header for `host` and `port`: the port left out where it is the
/// scheme's own, an IPv6 address in brackets.
pub fn host_header(host: &str, port: u16, https: bool) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    if port == if https { 443 } else { 80 } {
        host
    } else {
        format!("{host}:{port}")
    }
}
