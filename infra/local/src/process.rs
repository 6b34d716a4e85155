//! Runs a service process that cannot outlive the process that started it.
//!
//! Test binaries exit without running the destructors of statics and may be killed
//! outright, so a kill in `Drop` alone would leave DynamoDB Local running after a test
//! run. `PR_SET_PDEATHSIG` is no help either: it fires when the spawning *thread* exits,
//! and test harnesses run every test on a thread of its own. Instead the service runs
//! under a small `sh` wrapper whose stdin is a pipe that only this process writes to.
//! When this process lets go of the pipe, or dies for any reason, the kernel closes it,
//! the wrapper reads EOF and kills the service.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// `$@` is the service's command line. fd 3 keeps the lifeline: POSIX shells point an
/// asynchronous list's stdin at /dev/null before any redirection, so the watcher could
/// not read the original stdin through `<&0`. The services keep no state worth a clean
/// shutdown (everything is in memory), so SIGKILL is used: it cannot be ignored or stall.
/// The watcher is reaped before the wrapper exits so that no orphan is left behind; it
/// too gets SIGKILL, since a service that dies at once can end the wrapper while the
/// watcher is still being forked, when a catchable signal may be lost.
/// A trapped signal ends `wait` early, so the wrapper waits on until the service has
/// exited.
const WRAPPER: &str = r#"
exec 3<&0
"$@" </dev/null 3<&- &
svc=$!
trap 'kill -KILL "$svc" 2>/dev/null' HUP INT TERM
{ while read -r _; do :; done; kill -KILL "$svc" 2>/dev/null; } <&3 &
watch=$!
exec 3<&-
wait "$svc"
status=$?
while kill -0 "$svc" 2>/dev/null; do
  wait "$svc"
  status=$?
done
kill -KILL "$watch" 2>/dev/null
wait "$watch"
exit "$status"
"#;

/// How long `Drop` waits for the wrapper to exit before it kills the whole group.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A running service; dropping it stops the service.
#[derive(Debug)]
pub(crate) struct Supervised {
    wrapper: Child,
    log_path: PathBuf,
}

impl Supervised {
    /// Starts `program args…` with stdout and stderr appended to `log_path`.
    pub(crate) fn spawn(
        program: &OsString,
        args: &[OsString],
        cwd: &Path,
        log_path: PathBuf,
    ) -> Result<Self> {
        let log =
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let log_err = log.try_clone().context("duplicating the log file handle")?;
        let wrapper = Command::new("sh")
            .arg("-c")
            .arg(WRAPPER)
            .arg("sh")
            .arg(program)
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log_err)
            // A group of its own: Ctrl-C in a terminal reaches only the parent, whose
            // exit then stops the service through the lifeline, and `Drop` can signal
            // wrapper, watcher and service together.
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", Path::new(program).display()))?;
        Ok(Self { wrapper, log_path })
    }

    /// `Some` once the service has exited on its own.
    pub(crate) fn exit_status(&mut self) -> io::Result<Option<ExitStatus>> {
        self.wrapper.try_wait()
    }

    pub(crate) fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The end of the service's log, to explain a failure without opening the file.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        fs::read_to_string(&self.log_path)
            .map(|log| crate::install::tail(&log, lines))
            .unwrap_or_default()
    }

    pub(crate) fn id(&self) -> u32 {
        self.wrapper.id()
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        // Closing the lifeline makes the wrapper kill the service and exit.
        drop(self.wrapper.stdin.take());
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            match self.wrapper.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        // The wrapper is stuck; kill its whole group (it leads it) without waiting.
        let _ = Command::new("sh")
            .args(["-c", "kill -KILL -- -\"$1\" 2>/dev/null", "sh"])
            .arg(self.wrapper.id().to_string())
            .status();
        let _ = self.wrapper.wait();
    }
}
