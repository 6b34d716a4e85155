//! What a run produces and its report shows: the run's counts and timings, the decision
//! per customer, the scored customers for the charts and the control-group outcomes.
//!
//! The run fills these in and the report renders them; neither needs the other.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use rapport_models::Evaluation;
use rapport_shared::domain::outreach::{Decision, MessageKind, SuppressReason};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a run did, for the report and the logs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunSummary {
    /// The program version the run decided under (0: the deployment's settings).
    pub program_version: u64,
    /// Customers whose points lapsed in this run, and how many points.
    pub customers_expired: usize,
    pub points_expired: i64,
    /// Tiers the run brought up to date (demotions after the grace, promotions on a
    /// ladder on points), and how many of them were demotions.
    pub tiers_changed: usize,
    pub tiers_demoted: usize,
    /// Spend gifts granted in this run.
    pub gifts_granted: usize,
    /// The program's figures as this run computed them.
    pub program_stats: Option<rapport_shared::domain::stats::ProgramStats>,
    pub customers: usize,
    pub scored: usize,
    /// The buyers the models were fitted on when the shop has more than the job's
    /// `fit_sample`; `None`: on every buyer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit_sample: Option<FitSample>,
    /// Why scoring was skipped, if it was (e.g. too little history to fit).
    pub scoring_skipped: Option<String>,
    /// Models not estimated from the shop's data (too little of it), and what stood in.
    #[serde(default)]
    pub scoring_fallbacks: Vec<String>,
    /// The count model that scored the customers, by its backtest name (`bgnbd_churn`,
    /// `mbgnbd`, …); `None` when scoring was skipped.
    pub scoring_model: Option<String>,
    /// Why that model: the backtest's choice and its measures, or why the default.
    pub scoring_model_reason: Option<String>,
    pub sent: usize,
    pub held_out: usize,
    pub deferred: usize,
    /// Due, but the run ran out of time before it; the next run sends it.
    pub out_of_time: usize,
    pub failed: usize,
    /// Due, but not sent because SES stopped taking mail during the run (see
    /// `sending_stopped`); recorded or left for the next run, which sends them.
    pub stopped: usize,
    /// Why SES stopped taking mail during the run (its daily quota used up, sending
    /// paused), if it did. No send was started after it.
    pub sending_stopped: Option<String>,
    /// The pace sending kept: the share of the SES account's send rate and daily quota
    /// the run used, and the account's limits as SES told them (`None` in a dry run).
    pub pacing: Option<rapport_shared::mail::pace::Pacing>,
    /// Customers erased while the run was under way: nothing was sent to them and no
    /// state written for them.
    pub erased: usize,
    pub already_done: usize,
    /// Deliveries that hit an error before reaching SES (rendering, the store); logged.
    pub errors: usize,
    pub suppressed: BTreeMap<SuppressReason, usize>,
    /// Decisions by segment and action (`send:win_back`, `suppressed:no_consent`, …).
    pub actions: BTreeMap<String, BTreeMap<Action, usize>>,
    /// Share of net spend from the top [`rapport_models::PARETO_SHARE`] (a fifth) of
    /// customers by CLV.
    pub pareto_revenue_share: Option<f64>,
    /// Customers whose stored scores and history already said what this run found
    /// (scores within their rounding and less than a day old, the same history): not
    /// written again.
    #[serde(default)]
    pub states_unchanged: usize,
    /// Items the scan read (the customer index's profiles, job states and suppressed
    /// addresses) and the read capacity that consumed (0 for a store that does not
    /// count it).
    pub items_read: u64,
    pub read_capacity_units: f64,
    pub seconds_scan: f64,
    /// Bringing the customers' tiers, spend gifts and points expiry up to date (the
    /// longest part's, as for the scan).
    #[serde(default)]
    pub seconds_settle: f64,
    pub seconds_model: f64,
    pub seconds_outreach: f64,
    /// Peak resident memory of the process so far (Linux), for the logs and the benchmark.
    pub peak_memory_bytes: Option<u64>,
}

