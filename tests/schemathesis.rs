//! Property-based contract test: Schemathesis generates requests from the served
//! OpenAPI document (valid and invalid ones), signs each exactly as a storefront does,
//! and checks every answer against the document: no 5xx, only documented status codes
//! and media types, and bodies that match their schemas.
//!
//! Schemathesis runs from a pinned venv in the git-ignored `.cache/`, created on first
//! use. `RAPPORT_SCHEMATHESIS_EXAMPLES` changes the examples per operation and
//! `RAPPORT_SCHEMATHESIS_SEED` replays a run (the summary prints its seed).

use rapport_integration::{ADMIN_KEY, TestApi, load_test_turn, purchase, unsubscribe_keys};
use rapport_shared::domain::CustomerId;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

const SCHEMATHESIS_VERSION: &str = "4.32.5";
const DEFAULT_EXAMPLES: u32 = 200;
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";
/// Customers that exist before the run, so that GETs and redemptions reach real
/// profiles too; the first is the `CustomerId` example in openapi.yaml.
const SEEDED: &[&str] = &["cust-42", "cust-7"];

fn run(command: &mut Command, what: &str) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not start: {e}"));
    assert!(
        output.status.success(),
        "{what} failed with {}:\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `.cache/schemathesis-venv/bin/schemathesis` at the pinned version, installing it
/// when missing or at another version. A lock file keeps concurrent runs from
/// installing over each other.
fn schemathesis() -> PathBuf {
    rapport_local::install::check_tools(&[rapport_local::install::Tool::Python3])
        .unwrap_or_else(|e| panic!("Schemathesis needs python3 (with the venv module): {e:#}"));
    let cache = rapport_local::install::cache_dir();
    std::fs::create_dir_all(&cache).expect("creating .cache");
    let venv = cache.join("schemathesis-venv");
    let bin = venv.join("bin").join("schemathesis");
    let stamp = venv.join(format!(".schemathesis-{SCHEMATHESIS_VERSION}"));
    let lock = File::create(cache.join("schemathesis-venv.lock")).expect("creating the lock");
    lock.lock().expect("locking the Schemathesis venv");
    if stamp.exists() && bin.exists() {
        return bin;
    }
    let started = Instant::now();
    run(
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
        "python3 -m venv (on Debian/Ubuntu: apt-get install python3-venv)",
    );
    run(
        Command::new(venv.join("bin").join("pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("schemathesis=={SCHEMATHESIS_VERSION}"),
        ]),
        "pip install schemathesis",
    );
    File::create(&stamp).expect("writing the install stamp");
    println!(
        "installed schemathesis {SCHEMATHESIS_VERSION} into {} in {:.0?}",
        venv.display(),
        started.elapsed()
    );
    bin
}

fn hooks_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemathesis")
        .join("hooks.py")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_conforms_to_its_openapi_document() {
    let _load_test = load_test_turn().await;
    let bin = tokio::task::spawn_blocking(schemathesis)
        .await
        .expect("installing Schemathesis");
    let api = TestApi::start().await;
    for (n, customer) in SEEDED.iter().enumerate() {
        let reply = api
            .post(
                "/v1/events/purchase",
                &purchase(
                    &format!("seed-{n}"),
                    customer,
                    &format!("seed-order-{n}"),
                    12_500,
                ),
            )
            .await;
        assert_eq!(reply.status, 200, "seeding {customer}: {:?}", reply.body);
    }

    let code = api
        .get(&format!("/v1/customers/{}/referral-code", SEEDED[1]))
        .await;
    assert_eq!(code.status, 200, "referral code: {:?}", code.body);
    let referral_code = code.body["code"].as_str().unwrap_or_default().to_owned();
    let unsubscribe_token = rapport_shared::auth::unsubscribe::token(
        &unsubscribe_keys(),
        &CustomerId::parse("id", SEEDED[1]).expect("customer id"),
    );

    let examples = std::env::var("RAPPORT_SCHEMATHESIS_EXAMPLES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(DEFAULT_EXAMPLES)
        .to_string();
    let scratch = rapport_local::install::cache_dir().join("schemathesis");
    std::fs::create_dir_all(&scratch).expect("creating the Schemathesis work directory");
    let mut command = tokio::process::Command::new(&bin);
    command
        .arg("run")
        .arg(format!("{}/openapi.yaml", api.base_url))
        .args(["--url", &api.base_url])
        .args(["--checks", CHECKS])
        .args(["--max-examples", &examples])
        .args(["--generation-database", "none"])
        .args(["--request-timeout", "10"])
        // One worker: Python 3.11 before 3.11.8 can fail parsing source in two threads
        // at once ("AST constructor recursion depth mismatch"), which Hypothesis does.
        .args(["--workers", "1"])
        .arg("--no-color")
        .env("SCHEMATHESIS_HOOKS", hooks_file())
        .env("RAPPORT_ADMIN_KEY", ADMIN_KEY)
        .env("RAPPORT_UNSUBSCRIBE_TOKEN", unsubscribe_token)
        .env("RAPPORT_REFERRAL_CODE", referral_code)
        // A proxy configured for the internet must not intercept 127.0.0.1.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .current_dir(&scratch)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Ok(seed) = std::env::var("RAPPORT_SCHEMATHESIS_SEED") {
        command.args(["--seed", &seed]);
    }
    let started = Instant::now();
    let output = command.output().await.expect("running schemathesis");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}{stderr}");
    // The summary goes to stderr directly, past the test harness's capture, so that
    // `make test` shows it on success too.
    let summary = stdout
        .find("SUMMARY")
        .and_then(|at| stdout[..at].rfind('\n'))
        .map_or(&stdout[..], |at| &stdout[at + 1..]);
    let _ = writeln!(
        std::io::stderr(),
        "{summary}schemathesis took {elapsed:.1?} at {examples} examples per operation"
    );
    assert!(
        output.status.success(),
        "schemathesis exited with {}:\n{stdout}{stderr}",
        output.status
    );
}
