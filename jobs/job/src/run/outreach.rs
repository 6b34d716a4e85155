//! The outreach phase: for each customer decide at most one message, deliver it (or
//! hold it out), and count what happened into the summary.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use rapport_shared::domain::outreach::recommend::CoPurchases;
use rapport_shared::domain::outreach::{
    CustomerContext, Decision, MessageStatus, PastMessage, Population, decide,
};
use rapport_shared::domain::{CustomerScores, JobState, Sku};
use rapport_shared::mail::MessageSender;
use rapport_shared::service::deliver::{Delivered, deliver};
use rapport_shared::store::{JobStore, ScannedCustomer};
use std::collections::BTreeMap;

use super::RunSettings;
use crate::summary::{Action, RunSummary};

/// Messages older than this no longer matter to any rule.
const HISTORY_DAYS: i64 = 400;

/// What the run decided and did for one customer.
pub(super) struct Outcome {
    segment: String,
    decision: Decision,
    /// `None` when nothing was to be delivered, or delivery hit an error (logged).
    delivered: Option<Delivered>,
    out_of_time: bool,
    /// Due, but not sent: SES had stopped taking mail earlier in the run.
    stopped: bool,
    /// The stored state says all `state` does (see `CustomerScores::same_as`).
    unchanged: bool,
    /// The scan found no stored state: `state` is the customer's first.
    first: bool,
    state: JobState,
}

/// Why SES stopped taking mail during the run, once it did (the first such error): the
/// run then starts no more sends.
pub(super) type SendingStopped = OnceLock<String>;

/// Decides and delivers this customer's message, and the job state to write back.
#[allow(clippy::too_many_arguments)]
pub(super) async fn outreach<S: JobStore, M: MessageSender + ?Sized>(
    store: &S,
    sender: &M,
    settings: &RunSettings,
    pop: &Population,
    rhythms: &BTreeMap<Sku, f64>,
    co_purchases: &CoPurchases,
    customer: ScannedCustomer,
    scores: Option<CustomerScores>,
    address_suppressed: bool,
    sending_stopped: &SendingStopped,
    now: DateTime<Utc>,
) -> Outcome {
    let stored = customer.job;
    let first = stored.is_none();
    let stored_messages = stored.as_ref().map_or(&[][..], |j| &j.messages[..]);
    let mut messages: Vec<PastMessage> = (stored_messages.iter())
        .filter(|m| (now - m.at).num_days() < HISTORY_DAYS)
        .cloned()
        .collect();
    let profile = customer.profile;
    let ctx = CustomerContext {
        profile: &profile,
        scores: scores.as_ref(),
        history: &messages,
        address_suppressed,
        rhythms,
        co_purchases,
    };
    let decision = decide(&ctx, pop, &settings.job.rules, now);
    let out_of_time = settings
        .send_until
        .is_some_and(|until| std::time::SystemTime::now() >= until);
    let stopped = matches!(decision, Decision::Send(_)) && sending_stopped.get().is_some();
    let to_deliver = match &decision {
        _ if out_of_time => None,
        _ if stopped => None,
        Decision::Send(p) if settings.send => Some((p, false)),
        Decision::HoldOut(p) => Some((p, true)),
        _ => None,
    };
    let delivered = match to_deliver {
        Some((planned, held_out)) => {
            let result = deliver(
                store,
                sender,
                &settings.job.delivery,
                &profile,
                planned,
                held_out,
                now,
            )
            .await;
            result
                .inspect_err(|e| {
                    tracing::error!(customer = %profile.customer_id, error = %e, "delivery failed")
                })
                .ok()
        }
        None => None,
    };
    if let Some(Delivered::Stopped(record)) = &delivered {
        let reason = record.error.clone().unwrap_or_default();
        if sending_stopped.set(reason).is_ok() {
            tracing::warn!(error = ?record.error, "SES takes no more mail for now; this run sends nothing more");
        }
    }
    match &delivered {
        Some(Delivered::Sent(r) | Delivered::HeldOut(r)) => messages.push(r.past()),
        // Another run's outcome: remember it so the cap counts it. A claim still
        // `sending` is not an outcome: until it is settled, each run tries it again.
        Some(Delivered::AlreadyDone(r))
            if matches!(r.status, MessageStatus::Sent | MessageStatus::HeldOut)
                && !messages
                    .iter()
                    .any(|m| m.kind == r.kind && m.period == r.period) =>
        {
            messages.push(r.past())
        }
        _ => {}
    }
    // A state that would say what the stored one says is not written again.
    let unchanged = stored.as_ref().is_some_and(|stored| {
        let same_scores = match (&scores, &stored.scores) {
            (Some(new), Some(old)) => new.same_as(old, now),
            (new, old) => new.is_none() && old.is_none(),
        };
        same_scores && messages == stored.messages
    });
    Outcome {
        unchanged,
        segment: scores
            .as_ref()
            .map_or("unscored", |s| s.segment.as_str())
            .to_owned(),
        decision,
        delivered,
        out_of_time,
        stopped,
        first,
        state: JobState {
            customer_id: profile.customer_id.clone(),
            scores,
            messages,
        },
    }
}

/// The job states a batch writes back: those that replace a stored state, and the
/// first states of customers the scan found without one.
#[derive(Default)]
pub(super) struct StateWrites {
    pub replacing: Vec<JobState>,
    pub first: Vec<JobState>,
}

/// Counts every outcome into `summary`; the job states to write back (those that
/// changed). A send that delivered nothing is an error only in a run that sends.
pub(super) fn tally(outcomes: Vec<Outcome>, summary: &mut RunSummary, send: bool) -> StateWrites {
    let mut states = StateWrites::default();
    for Outcome {
        segment,
        decision,
        delivered,
        out_of_time,
        stopped,
        unchanged,
        first,
        state,
    } in outcomes
    {
        *summary
            .actions
            .entry(segment)
            .or_default()
            .entry(Action::from(&decision))
            .or_default() += 1;
        match (&decision, &delivered) {
            (Decision::Send(_) | Decision::HoldOut(_), _) if out_of_time => {
                summary.out_of_time += 1
            }
            (Decision::Send(_), _) if stopped => summary.stopped += 1,
            (Decision::Suppressed { reason, .. }, _) => {
                *summary.suppressed.entry(*reason).or_default() += 1
            }
            (Decision::Defer { .. }, _) => summary.deferred += 1,
            (_, Some(Delivered::Sent(_))) => summary.sent += 1,
            (_, Some(Delivered::HeldOut(_))) => summary.held_out += 1,
            (_, Some(Delivered::Failed(_))) => summary.failed += 1,
            (_, Some(Delivered::Stopped(_))) => summary.stopped += 1,
            (_, Some(Delivered::Erased)) => summary.erased += 1,
            (_, Some(Delivered::AlreadyDone(_))) => summary.already_done += 1,
            (Decision::Send(_) | Decision::HoldOut(_), None) if send => summary.errors += 1,
            _ => {}
        }
        match (unchanged, first) {
            (true, _) => summary.states_unchanged += 1,
            (false, true) => states.first.push(state),
            (false, false) => states.replacing.push(state),
        }
    }
    states
}
