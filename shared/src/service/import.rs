//! A shop's past orders brought in at once, so that tiers and the models see them from
//! the first day: the same rules as live events (each order and refund applied in time
//! order by `PurchaseEvent::apply`, recorded under its event id exactly as a live
//! delivery would be), but many customers read in one round trip and written in one
//! transaction.
//!
//! - **Exactly once, resumable.** Every event is recorded under its id with the
//!   profile, orders and ledger it changed, in one transaction per batch of customers:
//!   a re-run — after a kill, or of a file that grew — skips what is recorded and
//!   applies the rest on the profile as it now is. A live delivery of an imported event
//!   later is answered as the duplicate it is.
//! - **Points.** Imported orders earn none unless asked (`award_points`): an import must
//!   not flood balances with points for purchases long past. Spend, tiers, order history
//!   and the models' input are built either way.
//! - Imported orders never convert referrals, and history of any age is taken (the
//!   live event window does not apply); events dated in the future are refused.
//! - A rejected event (a refund of an unknown order, an order recorded under another
//!   event) is reported with its reason and the rest go on.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

use super::ServiceError;
use super::driver::Once;
use crate::domain::{
    CustomerId, DomainError, LoyaltyRules, Order, OrderId, PurchaseEvent, PurchaseKind,
    ReferralRules,
};
use crate::retry::Backoff;
use crate::store::{
    CommitError, ImportSnapshot, ImportStore, ImportWrite, MAX_TRANSACTION_ITEMS, Versioned,
};

/// Items one customer's write may take before the rest goes in the next transaction:
/// room for an event's order, record and a few released ledger entries.
const WRITE_BUDGET: usize = MAX_TRANSACTION_ITEMS - 10;
/// Tries of a customer whose transaction lost a race, each reading again.
const ATTEMPTS: usize = 5;

#[derive(Debug, Clone, Copy, Default)]
pub struct ImportSettings {
    /// Whether imported orders earn points (refunds then take them back).
    pub award_points: bool,
}

/// One customer's events to import.
#[derive(Debug, Clone)]
pub struct CustomerEvents {
    pub customer: CustomerId,
    pub events: Vec<PurchaseEvent>,
}

/// An event the rules refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub event_id: String,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportTally {
    pub customers: usize,
    pub purchases: usize,
    pub refunds: usize,
    /// Events recorded before (an earlier run, or live).
    pub already: usize,
    pub rejected: Vec<Rejected>,
    /// Transactions written.
    pub transactions: usize,
}

impl ImportTally {
    pub fn add(&mut self, other: ImportTally) {
        self.customers += other.customers;
        self.purchases += other.purchases;
        self.refunds += other.refunds;
        self.already += other.already;
        self.rejected.extend(other.rejected);
        self.transactions += other.transactions;
    }
}

/// One write and what it accounts for.
struct Planned {
    write: ImportWrite,
    tally: ImportTally,
}

