//! The CDNOW data as the `lifetimes` 0.11.3 wheel ships it, fetched from PyPI on first
//! use into the git-ignored `.cache/datasets` and read straight from the wheel.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

const WHEEL: &str = "lifetimes-0.11.3-py3-none-any.whl";

/// Reads `lifetimes/datasets/<name>` from the wheel, downloading it if needed.
pub fn lifetimes_dataset(name: &str) -> Vec<u8> {
    let wheel = wheel();
    let file = std::fs::File::open(wheel)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", wheel.display()));
    let mut archive = zip::ZipArchive::new(file)
        .unwrap_or_else(|e| panic!("{} is not a wheel: {e}", wheel.display()));
    let mut entry = archive
        .by_name(&format!("lifetimes/datasets/{name}"))
        .unwrap_or_else(|e| panic!("{name} is not in {}: {e}", wheel.display()));
    let mut data = Vec::new();
    entry.read_to_end(&mut data).expect("wheel entry reads");
    data
}

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/datasets")
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

/// The cached wheel. Each process downloads at most once; processes racing on a cold
/// cache each download into a private directory and rename into place, which is atomic,
/// so a reader never sees a partial file.
fn wheel() -> &'static Path {
    static WHEEL_PATH: OnceLock<PathBuf> = OnceLock::new();
    WHEEL_PATH.get_or_init(|| {
        let cache = cache_dir();
        if let Some(found) = find_wheel(&cache) {
            return found;
        }
        std::fs::create_dir_all(&cache).unwrap_or_else(|e| panic!("cannot create {}: {e}", cache.display()));
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let private = cache.join(format!(".download-{}-{nanos}", std::process::id()));
        let status = Command::new("python3")
            .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--quiet"])
            .arg("lifetimes==0.11.3")
            .arg("-d")
            .arg(&private)
            .status()
            .unwrap_or_else(|e| {
                panic!("the CDNOW data comes from PyPI via `python3 -m pip download`, but python3 could not run: {e}")
            });
        assert!(
            status.success(),
            "`python3 -m pip download --no-deps lifetimes==0.11.3` failed ({status}); python3 with pip and access to PyPI are needed"
        );
        let downloaded = find_wheel(&private).expect("pip reported success but left no lifetimes wheel");
        let target = cache.join(WHEEL);
        std::fs::rename(&downloaded, &target).expect("rename within the cache directory");
        let _ = std::fs::remove_dir_all(&private);
        target
    })
}
