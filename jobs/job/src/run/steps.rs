//! The job's Lambda events: one per step of a run by segments (the state machine's
//! `{"phase": …}` payloads), and the environment's store, sender and artifacts wired to
//! [`Segmented`].

use std::sync::Arc;

use anyhow::Context;
use rapport_shared::mail::MessageSender;
use rapport_shared::mail::pace::{Pacing, QuotaSource};
use rapport_shared::store::{ArtifactStore, JobStore, ProgramReadStore, ProgramStatsStore};
use serde::Deserialize;
use serde_json::Value;

use super::segments::{RunRef, Segmented};
use super::{RunSettings, pacing};

/// One step of a run by segments, as the state machine invokes it. `of`, the run's
/// segment count, is there for the execution history to read: the run's stored plan
/// is what the steps follow, and a step whose `of` disagrees with it is refused.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// `input` is the execution's input: `{"segments": N}` or `{}`.
    Plan {
        run: RunRef,
        #[serde(default)]
        input: Value,
    },
    Summarise {
        run: RunRef,
        segment: u32,
        of: u32,
    },
    Fit {
        run: RunRef,
        of: u32,
    },
    Deliver {
        run: RunRef,
        segment: u32,
        of: u32,
    },
    Report {
        run: RunRef,
        of: u32,
    },
}

impl Step {
    /// The step an event asks for; `None` for an event with no `phase` (a whole run in
    /// one invocation, as a schedule without the state machine asks).
    pub fn of_event(event: &Value) -> anyhow::Result<Option<Step>> {
        if event.get("phase").is_none() {
            return Ok(None);
        }
        Ok(Some(
            serde_json::from_value(event.clone()).context("reading the step's event")?,
        ))
    }
}

impl<S, M, A> Segmented<S, M, A>
where
    S: JobStore + ProgramReadStore + ProgramStatsStore + Clone + 'static,
    M: MessageSender + 'static,
    A: ArtifactStore,
{
    /// Takes `step`; its answer for the state machine. The plan paces sending from
    /// `account`'s quota when the run sends; `send_until` bounds a delivery.
    pub async fn take(
        &self,
        step: Step,
        account: &impl QuotaSource,
        send_until: Option<std::time::SystemTime>,
    ) -> anyhow::Result<Value> {
        let answer = match step {
            Step::Plan { run, input } => {
                let segments = match input.get("segments") {
                    None | Some(Value::Null) => None,
                    Some(n) => Some(
                        (n.as_u64().and_then(|n| u32::try_from(n).ok()))
                            .context("the input's segments must be a whole number")?,
                    ),
                };
                let pace = match self.settings.send {
                    true => pacing(account, &self.settings.job).await,
                    false => Pacing::UNPACED,
                };
                serde_json::to_value(self.plan(&run, segments, pace).await?)?
            }
            Step::Summarise { run, segment, of } => {
                self.check_of(&run, of).await?;
                serde_json::to_value(self.summarise(&run, segment).await?)?
            }
            Step::Fit { run, of } => {
                self.check_of(&run, of).await?;
                serde_json::to_value(self.fit(&run).await?)?
            }
            Step::Deliver { run, segment, of } => {
                self.check_of(&run, of).await?;
                serde_json::to_value(self.deliver(&run, segment, send_until).await?)?
            }
            Step::Report { run, of } => {
                self.check_of(&run, of).await?;
                serde_json::to_value(self.report(&run).await?.summary)?
            }
        };
        Ok(answer)
    }
}

/// A step against the store, SES and the run bucket the environment names — what the
/// Lambda does for each state of the state machine.
pub async fn take_from_env(
    step: Step,
    send_until: Option<std::time::SystemTime>,
) -> anyhow::Result<Value> {
    let wiring = rapport_shared::bootstrap::job_from_env().await?;
    wiring.job.can_send()?;
    let artifacts = rapport_shared::bootstrap::run_artifacts_from_env()
        .await?
        .context(
            "RAPPORT_RUN_BUCKET is not set: a run by segments keeps its steps' results there",
        )?;
    let segmented = Segmented {
        store: wiring.store,
        sender: Arc::new(wiring.sender),
        artifacts,
        settings: RunSettings::new(wiring.job),
        currency: wiring.config.rules.currency,
        report_mail: wiring.report_mail,
    };
    segmented.take(step, &wiring.account, send_until).await
}
