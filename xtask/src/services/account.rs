//! Who runs a service, and installing what it needs.
//!
//! PostgreSQL's `initdb` and `postgres` refuse to run as root. When this program runs as root
//! (CI does), they run as an unprivileged account instead: `postgres` (which Debian's package
//! creates) or else `nobody`, through `Command::uid`/`gid` (the child drops root before it
//! starts; no `su` or `runuser` in between, so signals reach the server itself).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// An account to run a service as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its name, for messages.
    pub name: String,
    /// Its user id.
    pub uid: u32,
    /// Its primary group id.
    pub gid: u32,
}

impl Account {
    /// Makes `command` run as this account.
    pub fn apply(&self, command: &mut Command) {
        command.uid(self.uid).gid(self.gid);
    }

    /// Gives `path` to this account (it must be able to write there).
    pub fn take_ownership(&self, path: &Path) -> anyhow::Result<()> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
            .with_context(|| format!("cannot give {} to user {}", path.display(), self.name))
    }
}

/// Whether this process runs as root (its effective user id is 0).
pub fn is_root() -> anyhow::Result<bool> {
    let output = Command::new("id")
        .arg("-u")
        .output()
        .context("cannot run `id -u`")?;
    let uid = String::from_utf8_lossy(&output.stdout);
    Ok(uid.trim() == "0")
}

/// The account a service that refuses root runs as: `None` when we are not root (it runs as
/// us), else `postgres` or `nobody`.
pub fn unprivileged() -> anyhow::Result<Option<Account>> {
    if !is_root()? {
        return Ok(None);
    }
    for name in ["postgres", "nobody"] {
        if let Some(account) = lookup(name) {
            return Ok(Some(account));
        }
    }
    bail!(
        "this runs as root, and PostgreSQL refuses to; neither a `postgres` nor a `nobody` \
         user exists to run it as (create one, or run as another user)"
    )
}

/// The account `name`, if it exists.
pub fn lookup(name: &str) -> Option<Account> {
    let id = |flag: &str| -> Option<u32> {
        let output = Command::new("id").args([flag, name]).output().ok()?;
        if !output.status.success() {
            return None;
        }
        String::from_utf8_lossy(&output.stdout).trim().parse().ok()
    };
    Some(Account {
        name: name.to_owned(),
        uid: id("-u")?,
        gid: id("-g")?,
    })
}

/// A folder to make a service's temporary folder in: the system's temporary folder, unless
/// another account must reach it and cannot (a `TMPDIR` under root's home), then `/tmp`.
pub fn temp_base(for_account: Option<&Account>) -> PathBuf {
    let base = std::env::temp_dir();
    if for_account.is_none() || others_can_traverse(&base) {
        base
    } else {
        PathBuf::from("/tmp")
    }
}

/// Whether every folder from the root down to `path` lets other users through (`o+x`).
fn others_can_traverse(path: &Path) -> bool {
    path.ancestors()
        .all(|dir| std::fs::metadata(dir).is_ok_and(|meta| meta.permissions().mode() & 0o001 != 0))
}

/// Installs Debian packages with apt-get (through `sudo` when not root): `apt-get install`
/// first, and only if that fails `apt-get update` and the install again.
pub fn apt_install(packages: &[&str]) -> anyhow::Result<()> {
    if which("apt-get").is_none() {
        bail!(
            "{} is not installed, and this machine has no apt-get to install it with; install it \
             with the system's package manager",
            packages.join(" ")
        );
    }
    let root = is_root()?;
    let apt = |args: &[&str]| -> anyhow::Result<bool> {
        let mut command = if root {
            Command::new("apt-get")
        } else {
            // sudo resets the environment; `env` sets the front end inside it.
            let mut sudo = Command::new("sudo");
            sudo.args(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
            sudo
        };
        command.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        let status = command
            .status()
            .with_context(|| format!("cannot run `apt-get {}`", args.join(" ")))?;
        Ok(status.success())
    };
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend_from_slice(packages);
    eprintln!("installing {} with apt-get", packages.join(" "));
    if apt(&install)? {
        return Ok(());
    }
    eprintln!("apt-get install failed; updating the package lists and trying again");
    if apt(&["update"])? && apt(&install)? {
        return Ok(());
    }
    bail!(
        "`apt-get install {}` failed (see its output above)",
        packages.join(" ")
    )
}

/// The path of program `name` on `PATH`, if any.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a file someone may execute.
pub fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_exists_and_an_unknown_account_does_not() {
        let root = lookup("root").expect("every unix system has root");
        assert_eq!((root.uid, root.gid), (0, 0));
        assert_eq!(lookup("no-such-user-plugboard"), None);
    }

    #[test]
    fn the_temporary_base_is_reachable_by_another_account() {
        let nobody = Account {
            name: "nobody".into(),
            uid: 65534,
            gid: 65534,
        };
        assert!(others_can_traverse(&temp_base(Some(&nobody))));
        assert!(others_can_traverse(Path::new("/tmp")));
    }

    #[test]
    fn which_finds_programs_on_the_path() {
        assert!(which("sh").is_some());
        assert!(which("no-such-program-plugboard").is_none());
    }
}
