//! How `listen` prints one message in each format. Every format but `raw`
//! keeps message boundaries visible to the next program in a pipeline.

use base64::prelude::{BASE64_STANDARD, Engine};
use serde::Serialize;

use crate::Format;

/// Appends `message` to `out` as `format` prints it; `sender` is the
/// slot's `last_sender` after the read (JSON shows it).
pub fn render(format: Format, message: &[u8], sender: Option<&str>, out: &mut Vec<u8>) {
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
            let sender = sender.and_then(json_sender);
            let line = match std::str::from_utf8(message) {
                Ok(text) => JsonMessage {
                    size: message.len(),
                    text: Some(text),
                    base64: None,
                    sender,
                },
                Err(_) => JsonMessage {
                    size: message.len(),
                    text: None,
                    base64: Some(BASE64_STANDARD.encode(message)),
                    sender,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    sender: Option<JsonSender<'a>>,
}

/// Who sent a message, as `user.mailslot.last_sender` names it; fields in
/// the order the xattr prints them.
#[derive(Serialize, Default, Debug, PartialEq)]
struct JsonSender<'a> {
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

/// `local uid=U gid=G pid=P` or `network address=A:PORT name=N`; `none`
/// (or anything this version does not know) is left out of the output.
fn json_sender(text: &str) -> Option<JsonSender<'_>> {
    let mut words = text.split(' ');
    let kind = words.next().filter(|k| *k == "local" || *k == "network")?;
    let mut sender = JsonSender {
        kind,
        ..JsonSender::default()
    };
    for word in words {
        let (key, value) = word.split_once('=')?;
        match key {
            "uid" => sender.uid = Some(value.parse().ok()?),
            "gid" => sender.gid = Some(value.parse().ok()?),
            "pid" => sender.pid = Some(value.parse().ok()?),
            "address" => {
                let (ip, port) = value.rsplit_once(':')?;
                sender.address = Some(ip);
                sender.port = Some(port.parse().ok()?);
            }
            "name" => sender.name = Some(value),
            _ => {}
        }
    }
    Some(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(format: Format, message: &[u8]) -> String {
        let mut out = Vec::new();
        render(format, message, None, &mut out);
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
    fn json_names_the_sender() {
        let mut out = Vec::new();
        render(
            Format::Json,
            b"hi",
            Some("local uid=4242 gid=100 pid=77"),
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"size\":2,\"text\":\"hi\",\"sender\":{\"kind\":\"local\",\"uid\":4242,\"gid\":100,\"pid\":77}}\n"
        );
        let net = json_sender("network address=198.18.0.2:138 name=HOSTA<00>").unwrap();
        assert_eq!(
            serde_json::to_string(&net).unwrap(),
            "{\"kind\":\"network\",\"address\":\"198.18.0.2\",\"port\":138,\"name\":\"HOSTA<00>\"}"
        );
        assert_eq!(json_sender("none"), None);
    }

    #[test]
    fn nul_and_raw() {
        assert_eq!(show(Format::Nul, b"a b"), "a b\0");
        assert_eq!(show(Format::Raw, b"a\nb"), "a\nb");
    }
}
