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
    via: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

/// `local uid=U gid=G pid=P [via=T]` or `network address=A:PORT
/// name="N"`; `none`, anything malformed, or anything this version does
/// not know is left out of the output rather than guessed at.
fn json_sender(text: &str) -> Option<JsonSender<'_>> {
    let (kind, mut rest) = text.split_once(' ')?;
    let local = match kind {
        "local" => true,
        "network" => false,
        _ => return None,
    };
    let mut sender = JsonSender {
        kind,
        ..JsonSender::default()
    };
    while !rest.is_empty() {
        let (key, value, after) = field(rest)?;
        rest = after;
        // Each kind has its own keys: a network name can never supply a
        // uid, whatever an older daemon printed.
        match (local, key) {
            (true, "uid") => sender.uid = Some(value.parse().ok()?),
            (true, "gid") => sender.gid = Some(value.parse().ok()?),
            (true, "pid") => sender.pid = Some(value.parse().ok()?),
            (true, "via") => sender.via = Some(value),
            (false, "address") => {
                let (ip, port) = value.rsplit_once(':')?;
                sender.address = Some(ip);
                sender.port = Some(port.parse().ok()?);
            }
            (false, "name") => sender.name = Some(value),
            _ => {}
        }
    }
    Some(sender)
}

/// The first `key=value` field of `text` and what follows it, by the
/// attribute's rule (docs/usage.md): a quoted value runs to the next `"`,
/// which the daemon never leaves inside one; any other value runs to the
/// next space. One space separates fields.
fn field(text: &str) -> Option<(&str, &str, &str)> {
    let (key, rest) = text.split_once('=')?;
    if key.is_empty() || key.contains([' ', '"']) {
        return None;
    }
    let (value, after) = match rest.strip_prefix('"') {
        Some(quoted) => {
            let (value, after) = quoted.split_once('"')?;
            (value, after)
        }
        None => {
            let end = rest.find(' ').unwrap_or(rest.len());
            let value = &rest[..end];
            if value.contains('"') {
                return None;
            }
            (value, &rest[end..])
        }
    };
    let after = match after.strip_prefix(' ') {
        Some(next) if !next.is_empty() => next,
        Some(_) => return None,
        None if after.is_empty() => after,
        None => return None,
    };
    Some((key, value, after))
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
        let net = json_sender("network address=198.18.0.2:138 name=\"HOSTA<00>\"").unwrap();
        assert_eq!(
            serde_json::to_string(&net).unwrap(),
            "{\"kind\":\"network\",\"address\":\"198.18.0.2\",\"port\":138,\"name\":\"HOSTA<00>\"}"
        );
        assert_eq!(json_sender("none"), None);
    }

    fn json(text: &str) -> String {
        json_sender(text).map_or_else(|| "-".into(), |s| serde_json::to_string(&s).unwrap())
    }

    #[test]
    fn a_name_is_a_name_whatever_it_holds() {
        assert_eq!(
            json("network address=198.18.0.7:138 name=\"pid=1 uid=0 z=<00>\""),
            "{\"kind\":\"network\",\"address\":\"198.18.0.7\",\"port\":138,\"name\":\"pid=1 uid=0 z=<00>\"}"
        );
        assert_eq!(
            json("network address=198.18.0.7:138 name=\"A B<00>\""),
            "{\"kind\":\"network\",\"address\":\"198.18.0.7\",\"port\":138,\"name\":\"A B<00>\"}"
        );
        assert_eq!(
            json("network address=198.18.0.7:138 name=\"A\\x22 uid=0<00>\""),
            "{\"kind\":\"network\",\"address\":\"198.18.0.7\",\"port\":138,\"name\":\"A\\\\x22 uid=0<00>\"}"
        );
        // What an older daemon printed, unquoted: never a uid for a host.
        assert_eq!(
            json("network address=198.18.0.7:138 name=pid=1 uid=0 z=<00>"),
            "{\"kind\":\"network\",\"address\":\"198.18.0.7\",\"port\":138,\"name\":\"pid=1\"}"
        );
        assert_eq!(json("network address=198.18.0.7:138 name=A B<00>"), "-");
        assert_eq!(
            json("local uid=4242 gid=4242 pid=0 via=@@CORP"),
            "{\"kind\":\"local\",\"uid\":4242,\"gid\":4242,\"pid\":0,\"via\":\"@@CORP\"}"
        );
        for broken in [
            "network address=1.2.3.4:138 name=\"open",
            "network address=1.2.3.4:138 name=\"a\"b",
            "network address=1.2.3.4:138  name=\"a\"",
            "network address=1.2.3.4:138 ",
            "local",
        ] {
            assert_eq!(json(broken), "-", "{broken}");
        }
    }

    #[test]
    fn nul_and_raw() {
        assert_eq!(show(Format::Nul, b"a b"), "a b\0");
        assert_eq!(show(Format::Raw, b"a\nb"), "a\nb");
    }
}
