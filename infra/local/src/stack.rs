//! Starts DynamoDB Local, the SES emulator and moto's S3 on free ports of 127.0.0.1 and
//! builds SDK configuration that reaches them.
//!
//! Production code finds the services through the standard `AWS_ENDPOINT_URL_DYNAMODB`,
//! `AWS_ENDPOINT_URL_SES` and `AWS_ENDPOINT_URL_S3` settings and nothing else. [`LocalStack::env`] hands those
//! to child processes; [`sdk_config`] gives tests in one process (where environment
//! variables are shared by every test) an `SdkConfig` that carries the same settings
//! through the SDK's own service-config mechanism, so clients are built exactly as in
//! production: `aws_sdk_dynamodb::Client::new(&config)`.
//!
//! Each `#[tokio::test]` has its own runtime, so the shared instances hold only what is
//! runtime-independent: a child process and an endpoint string. SDK clients are cheap
//! and are made per test.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{File, TryLockError};
use std::future::Future;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use aws_types::sdk_config::SharedCredentialsProvider;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use tokio::sync::OnceCell;

use crate::install::{self, Installation, Tool};
use crate::process::Supervised;

/// The standard variable the SDK reads DynamoDB's endpoint from.
pub const DYNAMODB_ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_DYNAMODB";
/// The standard variable the SDK reads SES's endpoint from.
pub const SES_ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_SES";
/// The standard variable the SDK reads S3's endpoint from.
pub const S3_ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_S3";
/// The local services accept any credentials; these make it obvious where they point.
pub const LOCAL_ACCESS_KEY_ID: &str = "local";
pub const LOCAL_SECRET_ACCESS_KEY: &str = "local";
pub const LOCAL_REGION: &str = "us-east-1";

/// Generous because a cold JVM on a busy two-core CI machine is slow to come up.
const DYNAMODB_STARTUP_TIMEOUT: Duration = Duration::from_secs(90);
const SES_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const SECRETS_MANAGER_STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
const S3_STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// A free port can be taken by someone else between picking and binding it; the
/// service then exits at once and is simply started again on another port.
const START_ATTEMPTS: usize = 3;
/// Logs and port claims older than this are removed when a service starts, so
/// `.cache/` stays small.
const FILE_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
/// Ports taken by a starting service elsewhere are skipped; this bounds the search.
const CLAIM_ATTEMPTS: usize = 20;

/// A DynamoDB Local (in memory) run by this process, or an attached external one.
#[derive(Debug)]
pub struct DynamoDbLocal {
    endpoint: String,
    /// `None` for an attached instance.
    process: Option<Supervised>,
}

impl DynamoDbLocal {
    /// Installs DynamoDB Local if needed and starts a fresh, empty instance.
    pub async fn start() -> Result<Self> {
        let installation = dynamodb_installation().await?;
        let (endpoint, process) = start_service(
            "dynamodb-local",
            DYNAMODB_STARTUP_TIMEOUT,
            |port| dynamodb_command(installation, port),
            dynamodb_ready,
        )
        .await?;
        Ok(Self {
            endpoint,
            process: Some(process),
        })
    }

    /// Uses an instance someone else runs; nothing is started or stopped.
    pub fn attach(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            process: None,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// The service's stdout and stderr, when this process started it.
    pub fn log_file(&self) -> Option<&Path> {
        self.process.as_ref().map(Supervised::log_path)
    }

    /// A client for this instance with the local test credentials.
    pub fn client(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&local_sdk_config([(
            DYNAMODB_ENDPOINT_ENV,
            self.endpoint(),
        )]))
    }
}

/// A Secrets Manager emulator (moto's server) run by this process.
/// An SES emulator for this process, or an attached external one.
#[derive(Debug)]
pub struct SesEmulator {
    endpoint: String,
    process: Option<Supervised>,
}

