//! Public data sets from the package registries, fetched on first use into the
//! git-ignored cache: the CDNOW purchase logs as the `lifetimes` 0.11.3 wheel on PyPI
//! ships them.

use anyhow::{Context, Result, bail};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

const WHEEL: &str = "lifetimes-0.11.3-py3-none-any.whl";

/// Reads `lifetimes/datasets/<name>` (e.g. `CDNOW_sample.txt`) from the wheel.
pub fn lifetimes_dataset(name: &str) -> Result<Vec<u8>> {
    let wheel = wheel()?;
    let file =
        std::fs::File::open(&wheel).with_context(|| format!("opening {}", wheel.display()))?;
    let mut archive = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not a wheel", wheel.display()))?;
    let mut entry = archive
        .by_name(&format!("lifetimes/datasets/{name}"))
        .with_context(|| format!("{name} is not in {}", wheel.display()))?;
    let mut data = Vec::new();
    entry.read_to_end(&mut data)?;
    Ok(data)
}

/// PyPI names the file `Lifetimes-…`; compare case-insensitively.
fn find_wheel(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().eq_ignore_ascii_case(WHEEL))
        })
}

/// The cached wheel, downloaded with `pip download` into a private directory and
/// renamed into place, so a concurrent reader never sees a partial file.
fn wheel() -> Result<PathBuf> {
    let cache = crate::install::cache_dir().join("datasets");
    if let Some(found) = find_wheel(&cache) {
        return Ok(found);
    }
    std::fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    let private = cache.join(format!(".download-{}", std::process::id()));
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
        ])
        .args(["--quiet", "lifetimes==0.11.3", "-d"])
        .arg(&private)
        .status()
        .context("running `python3 -m pip download` (python3 with pip is needed)")?;
    if !status.success() {
        bail!("`python3 -m pip download --no-deps lifetimes==0.11.3` failed ({status})");
    }
    let downloaded =
        find_wheel(&private).context("pip reported success but left no lifetimes wheel")?;
    let target = cache.join(WHEEL);
    std::fs::rename(&downloaded, &target).context("moving the wheel into the cache")?;
    let _ = std::fs::remove_dir_all(&private);
    Ok(target)
}
