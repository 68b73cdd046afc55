//! `mailslot wine`: points a Wine prefix's mailslot paths at the mount, so
//! Windows programs run under Wine write to mailslotfs with no change.
//!
//! Wine maps `\\.\mailslot\x` to `$WINEPREFIX/dosdevices/mailslot/x` when
//! that path exists, and `\\NAME\mailslot\x` to
//! `$WINEPREFIX/dosdevices/unc/NAME/mailslot/x` (matching the case of NAME
//! through the directory's listing). So one link serves every local slot,
//! and each computer or domain needs a directory of its own with a
//! `mailslot` link in it: Wine cannot tell a computer from a domain by its
//! name, and neither can a link, so each is named here once.

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::failure::Failure;
use crate::{WineArgs, mounted, xattr};

pub fn run(mount: &Path, args: &WineArgs) -> Result<(), Failure> {
    let mount = mounted::check(mount)?;
    let prefix = prefix(args)?;
    let dosdevices = prefix.join("dosdevices");
    if !dosdevices.is_dir() {
        return Err(Failure::Usage(format!(
            "{} is not a Wine prefix yet (no dosdevices): run `WINEPREFIX={} wineboot -i` first",
            prefix.display(),
            prefix.display()
        )));
    }
    let own = xattr::get(&mount, "user.mailslot.net.netbios_name").ok();
    let workgroup = xattr::get(&mount, "user.mailslot.net.workgroup").ok();
    let mut links = vec![(dosdevices.join("mailslot"), mount.clone())];
    let unc = dosdevices.join("unc");
    // This computer's own name is local: its writes keep their sender, as
    // writes to \\.\mailslot do.
    for name in own.iter() {
        links.push((unc.join(folded(name)?).join("mailslot"), mount.clone()));
    }
    for host in &args.hosts {
        let target = mount.join(format!("@{}", folded(host)?));
        links.push((unc.join(folded(host)?).join("mailslot"), target));
    }
    let domains = if args.domains.is_empty() {
        workgroup.into_iter().collect()
    } else {
        args.domains.clone()
    };
    for domain in &domains {
        if args.hosts.iter().any(|h| h.eq_ignore_ascii_case(domain)) {
            return Err(Failure::Usage(format!(
                "{domain} is named as a computer and as a domain; Wine sends both to one path"
            )));
        }
        let target = mount.join(format!("@@{}", folded(domain)?));
        links.push((unc.join(folded(domain)?).join("mailslot"), target));
    }
    if args.remove {
        return remove(&unc, &links);
    }
    for (link, target) in &links {
        make_link(link, target)?;
        println!("{} -> {}", link.display(), target.display());
    }
    Ok(())
}

fn prefix(args: &WineArgs) -> Result<PathBuf, Failure> {
    if let Some(p) = &args.prefix {
        return Ok(p.clone());
    }
    if let Some(p) = std::env::var_os("WINEPREFIX").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".wine")),
        None => Err(Failure::Usage(
            "no Wine prefix: give --prefix DIR or set WINEPREFIX".into(),
        )),
    }
}

/// A computer or domain name as a directory of the prefix: lower case, as
/// Wine finds it whatever case a program spells it in.
fn folded(name: &str) -> Result<String, Failure> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.len() > 15
        || name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control());
    if bad {
        return Err(Failure::Usage(format!(
            "'{name}' is not a NetBIOS computer or domain name (1 to 15 characters, no slashes)"
        )));
    }
    Ok(name.to_lowercase())
}

fn make_link(link: &Path, target: &Path) -> Result<(), Failure> {
    let failed = |what: &str, e: &io::Error| {
        Failure::Other(format!(
            "{what} {}: {}",
            link.display(),
            mailslotfs::cli::error_text(e)
        ))
    };
    if let Some(parent) = link.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(|e| failed("creating the directory of", &e))?;
    }
    match std::fs::symlink_metadata(link) {
        Ok(m) if m.file_type().is_symlink() => {
            std::fs::remove_file(link).map_err(|e| failed("replacing", &e))?
        }
        Ok(_) => {
            return Err(Failure::Other(format!(
                "{} exists and is not a link; move it away first",
                link.display()
            )));
        }
        Err(_) => {}
    }
    std::os::unix::fs::symlink(target, link).map_err(|e| failed("linking", &e))
}

/// Removes the links that point into the mount, and the per-name
/// directories that held nothing else.
fn remove(unc: &Path, links: &[(PathBuf, PathBuf)]) -> Result<(), Failure> {
    for (link, target) in links {
        let ours = std::fs::read_link(link).is_ok_and(|t| t == *target);
        if !ours {
            continue;
        }
        std::fs::remove_file(link).map_err(|e| {
            Failure::Other(format!(
                "removing {}: {}",
                link.display(),
                mailslotfs::cli::error_text(&e)
            ))
        })?;
        println!("removed {}", link.display());
        if let Some(dir) = link.parent().filter(|d| d.starts_with(unc) && *d != unc) {
            let _ = std::fs::remove_dir(dir);
        }
    }
    let _ = std::fs::remove_dir(unc);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::folded;

    #[test]
    fn names_fold_and_bad_ones_are_refused() {
        assert_eq!(folded("HostB").ok(), Some("hostb".to_string()));
        for bad in ["", ".", "..", "a/b", "a\\b", "sixteen-chars-xx"] {
            assert!(folded(bad).is_err(), "{bad}");
        }
    }
}