impl SesEmulator {
    /// Installs the emulator if needed and starts an instance with an empty mailbox.
    pub async fn start() -> Result<Self> {
        static NODE: OnceLock<Result<(), String>> = OnceLock::new();
        require_once(&NODE, Tool::Node)?;
        let installation = installation().await?;
        let (endpoint, process) = start_service(
            "ses-emulator",
            SES_STARTUP_TIMEOUT,
            |port| ses_command(installation, port),
            ses_ready,
        )
        .await?;
        Ok(Self {
            endpoint,
            process: Some(process),
        })
    }

    /// Uses an emulator someone else runs; nothing is started or stopped.
    pub fn attach(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            process: None,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    pub fn log_file(&self) -> Option<&Path> {
        self.process.as_ref().map(Supervised::log_path)
    }

    /// A client for this emulator with the local test credentials.
    pub fn client(&self) -> aws_sdk_ses::Client {
        aws_sdk_ses::Client::new(&local_sdk_config([(SES_ENDPOINT_ENV, self.endpoint())]))
    }

    /// Every message the emulator has accepted so far, oldest first.
    pub async fn sent_messages(&self) -> Result<Vec<crate::ses::SentEmail>> {
        crate::ses::sent_messages(&self.endpoint).await
    }
}

/// The run bucket `rapport-local up` creates on its S3 emulator.
pub const LOCAL_RUN_BUCKET: &str = "rapport-runs";

/// The three services, for `rapport-local up` and end-to-end tests; the S3 emulator
/// holds the run bucket ([`LOCAL_RUN_BUCKET`]).
#[derive(Debug)]
pub struct LocalStack {
    pub dynamodb: DynamoDbLocal,
    pub ses: SesEmulator,
    pub s3: S3Emulator,
}

impl LocalStack {
    /// Starts the services side by side and creates the run bucket.
    pub async fn start() -> Result<Self> {
        let (dynamodb, ses, s3) = tokio::try_join!(
            DynamoDbLocal::start(),
            SesEmulator::start(),
            S3Emulator::start()
        )?;
        s3.create_bucket(LOCAL_RUN_BUCKET).await?;
        Ok(Self { dynamodb, ses, s3 })
    }

    /// Configuration for SDK clients in this process.
    pub fn sdk_config(&self) -> SdkConfig {
        local_sdk_config([
            (DYNAMODB_ENDPOINT_ENV, self.dynamodb.endpoint()),
            (SES_ENDPOINT_ENV, self.ses.endpoint()),
            (S3_ENDPOINT_ENV, self.s3.endpoint()),
        ])
    }

    /// Variables for a child process (e.g. a function binary, `rapport-job run
    /// --segments N`) so that the SDK's default configuration chain, untouched, reaches
    /// this stack, and the job keeps its run's artifacts in the run bucket.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = env_vars(&self.dynamodb.endpoint(), &self.ses.endpoint());
        env.extend(self.s3.env());
        env.push((
            rapport_shared::bootstrap::RUN_BUCKET_ENV,
            LOCAL_RUN_BUCKET.to_owned(),
        ));
        env
    }
}

/// The one DynamoDB Local of this process, started on first use. When
/// `AWS_ENDPOINT_URL_DYNAMODB` is set, that instance is used instead, so one instance
/// can serve every test binary of a run.
pub async fn shared_dynamodb() -> Result<&'static DynamoDbLocal> {
    // Failure is kept too: every later test then fails at once with the same cause.
    static SHARED: OnceCell<Result<DynamoDbLocal, String>> = OnceCell::const_new();
    SHARED
        .get_or_init(|| async {
            match configured_endpoint(DYNAMODB_ENDPOINT_ENV) {
                Some(endpoint) => Ok(DynamoDbLocal::attach(endpoint)),
                None => DynamoDbLocal::start().await.map_err(|e| format!("{e:#}")),
            }
        })
        .await
        .as_ref()
        .map_err(|e| anyhow!("{e}"))
}

