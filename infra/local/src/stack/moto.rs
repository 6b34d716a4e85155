//! The emulators moto's server provides (Secrets Manager, S3), each started on a free
//! port from the pinned moto of `.cache/`, or attached to a running one.

use super::*;

#[derive(Debug)]
pub struct SecretsManagerEmulator {
    endpoint: String,
    _process: Supervised,
}

impl SecretsManagerEmulator {
    /// Installs moto if needed and starts an instance holding no secrets.
    pub async fn start() -> Result<Self> {
        let (endpoint, process) =
            start_moto("secrets-manager", SECRETS_MANAGER_STARTUP_TIMEOUT).await?;
        Ok(Self {
            endpoint,
            _process: process,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// The SDK configuration that reaches this emulator and the given DynamoDB Local
    /// and SES emulator, with the local credentials.
    pub fn sdk_config(&self, endpoint_dynamodb: &str, endpoint_ses: &str) -> SdkConfig {
        local_sdk_config([
            (DYNAMODB_ENDPOINT_ENV, endpoint_dynamodb.to_owned()),
            (SES_ENDPOINT_ENV, endpoint_ses.to_owned()),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", self.endpoint()),
        ])
    }
}

/// moto's server, installed if needed, started on a free port of 127.0.0.1; it serves
/// every service moto knows, each instance with no state.
async fn start_moto(name: &str, timeout: Duration) -> Result<(String, Supervised)> {
    let server = tokio::task::spawn_blocking(|| install::MOTO.ensure())
        .await
        .context("the install task panicked")??;
    start_service(
        name,
        timeout,
        |port| {
            let args = vec![
                "-H".into(),
                "127.0.0.1".into(),
                "-p".into(),
                port.to_string().into(),
            ];
            (server.clone().into_os_string(), args)
        },
        moto_ready,
    )
    .await
}

/// An S3 emulator (moto's server) run by this process, or an attached external one:
/// the run bucket of the job's artifacts and reports.
#[derive(Debug)]
pub struct S3Emulator {
    endpoint: String,
    /// `None` for an attached instance.
    process: Option<Supervised>,
}

impl S3Emulator {
    /// Installs moto if needed and starts an instance holding no buckets.
    pub async fn start() -> Result<Self> {
        let (endpoint, process) = start_moto("s3", S3_STARTUP_TIMEOUT).await?;
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

    /// The SDK configuration that reaches this emulator, with the local credentials.
    pub fn sdk_config(&self) -> SdkConfig {
        local_sdk_config([(S3_ENDPOINT_ENV, self.endpoint())])
    }

    /// Variables for a child process whose SDK should reach this emulator.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![(S3_ENDPOINT_ENV, self.endpoint())]
    }

    /// A client for this emulator built as the job builds its own
    /// (`bootstrap::s3_client`: path-style, since the endpoint is overridden).
    pub fn client(&self) -> aws_sdk_s3::Client {
        rapport_shared::bootstrap::s3_client(&self.sdk_config())
    }

    /// Creates the bucket `name` (in `us-east-1`); one that exists already is kept.
    pub async fn create_bucket(&self, name: &str) -> Result<()> {
        match self.client().create_bucket().bucket(name).send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_bucket_already_owned_by_you()) =>
            {
                Ok(())
            }
            Err(e) => Err(anyhow!(
                "creating the bucket {name}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )),
        }
    }
}

/// The one S3 emulator of this process, started on first use, or the one named by
/// `AWS_ENDPOINT_URL_S3`.
pub async fn shared_s3() -> Result<&'static S3Emulator> {
    static SHARED: OnceCell<Result<S3Emulator, String>> = OnceCell::const_new();
    SHARED
        .get_or_init(|| async {
            match configured_endpoint(S3_ENDPOINT_ENV) {
                Some(endpoint) => Ok(S3Emulator::attach(endpoint)),
                None => S3Emulator::start().await.map_err(|e| format!("{e:#}")),
            }
        })
        .await
        .as_ref()
        .map_err(|e| anyhow!("{e}"))
}
