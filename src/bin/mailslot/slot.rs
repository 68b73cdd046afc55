//! From a name as users write it (`jobs`, `dir/jobs`, `\\.\mailslot\dir\jobs`)
//! to the file on the mount.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::failure::Failure;

/// The Windows prefix for a slot on this machine, compared without case.
const LOCAL_PREFIX: &str = "//./mailslot/";

#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    /// Components below the mount point, joined with `/`.
    pub relative: String,
    /// The file on the mount.
    pub path: PathBuf,
}

impl Slot {
    /// Resolves `name` under `mount`. The mount point itself is not checked here.
    pub fn parse(mount: &Path, name: &str) -> Result<Slot, Failure> {
        let relative = relative_name(mount, name)?;
        if relative.is_empty() {
            return Err(Failure::Usage(format!("'{name}' names no slot")));
        }
        Ok(Slot {
            path: mount.join(&relative),
            relative,
        })
    }

    /// Like [`Slot::parse`], but an empty name means the mount point itself
    /// (a directory to list).
    pub fn parse_dir(mount: &Path, name: Option<&str>) -> Result<Slot, Failure> {
        let relative = match name {
            Some(name) => relative_name(mount, name)?,
            None => String::new(),
        };
        Ok(Slot {
            path: if relative.is_empty() {
                mount.to_path_buf()
            } else {
                mount.join(&relative)
            },
            relative,
        })
    }

    /// The same slot spelled as its creator spelled it (names compare without
    /// case, listings show the creator's spelling). Components that cannot
    /// be found keep the spelling given.
    pub fn as_created(&self, mount: &Path) -> Slot {
        let mut dir = mount.to_path_buf();
        let mut parts = Vec::new();
        for part in self.relative.split('/').filter(|p| !p.is_empty()) {
            let wanted = part.to_lowercase();
            let found = std::fs::read_dir(&dir).ok().and_then(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| e.file_name().into_string().ok())
                    .find(|name| name.to_lowercase() == wanted)
            });
            let part = found.unwrap_or_else(|| part.to_string());
            dir.push(&part);
            parts.push(part);
        }
        let relative = parts.join("/");
        Slot {
            path: if relative.is_empty() {
                mount.to_path_buf()
            } else {
                mount.join(&relative)
            },
            relative,
        }
    }

    /// The name in Windows form, as CreateMailslot would have been given it.
    pub fn windows_name(&self) -> String {
        format!(r"\\.\mailslot\{}", self.relative.replace('/', r"\"))
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.windows_name(), self.path.display())
    }
}

/// The components of `name` below the mount, joined with `/`.
fn relative_name(mount: &Path, name: &str) -> Result<String, Failure> {
    // `\` cannot occur in a slot name, so it is always a separator.
    let unified = name.replace('\\', "/");
    let rest: &str = if unified.starts_with("//") {
        let prefix = unified.get(..LOCAL_PREFIX.len());
        if prefix.is_some_and(|p| p.eq_ignore_ascii_case(LOCAL_PREFIX)) {
            &unified[LOCAL_PREFIX.len()..]
        } else if unified.eq_ignore_ascii_case(&LOCAL_PREFIX[..LOCAL_PREFIX.len() - 1]) {
            ""
        } else {
            return Err(Failure::Usage(format!(
                "'{name}': only slots on this machine (\\\\.\\mailslot\\...) can be named"
            )));
        }
    } else if unified.starts_with('/') {
        match Path::new(&unified).strip_prefix(mount) {
            Ok(below) => below.to_str().unwrap_or_default(),
            Err(_) => {
                return Err(Failure::Usage(format!(
                    "'{name}' is not below the mount point {}; give the name without it, \
                     or the mount point with --mount",
                    mount.display()
                )));
            }
        }
    } else {
        &unified
    };
    let mut parts = Vec::new();
    for part in rest.split('/').filter(|p| !p.is_empty()) {
        if part == "." || part == ".." {
            return Err(Failure::Usage(format!(
                "'{name}': `.` and `..` are not slot names"
            )));
        }
        parts.push(part);
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(name: &str) -> Result<String, u8> {
        Slot::parse(Path::new("/mailslot"), name)
            .map(|s| s.relative)
            .map_err(|f| f.code())
    }

    #[test]
    fn plain_and_nested_names() {
        assert_eq!(rel("demo"), Ok("demo".into()));
        assert_eq!(rel("path/demo"), Ok("path/demo".into()));
        assert_eq!(rel("path//demo/"), Ok("path/demo".into()));
        assert_eq!(rel(r"path\demo"), Ok("path/demo".into()));
    }

    #[test]
    fn windows_names() {
        assert_eq!(rel(r"\\.\mailslot\demo"), Ok("demo".into()));
        assert_eq!(rel(r"\\.\MailSlot\Path\Demo"), Ok("Path/Demo".into()));
        assert_eq!(rel("//./mailslot/a/b"), Ok("a/b".into()));
        assert_eq!(rel(r"\\server\mailslot\demo"), Err(2));
        assert_eq!(rel(r"\\*\mailslot\demo"), Err(2));
        assert_eq!(rel(r"\\.\mailslot"), Err(2));
        assert_eq!(rel(r"\\.\pipe\demo"), Err(2));
    }

    #[test]
    fn absolute_paths_below_the_mount() {
        assert_eq!(rel("/mailslot/a/b"), Ok("a/b".into()));
        assert_eq!(rel("/tmp/a"), Err(2));
        assert_eq!(rel("/mailslotx/a"), Err(2));
    }

    #[test]
    fn refused() {
        assert_eq!(rel(""), Err(2));
        assert_eq!(rel("a/../b"), Err(2));
        assert_eq!(rel("./a"), Err(2));
    }

    #[test]
    fn directories_for_ls() {
        let dir = |name| Slot::parse_dir(Path::new("/m"), name).unwrap().relative;
        assert_eq!(dir(None), "");
        assert_eq!(dir(Some(r"\\.\mailslot")), "");
        assert_eq!(dir(Some(r"\\.\mailslot\")), "");
        assert_eq!(dir(Some("a/")), "a");
        assert_eq!(
            Slot::parse_dir(Path::new("/m"), None).unwrap().path,
            Path::new("/m")
        );
    }

    #[test]
    fn shown_in_windows_form() {
        let s = Slot::parse(Path::new("/m"), "a/B").unwrap();
        assert_eq!(s.windows_name(), r"\\.\mailslot\a\B");
        assert_eq!(s.path, Path::new("/m/a/B"));
    }
}