/// The one SES emulator of this process, started on first use, or the one named by
/// `AWS_ENDPOINT_URL_SES`.
pub async fn shared_ses() -> Result<&'static SesEmulator> {
    static SHARED: OnceCell<Result<SesEmulator, String>> = OnceCell::const_new();
    SHARED
        .get_or_init(|| async {
            match configured_endpoint(SES_ENDPOINT_ENV) {
                Some(endpoint) => Ok(SesEmulator::attach(endpoint)),
                None => SesEmulator::start().await.map_err(|e| format!("{e:#}")),
            }
        })
        .await
        .as_ref()
        .map_err(|e| anyhow!("{e}"))
}

fn configured_endpoint(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// SDK configuration for the local stack: test credentials, `us-east-1`, and the two
/// endpoints supplied the way `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL_SES` are,
/// without reading or changing the process environment or `~/.aws`.
pub fn sdk_config(endpoint_dynamodb: &str, endpoint_ses: &str) -> SdkConfig {
    local_sdk_config([
        (DYNAMODB_ENDPOINT_ENV, endpoint_dynamodb.to_owned()),
        (SES_ENDPOINT_ENV, endpoint_ses.to_owned()),
    ])
}

/// The environment a child process needs to use the local stack through the SDK's
/// default configuration chain.
pub fn env_vars(endpoint_dynamodb: &str, endpoint_ses: &str) -> Vec<(&'static str, String)> {
    vec![
        (DYNAMODB_ENDPOINT_ENV, endpoint_dynamodb.to_owned()),
        (
            "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
            endpoint_dynamodb.to_owned(),
        ),
        (SES_ENDPOINT_ENV, endpoint_ses.to_owned()),
        ("AWS_ENDPOINT_URL_SESV2", endpoint_ses.to_owned()),
        ("AWS_ACCESS_KEY_ID", LOCAL_ACCESS_KEY_ID.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", LOCAL_SECRET_ACCESS_KEY.to_owned()),
        ("AWS_REGION", LOCAL_REGION.to_owned()),
    ]
}

fn local_sdk_config<const N: usize>(endpoints: [(&'static str, String); N]) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::from_static(LOCAL_REGION))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            LOCAL_ACCESS_KEY_ID,
            LOCAL_SECRET_ACCESS_KEY,
            None,
            None,
            "rapport-local",
        )))
        .service_config(LocalEndpoints(endpoints.into_iter().collect()))
        .build()
}

/// Answers the SDK's per-service lookups the way environment variables would:
/// the DynamoDB client asks for `AWS_ENDPOINT_URL` with service id `DynamoDB` and gets
/// what `AWS_ENDPOINT_URL_DYNAMODB` would hold.
#[derive(Debug)]
struct LocalEndpoints(BTreeMap<&'static str, String>);

impl LoadServiceConfig for LocalEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let service = key.service_id().to_ascii_uppercase().replace(' ', "_");
        // DynamoDB Local serves the table's streams on its own endpoint.
        // The SES emulator serves SES v1 and v2 alike.
        let service = match service.as_str() {
            "DYNAMODB_STREAMS" => "DYNAMODB".to_owned(),
            "SESV2" => "SES".to_owned(),
            _ => service,
        };
        self.0
            .get(format!("{}_{service}", key.env()).as_str())
            .cloned()
    }
}

/// Checks a tool once per process: a missing one then fails every test with the same
/// clear message, instead of as a service that dies during startup.
fn require_once(checked: &OnceLock<Result<(), String>>, tool: Tool) -> Result<()> {
    checked
        .get_or_init(|| install::check_tools(&[tool]).map_err(|e| format!("{e:#}")))
        .as_ref()
        .map(|_| ())
        .map_err(|e| anyhow!("{e}"))
}

async fn dynamodb_installation() -> Result<&'static Installation> {
    static JAVA: OnceLock<Result<(), String>> = OnceLock::new();
    require_once(&JAVA, Tool::Java)?;
    installation().await
}

async fn installation() -> Result<&'static Installation> {
    // npm may run for a while; keep it off the async worker threads.
    tokio::task::spawn_blocking(install::install)
        .await
        .context("the install task panicked")?
}

