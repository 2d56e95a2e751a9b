//! Measurements made inside the benchmark process: the bare reqwest loop the runner's HTTP path is
//! compared with, and loading the plugin library.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use plugboard_core::Connector as _;

/// The longest the bare loop may run, whatever `count` asks for.
const BARE_LOOP_DEADLINE: Duration = Duration::from_secs(120);

/// Sends `GET {base_url}/account/summary` `count` times, one after the other, with the bearer
/// `token`, reading every body; returns the mean time per request in microseconds.
///
/// It is what the runner's `account.get_summary` step sends, without the runner: a tokio
/// runtime and one `reqwest::Client` (keep-alive), nothing else.
pub fn bare_reqwest_loop(base_url: &str, token: &str, count: u32) -> anyhow::Result<f64> {
    plugboard_runner::executor::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start a tokio runtime")?;
    let url = format!("{base_url}/account/summary");
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .build()
            .context("cannot build a reqwest client")?;
        // One request first, so the connection is open as it is for the runner's later steps.
        get(&client, &url, token).await?;
        let started = Instant::now();
        for _ in 0..count {
            get(&client, &url, token).await?;
            if started.elapsed() > BARE_LOOP_DEADLINE {
                bail!(
                    "the bare reqwest loop took over {} s",
                    BARE_LOOP_DEADLINE.as_secs()
                );
            }
        }
        Ok(started.elapsed().as_secs_f64() * 1e6 / f64::from(count.max(1)))
    })
}

async fn get(client: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<()> {
    let response = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .context("the bare loop's request failed")?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .context("the bare loop's response body failed")?;
    if !status.is_success() || body.is_empty() {
        bail!("the sandbox answered the bare loop with {status}");
    }
    Ok(())
}

/// Copies `library` to `count` distinct file names under `dir` (a library is never unloaded,
/// and the dynamic loader would hand back the already loaded one for the same file), then loads
/// each and reads its manifest; returns the milliseconds each load took.
pub fn plugin_loads(library: &Path, dir: &Path, count: usize) -> anyhow::Result<Vec<f64>> {
    let extension = library
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or(std::env::consts::DLL_EXTENSION);
    let copies: Vec<PathBuf> = (1..=count)
        .map(|n| {
            let copy = dir.join(format!("constant_contact_plugin_{n}.{extension}"));
            std::fs::copy(library, &copy).with_context(|| {
                format!("cannot copy {} to {}", library.display(), copy.display())
            })?;
            Ok(copy)
        })
        .collect::<anyhow::Result<_>>()?;
    let mut times = Vec::with_capacity(count);
    for copy in &copies {
        let started = Instant::now();
        let connector = plugboard_runner::load_plugin(copy)?;
        let manifest = connector.manifest();
        let methods = manifest.methods.len();
        let elapsed = started.elapsed();
        if manifest.id != "constant-contact" || methods == 0 {
            bail!(
                "{} loaded connector `{}` with {methods} methods",
                copy.display(),
                manifest.id
            );
        }
        times.push(elapsed.as_secs_f64() * 1e3);
    }
    Ok(times)
}
