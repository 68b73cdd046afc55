//! How `listen` prints one message in each format. Every format but `raw`
//! keeps message boundaries visible to the next program in a pipeline.

use crate::Format;

/// Appends `message` to `out` as `format` prints it.
pub fn render(format: Format, message: &[u8], out: &mut Vec<u8>) {
    match format {
        Format::Raw => out.extend_from_slice(message),
        Format::Nul => {
            out.extend_from_slice(message);
            out.push(0);
        }
        Format::Lines => {
            let body = message.strip_suffix(b"\n").unwrap_or(message);
            for &b in body {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    _ => out.push(b),
                }
            }
            out.push(b'\n');
        }
        Format::Json => {
            out.extend_from_slice(format!("{{\"size\":{},", message.len()).as_bytes());
            match std::str::from_utf8(message) {
                Ok(text) => {
                    out.extend_from_slice(b"\"text\":");
                    json_string(text, out);
                }
                Err(_) => {
                    out.extend_from_slice(b"\"base64\":\"");
                    base64(message, out);
                    out.push(b'"');
                }
            }
            out.extend_from_slice(b"}\n");
        }
    }
}

/// A JSON string literal (RFC 8259: quote, backslash and control characters escaped).
pub fn json_string(text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for ch in text.chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(data: &[u8], out: &mut Vec<u8>) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]);
            } else {
                out.push(b'=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(format: Format, message: &[u8]) -> String {
        let mut out = Vec::new();
        render(format, message, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lines_escape_backslash_and_inner_newlines() {
        assert_eq!(show(Format::Lines, b"hello\n"), "hello\n");
        assert_eq!(show(Format::Lines, b"hello"), "hello\n");
        assert_eq!(show(Format::Lines, b"a\nb\\c\n\n"), "a\\nb\\\\c\\n\n");
        assert_eq!(show(Format::Lines, b"\n"), "\n");
    }

    #[test]
    fn json_text_or_base64() {
        assert_eq!(
            show(Format::Json, b"say \"hi\"\n\x01"),
            "{\"size\":10,\"text\":\"say \\\"hi\\\"\\n\\u0001\"}\n"
        );
        assert_eq!(
            show(Format::Json, "é".as_bytes()),
            "{\"size\":2,\"text\":\"é\"}\n"
        );
        assert_eq!(
            show(Format::Json, b"\xff\x00ab"),
            "{\"size\":4,\"base64\":\"/wBhYg==\"}\n"
        );
    }

    #[test]
    fn base64_padding() {
        for (input, expected) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foobar", "Zm9vYmFy"),
        ] {
            let mut out = Vec::new();
            base64(input, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    #[test]
    fn nul_and_raw() {
        assert_eq!(show(Format::Nul, b"a b"), "a b\0");
        assert_eq!(show(Format::Raw, b"a\nb"), "a\nb");
    }
}