fn dynamodb_command(installation: &Installation, port: u16) -> (OsString, Vec<OsString>) {
    let mut library_path = OsString::from("-Djava.library.path=");
    library_path.push(installation.dynamodb_local_lib());
    let mut tmpdir = OsString::from("-Djava.io.tmpdir=");
    tmpdir.push(install::cache_dir().join("tmp"));
    let mut args: Vec<OsString> = vec![
        // C1 only and the serial collector: about a second less to start, and test
        // workloads are too short for C2's peak speed to pay off.
        "-XX:TieredStopAtLevel=1".into(),
        "-XX:+UseSerialGC".into(),
        library_path,
        tmpdir,
        "-jar".into(),
        installation.dynamodb_local_jar().into(),
    ];
    args.extend([
        // Tables live as long as the process.
        "-inMemory".into(),
        // One database whatever the credentials and region, so that a function started
        // by `up`, a test client and the AWS CLI all see the same tables.
        "-sharedDb".into(),
        // Nothing leaves the machine.
        "-disableTelemetry".into(),
        "-port".into(),
        port.to_string().into(),
    ]);
    ("java".into(), args)
}

fn ses_command(installation: &Installation, port: u16) -> (OsString, Vec<OsString>) {
    let args = vec![
        // The account SES v2 `GetAccount` describes: the job paces its mail to it.
        format!("AWS_SES_ACCOUNT={}", crate::ses::EMULATED_ACCOUNT).into(),
        "node".into(),
        installation.ses_emulator_cli.clone().into(),
        // The emulator listens on every interface by default.
        "--host".into(),
        "127.0.0.1".into(),
        "--port".into(),
        port.to_string().into(),
    ];
    ("env".into(), args)
}

/// The directories services write to, created (and pruned) before each start.
fn prepare_dirs() -> Result<(PathBuf, PathBuf)> {
    let logs = install::logs_dir();
    let claims = install::cache_dir().join("ports");
    // DynamoDB Local unpacks its SQLite library into java.io.tmpdir on every start;
    // pointing that here keeps /tmp clean and lets old copies be pruned with the logs.
    let scratch = install::cache_dir().join("tmp");
    for dir in [&logs, &claims, &scratch] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        prune_old_files(dir);
    }
    Ok((logs, claims))
}

fn probe_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        // A proxy configured for the internet must not intercept 127.0.0.1.
        .no_proxy()
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(5))
        .build()
        .context("building an HTTP client")
}

/// Starts a service on a free port and waits until `ready` answers, retrying on
/// another port when the service dies during startup.
async fn start_service<C, R, F>(
    name: &str,
    timeout: Duration,
    command: C,
    ready: R,
) -> Result<(String, Supervised)>
where
    C: Fn(u16) -> (OsString, Vec<OsString>),
    R: Fn(reqwest::Client, String) -> F,
    F: Future<Output = bool>,
{
    let (logs, claims) = prepare_dirs()?;
    let http = probe_client()?;
    let mut failures = Vec::new();
    for _ in 0..START_ATTEMPTS {
        // Held until the service answers (or fails), when the kernel protects the port.
        let (port, _claim) = claim_free_port(&claims)?;
        let log_path = logs.join(format!("{name}-{port}.log"));
        match spawn_and_wait(
            name, timeout, port, &command, &ready, &http, &logs, log_path,
        )
        .await?
        {
            Ok(started) => return Ok(started),
            Err(failure) => failures.push(failure),
        }
    }
    bail!(
        "{name} failed to start {START_ATTEMPTS} times:\n{}",
        failures.join("\n")
    )
}

