//! From a name as users write it (`jobs`, `dir/jobs`, `\\.\mailslot\dir\jobs`,
//! and for `send` the names on other machines: `@HOST/jobs`,
//! `\\HOST\mailslot\jobs`, `\\DOMAIN<1C>\mailslot\net\netlogon`, `\\*\mailslot\jobs`)
//! to the file on the mount.

use std::fmt;
use std::path::{Path, PathBuf};

use mailslotfs::core::{RemoteTarget, Server, TargetKind, WindowsName};

use crate::failure::Failure;

#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    /// Components below the mount point, joined with `/`; a name on
    /// another machine starts with its target (`@HOST`, `@@DOMAIN#1C`).
    pub relative: String,
    /// The file on the mount.
    pub path: PathBuf,
    /// The machine or domain, for a name on another machine.
    pub remote: Option<RemoteTarget>,
}

/// How a name is spelled, before it is a path on the mount.
enum Spelled {
    /// Components below the mount; a remote target first for a remote name.
    Mount(Vec<String>),
    /// `\\NAME\mailslot\...` or `\\*\mailslot\...`: a computer or a domain.
    Windows(Server, Vec<String>),
}

const FORMS: &str = "jobs, dir/jobs, \\\\.\\mailslot\\dir\\jobs, @HOST/jobs, @@DOMAIN/jobs, \
                     \\\\HOST\\mailslot\\jobs, \\\\DOMAIN<1C>\\mailslot\\net\\netlogon, \
                     \\\\*\\mailslot\\jobs";

impl Slot {
    /// Resolves `name` under `mount`: a slot on this machine. Names on
    /// other machines are refused: only `send` reaches them.
    pub fn parse(mount: &Path, name: &str) -> Result<Slot, Failure> {
        let slot = Self::parse_send(mount, name, || None, None)?;
        if slot.remote.is_some() {
            return Err(Failure::Usage(format!(
                "'{name}' is on another machine: names there are write-only, and only \
                 `mailslot send` reaches them"
            )));
        }
        Ok(slot)
    }

    /// Resolves any name `send` takes. `\\NAME\mailslot\...` is a domain
    /// when `kind` says so, when NAME has a group type (`<1C>`, `<1E>`) or
    /// is the mount's own workgroup (asked of `workgroup` only then), and
    /// a computer otherwise.
    pub fn parse_send(
        mount: &Path,
        name: &str,
        workgroup: impl FnOnce() -> Option<String>,
        kind: Option<TargetKind>,
    ) -> Result<Slot, Failure> {
        let parts = match spelled(mount, name)? {
            Spelled::Mount(parts) => parts,
            Spelled::Windows(server, path) => {
                let target = server.target(workgroup().as_deref(), kind);
                std::iter::once(target.component()).chain(path).collect()
            }
        };
        if parts.is_empty() {
            return Err(Failure::Usage(format!("'{name}' names no slot")));
        }
        let remote = match RemoteTarget::parse(&parts[0]) {
            None => None,
            Some(Ok(target)) if parts.len() > 1 => Some(target),
            Some(_) => {
                return Err(Failure::Usage(format!(
                    "'{name}': '{}' is not a remote target with a mailslot name below it \
                     (names are {FORMS})",
                    parts[0]
                )));
            }
        };
        let relative = parts.join("/");
        Ok(Slot {
            path: mount.join(&relative),
            relative,
            remote,
        })
    }