impl RunSummary {
    /// Adds what the outreach of another part of the customers (a scan segment) did:
    /// its decisions and deliveries, what its scan read, and its time (the parts run
    /// side by side: the longest counts) and peak memory (the largest).
    pub fn absorb_outreach(&mut self, part: RunSummary) {
        self.scored += part.scored;
        self.sent += part.sent;
        self.held_out += part.held_out;
        self.deferred += part.deferred;
        self.out_of_time += part.out_of_time;
        self.failed += part.failed;
        self.stopped += part.stopped;
        self.erased += part.erased;
        self.already_done += part.already_done;
        self.errors += part.errors;
        if self.sending_stopped.is_none() {
            self.sending_stopped = part.sending_stopped;
        }
        if self.pacing.is_none() {
            self.pacing = part.pacing;
        }
        for (reason, n) in part.suppressed {
            *self.suppressed.entry(reason).or_default() += n;
        }
        for (segment, actions) in part.actions {
            let counts = self.actions.entry(segment).or_default();
            for (action, n) in actions {
                *counts.entry(action).or_default() += n;
            }
        }
        self.states_unchanged += part.states_unchanged;
        self.items_read += part.items_read;
        self.read_capacity_units += part.read_capacity_units;
        self.seconds_outreach = self.seconds_outreach.max(part.seconds_outreach);
        self.peak_memory_bytes = self.peak_memory_bytes.max(part.peak_memory_bytes);
    }
}

/// What the rules decided for one customer, as the summary counts it: `send:win_back`,
/// `held_out:…`, `deferred:…`, `suppressed:<reason>` or `nothing`.
///
/// Actions order as their names do, so the summary's JSON lists them as it always has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Send(MessageKind),
    HeldOut(MessageKind),
    Deferred(MessageKind),
    Suppressed(SuppressReason),
    Nothing,
}

impl Action {
    /// Every verb in the order a message goes: sent, held out, deferred, suppressed,
    /// none.
    const VERBS: [&'static str; 5] = ["send", "held_out", "deferred", "suppressed", "nothing"];

    /// `send`, `held_out`, `deferred`, `suppressed` or `nothing`.
    pub fn verb(self) -> &'static str {
        match self {
            Action::Send(_) => "send",
            Action::HeldOut(_) => "held_out",
            Action::Deferred(_) => "deferred",
            Action::Suppressed(_) => "suppressed",
            Action::Nothing => "nothing",
        }
    }

    /// The message kind, or why it was suppressed; `None` for `nothing`.
    pub fn detail(self) -> Option<&'static str> {
        match self {
            Action::Send(kind) | Action::HeldOut(kind) | Action::Deferred(kind) => {
                Some(kind.slug())
            }
            Action::Suppressed(reason) => Some(reason_key(reason)),
            Action::Nothing => None,
        }
    }

    /// Place in the order a message goes, for tables that follow it.
    pub fn rank(self) -> usize {
        Self::VERBS
            .iter()
            .position(|verb| *verb == self.verb())
            .unwrap_or(Self::VERBS.len())
    }
}

impl From<&Decision> for Action {
    fn from(decision: &Decision) -> Self {
        match decision {
            Decision::Send(p) => Action::Send(p.kind),
            Decision::HoldOut(p) => Action::HeldOut(p.kind),
            Decision::Defer { planned, .. } => Action::Deferred(planned.kind),
            Decision::Suppressed { reason, .. } => Action::Suppressed(*reason),
            Decision::Nothing => Action::Nothing,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.detail() {
            Some(detail) => write!(f, "{}:{detail}", self.verb()),
            None => f.write_str(self.verb()),
        }
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Action::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown action {name:?}")))
    }
}

impl Action {
    /// The action `name` (as [`fmt::Display`] writes it) stands for.
    pub fn from_name(name: &str) -> Option<Action> {
        let (verb, detail) = match name.split_once(':') {
            Some((verb, detail)) => (verb, Some(detail)),
            None => (name, None),
        };
        let kind = || detail.and_then(MessageKind::from_slug);
        match verb {
            "send" => kind().map(Action::Send),
            "held_out" => kind().map(Action::HeldOut),
            "deferred" => kind().map(Action::Deferred),
            "suppressed" => detail
                .and_then(|d| serde_json::from_value(serde_json::Value::from(d)).ok())
                .map(Action::Suppressed),
            "nothing" if detail.is_none() => Some(Action::Nothing),
            _ => None,
        }
    }
}

impl Ord for Action {
    /// As the names compare. No verb is the start of another, so comparing the verbs
    /// first and the details second is the same, without writing the names out.
    fn cmp(&self, other: &Self) -> Ordering {
        (self.verb(), self.detail()).cmp(&(other.verb(), other.detail()))
    }
}

impl PartialOrd for Action {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A suppression reason as the summary's JSON names it (its serde name).
pub fn reason_key(reason: SuppressReason) -> &'static str {
    match reason {
        SuppressReason::NoEmail => "no_email",
        SuppressReason::AddressSuppressed => "address_suppressed",
        SuppressReason::NoConsent => "no_consent",
        SuppressReason::ServiceRecovery => "service_recovery",
        SuppressReason::FrequencyCap => "frequency_cap",
    }
}

/// Everything the report shows, gathered by the run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub generated_at: DateTime<Utc>,
    pub shop_name: String,
    /// ISO 4217 code of the amounts below (major units).
    pub currency: String,
    pub summary: RunSummary,
    /// Fit at `today − churn window`, forecast to today, compared with what happened.
    pub backtest: Option<Evaluation>,
    /// Why there is no backtest (too little history), if there is none.
    pub backtest_skipped: Option<String>,
    /// One point per scored customer. Left out of the JSON: the charts need every
    /// customer, the summary stays small enough to read and diff.
    #[serde(skip)]
    pub customers: Vec<ScoredPoint>,
    /// Outcomes of earlier runs' messages, sent against held out, per message kind.
    pub control: Vec<ControlRow>,
}

