//! How `listen` prints one message in each format. Every format but `raw`
//! keeps message boundaries visible to the next program in a pipeline.

use base64::prelude::{BASE64_STANDARD, Engine};
use serde::Serialize;

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
            let line = match std::str::from_utf8(message) {
                Ok(text) => JsonMessage {
                    size: message.len(),
                    text: Some(text),
                    base64: None,
                },
                Err(_) => JsonMessage {
                    size: message.len(),
                    text: None,
                    base64: Some(BASE64_STANDARD.encode(message)),
                },
            };
            serde_json::to_writer(&mut *out, &line).expect("a message always serializes");
            out.push(b'\n');
        }
    }
}

/// One message of `--format json`: `text` when it is UTF-8, else `base64`.
#[derive(Serialize)]
struct JsonMessage<'a> {
    size: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    base64: Option<String>,
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
    fn nul_and_raw() {
        assert_eq!(show(Format::Nul, b"a b"), "a b\0");
        assert_eq!(show(Format::Raw, b"a\nb"), "a\nb");
    }
}
