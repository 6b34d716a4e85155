//! `rapport-local`: the whole system on one machine, no Docker, no AWS account.
//!
//! - `up`: DynamoDB Local, the SES emulator, the table from template.yaml and the API on
//!   127.0.0.1, in the foreground until SIGINT/SIGTERM.
//! - `demo`: the same stack, a replay of signed storefront events, a summary, then stop.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use rapport_local::{LocalStack, create_table, demo, server};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[derive(Parser)]
#[command(
    name = "rapport-local",
    about = "Run Rapport locally against DynamoDB Local and an SES emulator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the local stack and the API and keep them running until interrupted.
    Up {
        /// Port for the API on 127.0.0.1 (0 picks a free one).
        #[arg(long, env = "RAPPORT_PORT", default_value_t = 0)]
        port: u16,
    },
    /// Replay a built-in stream of signed events against a fresh stack, print the
    /// customers' points and tiers, and stop.
    Demo,
}

/// A running stack with the API in front of it; dropping it stops everything.
struct Running {
    stack: LocalStack,
    table: String,
    base_url: String,
    secret: String,
    secret_generated: bool,
    stop_server: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn start(port: u16) -> Result<Self> {
        let stack = LocalStack::start()
            .await
            .context("starting the local stack")?;
        let client = aws_sdk_dynamodb::Client::new(&stack.sdk_config());
        let table = std::env::var("RAPPORT_TABLE").unwrap_or_else(|_| "rapport".into());
        create_table(&client, &table)
            .await
            .context("creating the table")?;

        let (secret, secret_generated) = match std::env::var("RAPPORT_SIGNING_SECRET") {
            Ok(s) if !s.is_empty() => (s, false),
            _ => (format!("dev-{}", uuid::Uuid::new_v4().simple()), true),
        };
        let (table_name, secret_value) = (table.clone(), secret.clone());
        // Everything else (currency, tiers, earn rate) comes from the environment exactly
        // as in Lambda.
        let config = rapport::Config::from_lookup(move |name| match name {
            "RAPPORT_TABLE" => Some(table_name.clone()),
            "RAPPORT_SIGNING_SECRET" => Some(secret_value.clone()),
            // Alerts go to the SES emulator unless other addresses are configured.
            "RAPPORT_SENDER_EMAIL" => Some(env_or("RAPPORT_SENDER_EMAIL", "rapport@shop.example")),
            "RAPPORT_SUPPORT_EMAIL" => {
                Some(env_or("RAPPORT_SUPPORT_EMAIL", "support@shop.example"))
            }
            other => std::env::var(other).ok(),
        })
        .context("configuration")?;
        let api = Arc::new(rapport::bootstrap::api(&stack.sdk_config(), config));

        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .context("binding the API port")?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let (stop_server, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(server::serve(listener, api, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            stack,
            table,
            base_url,
            secret,
            secret_generated,
            stop_server,
            server,
        })
    }

    async fn stop(self) {
        let _ = self.stop_server.send(());
        let _ = self.server.await;
        drop(self.stack);
    }
}

/// Shows what the SES emulator accepted during the demo.
async fn report_mail(running: &Running) -> Result<()> {
    let mail = running
        .stack
        .ses
        .sent_messages()
        .await
        .context("reading the SES emulator")?;
    println!();
    println!("mail accepted by the SES emulator: {}", mail.len());
    for m in mail {
        println!("  to {}: {}", m.to_addresses().join(", "), m.subject);
    }
    Ok(())
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

async fn shutdown_signal() -> Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = terminate.recv() => {}
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    // The demo's own output is the point; service logs only when something is wrong.
    rapport::telemetry::init_with_default(match cli.command {
        Command::Demo => "warn",
        Command::Up { .. } => "info",
    });
    match cli.command {
        Command::Up { port } => {
            let running = Running::start(port).await?;
            println!("RAPPORT_API_URL={}", running.base_url);
            if running.secret_generated {
                println!("RAPPORT_SIGNING_SECRET={}", running.secret);
            }
            println!("RAPPORT_TABLE={}", running.table);
            for (name, value) in running.stack.env() {
                println!("{name}={value}");
            }
            println!("ready; Ctrl-C stops everything");
            let signal = shutdown_signal().await;
            running.stop().await;
            signal
        }
        Command::Demo => {
            let running = Running::start(0).await?;
            let mut outcome = demo::run(&running.base_url, running.secret.as_bytes()).await;
            if outcome.is_ok() {
                outcome = report_mail(&running).await;
            }
            running.stop().await;
            outcome
        }
    }
}
