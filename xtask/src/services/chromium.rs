//! Headless Chromium and chromedriver for the browser test of the service's pages
//! (`tests/tests/service_pages.rs`, which starts chromedriver itself on a free port).
//!
//! Nothing runs here: `cargo xtask test` only makes sure Debian's `chromium` and
//! `chromium-driver` are installed, with apt-get when either program is missing from `PATH`
//! (no apt call when both are there). The test fails, never skips, when they are missing.

use anyhow::{Context, bail};

use super::account;

/// The packages, and the program each must put on `PATH`.
const PACKAGES: [(&str, &str); 2] = [
    ("chromium", "chromium"),
    ("chromium-driver", "chromedriver"),
];

/// The packages whose tests need the browser.
pub const NEEDED_BY: &[&str] = &["plugboard-tests"];

/// The packages whose program is not on `PATH`.
pub fn missing() -> Vec<&'static str> {
    PACKAGES
        .iter()
        .filter(|(_, program)| account::which(program).is_none())
        .map(|(package, _)| *package)
        .collect()
}

/// Installs whatever of Chromium and chromedriver is missing.
pub fn ensure_installed() -> anyhow::Result<()> {
    let missing = missing();
    if missing.is_empty() {
        return Ok(());
    }
    account::apt_install(&missing).context("cannot install the browser for the pages test")?;
    let still = self::missing();
    if !still.is_empty() {
        bail!(
            "apt-get installed {}, yet its program is still not on PATH",
            still.join(" ")
        );
    }
    Ok(())
}