/// The sample of buyers the models were fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FitSample {
    /// Buyers in the sample.
    pub buyers: usize,
    /// Buyers it was drawn from.
    pub of: usize,
}

impl FitSample {
    /// How many buyers each one in the sample stands for.
    pub fn scale(&self) -> f64 {
        self.of as f64 / self.buyers.max(1) as f64
    }
}

/// A scored customer, as the charts need it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoredPoint {
    pub churn_risk: f64,
    /// Over the horizon, in major units.
    pub clv: f64,
    /// Net spend to date, in major units.
    pub net_spend: f64,
}

impl ControlRow {
    /// Adds another part of the customers' messages of the same kind.
    pub fn absorb(&mut self, part: &ControlRow) {
        self.sent += part.sent;
        self.sent_purchased += part.sent_purchased;
        self.sent_redeemed += part.sent_redeemed;
        self.held_out += part.held_out;
        self.held_out_purchased += part.held_out_purchased;
        self.held_out_redeemed += part.held_out_redeemed;
    }
}

/// Sent against held-out messages of one kind, decided at least `window_days` ago.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ControlRow {
    pub kind: String,
    pub window_days: i64,
    pub sent: usize,
    /// Of those sent, customers who bought within the window after the message.
    pub sent_purchased: usize,
    /// Of those sent, customers who redeemed points within the window after it.
    pub sent_redeemed: usize,
    pub held_out: usize,
    pub held_out_purchased: usize,
    pub held_out_redeemed: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    const REASONS: [SuppressReason; 5] = [
        SuppressReason::NoEmail,
        SuppressReason::AddressSuppressed,
        SuppressReason::NoConsent,
        SuppressReason::ServiceRecovery,
        SuppressReason::FrequencyCap,
    ];

    fn every_action() -> Vec<Action> {
        let mut all = vec![Action::Nothing];
        for kind in MessageKind::ALL {
            all.extend([
                Action::Send(kind),
                Action::HeldOut(kind),
                Action::Deferred(kind),
            ]);
        }
        all.extend(REASONS.map(Action::Suppressed));
        all
    }

    #[test]
    fn reasons_are_named_as_serde_names_them() {
        for reason in REASONS {
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                reason_key(reason),
                "{reason:?}"
            );
        }
    }

    #[test]
    fn actions_are_named_and_ordered_as_strings() {
        for (action, name) in [
            (Action::Send(MessageKind::WinBack), "send:win_back"),
            (
                Action::HeldOut(MessageKind::VipAppreciation),
                "held_out:vip_appreciation",
            ),
            (Action::Deferred(MessageKind::Birthday), "deferred:birthday"),
            (
                Action::Suppressed(SuppressReason::NoConsent),
                "suppressed:no_consent",
            ),
            (Action::Nothing, "nothing"),
        ] {
            assert_eq!(action.to_string(), name);
        }
        let mut actions = every_action();
        actions.sort();
        let names: Vec<String> = actions.iter().map(Action::to_string).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn every_action_reads_back_from_its_name() {
        for action in every_action() {
            assert_eq!(Action::from_name(&action.to_string()), Some(action));
        }
        for name in ["send", "send:nope", "nothing:else", "suppressed:nope", ""] {
            assert_eq!(Action::from_name(name), None, "{name}");
        }
    }

    #[test]
    fn actions_serialize_as_map_keys() {
        let counts = BTreeMap::from([
            (Action::Suppressed(SuppressReason::FrequencyCap), 2),
            (Action::Send(MessageKind::WinBack), 1),
        ]);
        assert_eq!(
            serde_json::to_string(&counts).unwrap(),
            r#"{"send:win_back":1,"suppressed:frequency_cap":2}"#
        );
    }
}