/// Decides a customer's events on what the store holds: the writes, in order, each
/// within [`WRITE_BUDGET`] items, the first at the version read.
fn plan(
    snapshot: ImportSnapshot,
    history: &CustomerEvents,
    rules: &LoyaltyRules,
    referrals: &ReferralRules,
    now: DateTime<Utc>,
) -> Result<Vec<Planned>, ServiceError> {
    let mut events: Vec<&PurchaseEvent> = history.events.iter().collect();
    // Time order; a purchase before a refund of the same moment.
    events.sort_by_key(|e| (e.occurred_at, e.kind == PurchaseKind::Refund));
    let mut orders: BTreeMap<OrderId, Order> = snapshot
        .orders
        .into_iter()
        .map(|o| (o.order_id.clone(), o))
        .collect();
    let mut expected = snapshot.profile.as_ref().map(|p| p.version);
    let mut profile = snapshot.profile.map(|Versioned { value, .. }| value);
    let mut planned = Vec::new();
    let mut current: Option<Planned> = None;
    let mut skipped = ImportTally::default();
    for event in events {
        if snapshot.recorded.contains(event.event_id.as_str()) {
            skipped.already += 1;
            continue;
        }
        if event.occurred_at > now + rules.events.max_ahead {
            skipped.rejected.push(Rejected {
                event_id: event.event_id.to_string(),
                reason: "occurred_at is in the future".into(),
            });
            continue;
        }
        let order = orders.get(&event.order_id).cloned();
        let outcome = match event.apply(profile.clone(), order, None, rules, referrals, now) {
            Ok(mut outcome) => {
                outcome.under_program(rules.program_version);
                outcome
            }
            Err(DomainError::Invalid(e)) => {
                skipped.rejected.push(Rejected {
                    event_id: event.event_id.to_string(),
                    reason: format!("{}: {}", e.field, e.reason),
                });
                continue;
            }
            Err(e) => {
                skipped.rejected.push(Rejected {
                    event_id: event.event_id.to_string(),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let record =
            Once::new(event.event_id.to_string(), "event_id", event)?.record(&outcome.receipt)?;
        let adds = 2 + outcome.ledger.len();
        if current
            .as_ref()
            .is_some_and(|c| c.write.items() + adds > WRITE_BUDGET)
            && let Some(full) = current.take()
        {
            expected = Some(expected.map_or(1, |v| v + 1));
            planned.push(full);
        }
        let slot = current.get_or_insert_with(|| Planned {
            write: ImportWrite {
                expected,
                profile: outcome.profile.clone(),
                orders: Vec::new(),
                ledger: Vec::new(),
                records: Vec::new(),
            },
            tally: ImportTally::default(),
        });
        slot.write.profile = outcome.profile.clone();
        slot.write
            .orders
            .retain(|o| o.order_id != outcome.order.order_id);
        slot.write.orders.push(outcome.order.clone());
        slot.write.ledger.extend(outcome.ledger);
        slot.write.records.push(record);
        match event.kind {
            PurchaseKind::Purchase => slot.tally.purchases += 1,
            PurchaseKind::Refund => slot.tally.refunds += 1,
        }
        orders.insert(outcome.order.order_id.clone(), outcome.order);
        profile = Some(outcome.profile);
    }
    planned.extend(current);
    // What was skipped is accounted with the customer's first write, or alone.
    match planned.first_mut() {
        Some(first) => first.tally.add(skipped),
        None => planned.push(Planned {
            write: ImportWrite {
                expected: None,
                profile: crate::domain::Profile::new(
                    history.customer.clone(),
                    rules.base_tier().clone(),
                    now,
                ),
                orders: Vec::new(),
                ledger: Vec::new(),
                records: Vec::new(),
            },
            tally: skipped,
        }),
    }
    Ok(planned)
}

/// Whether a plan is only a tally: nothing to write.
fn nothing_to_write(planned: &Planned) -> bool {
    planned.write.records.is_empty()
}

/// Imports a batch of customers: one read for all of them, then transactions of as many
/// customers as fit; a customer whose transaction lost a race is read and decided again
/// on its own.
pub async fn import<S: ImportStore + ?Sized>(
    store: &S,
    rules: &LoyaltyRules,
    referrals: &ReferralRules,
    settings: ImportSettings,
    batch: &[CustomerEvents],
    now: DateTime<Utc>,
) -> Result<ImportTally, ServiceError> {
    let rules = &import_rules(rules, settings);
    let wanted: Vec<(CustomerId, Vec<String>)> = batch
        .iter()
        .map(|c| {
            let keys = c.events.iter().map(|e| e.event_id.to_string()).collect();
            (c.customer.clone(), keys)
        })
        .collect();
    let snapshots = store.load_import(&wanted).await?;
    let mut tally = ImportTally::default();
    let mut pack: Vec<Planned> = Vec::new();
    let mut again: Vec<&CustomerEvents> = Vec::new();
    let mut packed: Vec<&CustomerEvents> = Vec::new();
    for (snapshot, history) in snapshots.into_iter().zip(batch) {
        tally.customers += 1;
        let mut plans = plan(snapshot, history, rules, referrals, now)?;
        if plans.len() > 1 {
            // More than one transaction's worth: written on its own, write by write.
            again.push(history);
            continue;
        }
        let Some(planned) = plans.pop() else { continue };
        if nothing_to_write(&planned) {
            tally.add(planned.tally);
            continue;
        }
        if pack.iter().map(|p| p.write.items()).sum::<usize>() + planned.write.items()
            > MAX_TRANSACTION_ITEMS
        {
            commit_pack(store, &mut pack, &mut packed, &mut again, &mut tally).await?;
        }
        pack.push(planned);
        packed.push(history);
    }
    commit_pack(store, &mut pack, &mut packed, &mut again, &mut tally).await?;
    for history in again {
        let mut one = import_one(store, rules, referrals, history, now).await?;
        one.customers = 0;
        tally.add(one);
    }
    Ok(tally)
}

async fn commit_pack<'h, S: ImportStore + ?Sized>(
    store: &S,
    pack: &mut Vec<Planned>,
    packed: &mut Vec<&'h CustomerEvents>,
    again: &mut Vec<&'h CustomerEvents>,
    tally: &mut ImportTally,
) -> Result<(), ServiceError> {
    if pack.is_empty() {
        return Ok(());
    }
    let writes: Vec<ImportWrite> = pack.iter().map(|p| p.write.clone()).collect();
    match store.commit_import(&writes).await {
        Ok(()) => {
            tally.transactions += 1;
            for planned in pack.drain(..) {
                tally.add(planned.tally);
            }
            packed.clear();
            Ok(())
        }
        // Someone wrote one of these customers meanwhile: each is read again alone.
        Err(CommitError::Conflict | CommitError::AlreadyRecorded) => {
            pack.clear();
            again.append(packed);
            Ok(())
        }
        Err(CommitError::Store(e)) => Err(e.into()),
        Err(CommitError::CodeTaken) => Err(ServiceError::Contention),
    }
}

/// One customer, write by write; a lost race reads again and goes on from what is
/// recorded.
async fn import_one<S: ImportStore + ?Sized>(
    store: &S,
    rules: &LoyaltyRules,
    referrals: &ReferralRules,
    history: &CustomerEvents,
    now: DateTime<Utc>,
) -> Result<ImportTally, ServiceError> {
    let keys: Vec<String> = history
        .events
        .iter()
        .map(|e| e.event_id.to_string())
        .collect();
    let mut tally = ImportTally::default();
    // Events this call recorded: a later read finds them recorded, not `already`.
    let mut recorded_here = 0;
    let mut backoff = Backoff::new(
        Duration::from_millis(20),
        Duration::from_millis(500),
        ATTEMPTS as u32,
    );
    loop {
        let before = recorded_here;
        let wanted = [(history.customer.clone(), keys.clone())];
        let snapshot = store.load_import(&wanted).await?.pop().unwrap_or_default();
        let mut round = ImportTally::default();
        let mut lost = false;
        for planned in plan(snapshot, history, rules, referrals, now)? {
            if nothing_to_write(&planned) {
                round.add(planned.tally);
                continue;
            }
            match store
                .commit_import(std::slice::from_ref(&planned.write))
                .await
            {
                Ok(()) => {
                    recorded_here += planned.write.records.len();
                    round.transactions += 1;
                    round.add(planned.tally);
                }
                Err(CommitError::Conflict | CommitError::AlreadyRecorded) => {
                    lost = true;
                    break;
                }
                Err(CommitError::Store(e)) => return Err(e.into()),
                Err(CommitError::CodeTaken) => return Err(ServiceError::Contention),
            }
        }
        if !lost {
            round.already = round.already.saturating_sub(before);
            tally.add(round);
            return Ok(tally);
        }
        // What committed stays counted; the skipped and rejected are counted again on
        // the next read.
        tally.purchases += round.purchases;
        tally.refunds += round.refunds;
        tally.transactions += round.transactions;
        if !backoff.wait().await {
            return Err(ServiceError::Contention);
        }
    }
}

/// The rules an import decides under: the shop's, without points unless asked.
fn import_rules(rules: &LoyaltyRules, settings: ImportSettings) -> LoyaltyRules {
    let mut rules = rules.clone();
    if !settings.award_points {
        rules.points_per_unit = 0;
    }
    rules
}

#[cfg(test)]
mod tests;