/// One start on `port`: `Ok(Err(why))` when the service exited during startup (the
/// port may have been taken), `Err` when it neither answered nor exited in time.
#[allow(clippy::too_many_arguments)]
async fn spawn_and_wait<C, R, F>(
    name: &str,
    timeout: Duration,
    port: u16,
    command: &C,
    ready: &R,
    http: &reqwest::Client,
    logs: &Path,
    log_path: PathBuf,
) -> Result<std::result::Result<(String, Supervised), String>>
where
    C: Fn(u16) -> (OsString, Vec<OsString>),
    R: Fn(reqwest::Client, String) -> F,
    F: Future<Output = bool>,
{
    let endpoint = format!("http://127.0.0.1:{port}");
    let (program, args) = command(port);
    let started = Instant::now();
    let mut process = Supervised::spawn(&program, &args, logs, log_path)
        .with_context(|| format!("starting {name}"))?;
    loop {
        if ready(http.clone(), endpoint.clone()).await {
            tracing::info!(
                service = name,
                %endpoint,
                startup_ms = started.elapsed().as_millis() as u64,
                log = %process.log_path().display(),
                pid = process.id(),
                "local service ready"
            );
            return Ok(Ok((endpoint, process)));
        }
        if let Some(status) = process
            .exit_status()
            .context("checking the service process")?
        {
            return Ok(Err(format!(
                "{name} on port {port} exited with {status} during startup; log {}:\n{}",
                process.log_path().display(),
                process.log_tail(20)
            )));
        }
        if started.elapsed() > timeout {
            bail!(
                "{name} did not answer on {endpoint} within {}s; log {}:\n{}",
                timeout.as_secs(),
                process.log_path().display(),
                process.log_tail(20)
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// A free port that no other process sharing this cache is starting a service on.
/// The kernel guards a port only once the service has bound it, and a JVM takes
/// seconds to get there; in that window two test binaries could be handed the same
/// port, and one would then take the other's service for its own.
fn claim_free_port(claims: &Path) -> Result<(u16, File)> {
    for _ in 0..CLAIM_ATTEMPTS {
        let port = free_port()?;
        let path = claims.join(port.to_string());
        let claim = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match claim.try_lock() {
            Ok(()) => return Ok((port, claim)),
            Err(TryLockError::WouldBlock) => continue,
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
    }
    bail!("found no free port to claim in {CLAIM_ATTEMPTS} tries")
}

fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port on 127.0.0.1")?;
    Ok(listener
        .local_addr()
        .context("reading the bound port")?
        .port())
}

/// A ListTables call: DynamoDB Local answers it only once fully initialised, unlike a
/// plain GET, which Jetty answers a little earlier.
async fn dynamodb_ready(http: reqwest::Client, endpoint: String) -> bool {
    let response = http
        .post(endpoint)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", "DynamoDB_20120810.ListTables")
        // DynamoDB Local wants a well-formed Authorization header but checks no signature.
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={LOCAL_ACCESS_KEY_ID}/20240101/{LOCAL_REGION}/dynamodb/aws4_request, \
                 SignedHeaders=host, Signature=0"
            ),
        )
        .body("{}")
        .send()
        .await;
    matches!(response, Ok(r) if r.status().is_success())
}

async fn moto_ready(http: reqwest::Client, endpoint: String) -> bool {
    let response = http
        .get(format!("{endpoint}/moto-api/data.json"))
        .send()
        .await;
    matches!(response, Ok(r) if r.status().is_success())
}

async fn ses_ready(http: reqwest::Client, endpoint: String) -> bool {
    let response = http.get(format!("{endpoint}/health-check")).send().await;
    matches!(response, Ok(r) if r.status().is_success())
}

/// Removes logs and port claims untouched for a day. A claim someone holds is kept:
/// it is deleted only while this process holds its lock.
fn prune_old_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|modified| {
                now.duration_since(modified)
                    .is_ok_and(|age| age > FILE_RETENTION)
            });
        let unused = File::options()
            .write(true)
            .open(entry.path())
            .is_ok_and(|file| file.try_lock().is_ok());
        if old && unused {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

mod moto;
#[cfg(test)]
mod tests;

pub use moto::{S3Emulator, SecretsManagerEmulator, shared_s3};
