//! Text that came from a file or over the network, made safe to print on a terminal or in a
//! log: control characters (ESC, newlines, …) are shown escaped instead of acting, and the
//! length is capped so one reply cannot flood the screen.

/// `text` with every control character escaped (`\u{1b}`, `\n`), cut after `max_chars`
/// characters with a note of how many were left out.
pub fn untrusted(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 2));
    let mut shown = 0;
    for (i, c) in text.chars().enumerate() {
        if i == max_chars {
            let rest = text.chars().count() - i;
            out.push_str(&format!("… ({rest} more characters)"));
            break;
        }
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
        shown += 1;
    }
    debug_assert!(shown <= max_chars);
    out
}

/// Lossy UTF-8 bytes made safe to print: see [`untrusted`].
pub fn untrusted_bytes(bytes: &[u8], max_chars: usize) -> String {
    untrusted(&String::from_utf8_lossy(bytes), max_chars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_length_capped() {
        assert_eq!(untrusted("plain text ü", 100), "plain text ü");
        assert_eq!(
            untrusted("red\u{1b}[31m\nnext\u{7}", 100),
            "red\\u{1b}[31m\\nnext\\u{7}"
        );
        assert_eq!(untrusted("abcdef", 3), "abc… (3 more characters)");
        assert_eq!(untrusted_bytes(b"\xff\x1b", 10), "\u{fffd}\\u{1b}");
        let huge = "\u{1b}".repeat(1_000_000);
        assert!(untrusted(&huge, 200).len() < 2000);
    }
}
