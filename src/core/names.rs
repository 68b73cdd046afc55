//! Mailslot names: what a name may contain and how two names compare.
//!
//! Windows compares mailslot names without regard to case, so every name is
//! kept twice: as its creator spelled it (shown in listings) and folded to
//! lower case (the key it is found by).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use super::error::{Error, Result};

/// Longest name component, as NAME_MAX on Linux.
pub const NAME_MAX: usize = 255;

/// The key a name is found by. Fails for names that cannot be a mailslot
/// name: empty, `.`/`..`, over NAME_MAX bytes, not UTF-8 (Windows names are
/// Unicode), or holding control characters or `\` (the Windows path
/// separator, which would make the name ambiguous on the wire).
pub fn fold(name: &OsStr) -> Result<String> {
    let bytes = name.as_bytes();
    if bytes.len() > NAME_MAX {
        return Err(Error::NameTooLong);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| Error::InvalidName)?;
    if text.is_empty() || text == "." || text == ".." {
        return Err(Error::InvalidName);
    }
    if text
        .chars()
        .any(|c| c.is_control() || c == '\\' || c == '/')
    {
        return Err(Error::InvalidName);
    }
    Ok(text.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> Result<String> {
        fold(OsStr::new(s))
    }

    #[test]
    fn case_insensitive() {
        assert_eq!(f("Foo").unwrap(), f("fOO").unwrap());
        assert_eq!(f("ÄRGER").unwrap(), f("ärger").unwrap());
    }

    #[test]
    fn refused_names() {
        assert_eq!(f(""), Err(Error::InvalidName));
        assert_eq!(f("."), Err(Error::InvalidName));
        assert_eq!(f(".."), Err(Error::InvalidName));
        assert_eq!(f("a\nb"), Err(Error::InvalidName));
        assert_eq!(f("a\\b"), Err(Error::InvalidName));
        assert_eq!(f("a\x7f"), Err(Error::InvalidName));
        assert_eq!(f(&"x".repeat(256)), Err(Error::NameTooLong));
        assert!(f(&"x".repeat(255)).is_ok());
        assert_eq!(fold(OsStr::from_bytes(b"\xff")), Err(Error::InvalidName));
    }
}