    /// Like [`Slot::parse`], but an empty name means the mount point itself
    /// (a directory to list).
    pub fn parse_dir(mount: &Path, name: Option<&str>) -> Result<Slot, Failure> {
        let relative = match name.map(|n| spelled(mount, n)).transpose()? {
            None => String::new(),
            Some(Spelled::Mount(parts)) => parts.join("/"),
            Some(Spelled::Windows(..)) => {
                return Err(Failure::Usage(format!(
                    "'{}' is on another machine; only its directories under the mount \
                     (/mailslot/@HOST) can be listed",
                    name.unwrap_or_default()
                )));
            }
        };
        Ok(Slot {
            path: if relative.is_empty() {
                mount.to_path_buf()
            } else {
                mount.join(&relative)
            },
            relative,
            remote: None,
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
            remote: self.remote.clone(),
        }
    }

    /// For a name on another machine: the mount's directories its path
    /// needs (the directories under a target are the mount's own).
    pub fn remote_dirs(&self, mount: &Path) -> Option<PathBuf> {
        self.remote.as_ref()?;
        let parts: Vec<&str> = self.relative.split('/').collect();
        (parts.len() > 2).then(|| mount.join(parts[1..parts.len() - 1].join("/")))
    }

    /// The name in Windows form, as CreateMailslot (or CreateFile, for a
    /// name on another machine) would have been given it.
    pub fn windows_name(&self) -> String {
        let mut parts = self.relative.split('/');
        let server = match &self.remote {
            None => None,
            Some(target) => {
                parts.next();
                Some(match target.kind {
                    TargetKind::PrimaryDomain => Server::PrimaryDomain,
                    _ => Server::Named {
                        name: target.name.clone(),
                        suffix: target.suffix,
                    },
                })
            }
        };
        WindowsName {
            server,
            path: parts.map(str::to_string).collect(),
        }
        .spelling()
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.windows_name(), self.path.display())
    }
}

fn spelled(mount: &Path, name: &str) -> Result<Spelled, Failure> {
    if let Some(windows) = WindowsName::parse(name) {
        let windows = windows.map_err(|_| {
            Failure::Usage(format!(
                "'{name}' is not a mailslot name (names are {FORMS})"
            ))
        })?;
        return Ok(match windows.server {
            None => Spelled::Mount(windows.path),
            Some(server) => Spelled::Windows(server, windows.path),
        });
    }
    // `\` cannot occur in a slot name, so it is always a separator.
    let unified = name.replace('\\', "/");
    let rest: &str = if unified.starts_with('/') {
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
        parts.push(part.to_string());
    }
    Ok(Spelled::Mount(parts))
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

    fn sent(name: &str, kind: Option<TargetKind>) -> Result<(String, String), u8> {
        Slot::parse_send(Path::new("/m"), name, || Some("TESTDOM".into()), kind)
            .map(|s| (s.relative.clone(), s.windows_name()))
            .map_err(|f| f.code())
    }

    #[test]
    fn names_on_other_machines() {
        let pair = |a: &str, b: &str| Ok((a.to_string(), b.to_string()));
        assert_eq!(
            sent(r"\\hostb\mailslot\chat", None),
            pair("@HOSTB/chat", r"\\HOSTB\mailslot\chat")
        );
        assert_eq!(
            sent(r"\\testdom\mailslot\chat", None),
            pair("@@TESTDOM/chat", r"\\TESTDOM\mailslot\chat")
        );
        assert_eq!(
            sent(r"\\TestDom<1C>\MAILSLOT\net\netlogon", None),
            pair(
                "@@TESTDOM#1C/net/netlogon",
                r"\\TESTDOM<1c>\mailslot\net\netlogon"
            )
        );
        assert_eq!(
            sent(r"\\*\mailslot\chat", None),
            pair("@@/chat", r"\\*\mailslot\chat")
        );
        assert_eq!(
            sent(r"\\other\mailslot\x", Some(TargetKind::Domain)),
            pair("@@OTHER/x", r"\\OTHER\mailslot\x")
        );
        assert_eq!(
            sent("@hostb/chat", None),
            pair("@hostb/chat", r"\\HOSTB\mailslot\chat")
        );
        assert_eq!(
            sent("/m/@@testdom#1c/net/netlogon", None).unwrap().1,
            r"\\TESTDOM<1c>\mailslot\net\netlogon"
        );
        assert_eq!(sent("@hostb", None), Err(2));
        assert_eq!(sent("@bad name/x", None), Err(2));
        assert_eq!(sent(r"\\hostb\mailslot", None), Err(2));
        let s = Slot::parse_send(Path::new("/m"), "@@x/a/b/c", || None, None).unwrap();
        assert_eq!(s.remote_dirs(Path::new("/m")), Some("/m/a/b".into()));
        assert_eq!(
            rel("@hostb/chat"),
            Err(2),
            "only send reaches other machines"
        );
    }
}
