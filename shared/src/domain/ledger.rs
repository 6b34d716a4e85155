//! The points ledger: append-only entries, and the only code that changes a balance.
//!
//! Every change of `points_balance` goes through [`Profile::post`], which appends an
//! entry carrying the balance after it, so the balance always equals the sum of the
//! entries. Rewards that must wait (a referral's return window) are held on the
//! profile and posted when released, or dropped when the order they depend on is
//! refunded.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{EventId, OrderId, PendingReward, Profile};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerReason {
    Purchase,
    Refund,
    Redemption,
    Review,
    Referral,
    /// A reward given with a message (the birthday greeting's points).
    Reward,
    /// Points that lapsed after the program's months without a qualifying order.
    Expired,
    /// Points for an activity of the program (signup, a follow, the merchant's own).
    Activity,
}

/// One append-only change of the points balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub seq: u64,
    pub delta: i64,
    pub reason: LedgerReason,
    /// The order or redemption the change belongs to.
    pub reference: String,
    /// The event or request that caused it.
    pub source: String,
    pub balance_after: i64,
    pub at: DateTime<Utc>,
    /// The program version the change was decided under (absent on entries from before
    /// the program was versioned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program_version: Option<u64>,
}

/// Records on `entries` the program version they were decided under.
pub fn under_program(entries: &mut [LedgerEntry], version: u64) {
    for entry in entries {
        entry.program_version = Some(version);
    }
}

impl Profile {
    /// Appends a ledger entry and applies it to the balance, so the two cannot drift.
    pub(crate) fn post(
        &mut self,
        delta: i64,
        reason: LedgerReason,
        reference: String,
        source: String,
        at: DateTime<Utc>,
    ) -> LedgerEntry {
        self.ledger_entries += 1;
        self.points_balance += delta;
        let day = self.recent_points.entry(at.date_naive()).or_default();
        match reason {
            LedgerReason::Redemption => day.redeemed -= delta,
            LedgerReason::Expired => day.expired -= delta,
            _ if delta > 0 => day.earned += delta,
            _ => {}
        }
        if matches!(
            reason,
            LedgerReason::Purchase
                | LedgerReason::Refund
                | LedgerReason::Review
                | LedgerReason::Referral
                | LedgerReason::Activity
        ) {
            self.note_earned(at.date_naive(), delta);
        }
        let oldest = at.date_naive() - Duration::days(super::profile::RECENT_POINTS_DAYS);
        self.recent_points.retain(|date, _| *date > oldest);
        LedgerEntry {
            seq: self.ledger_entries,
            delta,
            reason,
            reference,
            source,
            balance_after: self.points_balance,
            at,
            program_version: None,
        }
    }

    /// Grants `points` for `order` now (with a ledger entry) or, with a hold of
    /// `hold_days`, as pending: a refund of the order inside the hold cancels them.
    pub(crate) fn grant_held(
        &mut self,
        points: i64,
        order: &OrderId,
        source: &EventId,
        hold_days: i64,
        now: DateTime<Utc>,
    ) -> Option<LedgerEntry> {
        if points == 0 {
            return None;
        }
        if hold_days == 0 {
            return Some(self.post(
                points,
                LedgerReason::Referral,
                order.to_string(),
                source.to_string(),
                now,
            ));
        }
        self.pending_rewards.push(PendingReward {
            points,
            release_at: now + Duration::days(hold_days),
            order_id: order.clone(),
            source: source.to_string(),
        });
        self.points_pending += points;
        None
    }

    /// Moves every held reward whose time has come to the balance.
    pub fn release_due(&mut self, now: DateTime<Utc>) -> Vec<LedgerEntry> {
        let (due, held): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_rewards)
            .into_iter()
            .partition(|r| r.release_at <= now);
        self.pending_rewards = held;
        due.into_iter()
            .map(|r| {
                self.points_pending -= r.points;
                self.post(
                    r.points,
                    LedgerReason::Referral,
                    r.order_id.to_string(),
                    r.source,
                    now,
                )
            })
            .collect()
    }

    /// Drops held rewards that depend on `order`; true if any were held.
    pub(crate) fn cancel_pending_for(&mut self, order: &OrderId) -> bool {
        let before = self.pending_rewards.len();
        self.pending_rewards.retain(|r| &r.order_id != order);
        self.points_pending = self.pending_rewards.iter().map(|r| r.points).sum();
        self.pending_rewards.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CustomerId, Tier};

    fn profile() -> Profile {
        Profile::new(
            CustomerId::parse("c", "c1").unwrap(),
            Tier("bronze".into()),
            "2026-01-01T00:00:00Z".parse().unwrap(),
        )
    }

    #[test]
    fn the_balance_is_the_sum_of_the_entries() {
        let mut p = profile();
        let now = p.created_at;
        let a = p.post(100, LedgerReason::Purchase, "o1".into(), "e1".into(), now);
        let b = p.post(-30, LedgerReason::Redemption, "r1".into(), "r1".into(), now);
        assert_eq!((a.seq, b.seq), (1, 2));
        assert_eq!((a.balance_after, b.balance_after), (100, 70));
        assert_eq!(p.points_balance, a.delta + b.delta);
    }

    #[test]
    fn held_rewards_move_to_the_balance_when_due_or_drop_with_their_order() {
        let mut p = profile();
        let now = p.created_at;
        let order = OrderId::parse("o", "o1").unwrap();
        let event = EventId::parse("e", "e1").unwrap();
        assert!(p.grant_held(250, &order, &event, 30, now).is_none());
        assert_eq!((p.points_balance, p.points_pending), (0, 250));
        assert!(p.release_due(now + Duration::days(29)).is_empty());
        let released = p.release_due(now + Duration::days(30));
        assert_eq!(released.len(), 1);
        assert_eq!((p.points_balance, p.points_pending), (250, 0));

        assert!(p.grant_held(100, &order, &event, 30, now).is_none());
        assert!(p.cancel_pending_for(&order));
        assert_eq!(p.points_pending, 0);
        let at_once = p.grant_held(50, &order, &event, 0, now);
        assert_eq!(at_once.map(|e| e.balance_after), Some(300));
    }
}
