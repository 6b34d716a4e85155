//! Points expiry, the inactivity model: a customer's points lapse once the program's
//! months have passed without a qualifying order (any order restarts the clock). All of
//! the balance lapses at once, with one `expired` ledger entry, so the balance stays
//! the ledger's sum and the export shows why the points went.

use chrono::{DateTime, Months, Utc};

use super::{LedgerEntry, LedgerReason, Profile};

impl Profile {
    /// When the customer's points lapse under `months` of inactivity: counted from the
    /// last order (or, for points earned without one, from the profile's creation).
    pub fn points_expire_at(&self, months: u32) -> Option<DateTime<Utc>> {
        let since = self.last_purchase_at.unwrap_or(self.created_at);
        since.checked_add_months(Months::new(months))
    }

    /// Lapses the whole balance if it is due at `now`: the ledger entry, under `key`.
    pub fn expire_points(
        &mut self,
        months: u32,
        key: &str,
        now: DateTime<Utc>,
    ) -> Option<LedgerEntry> {
        let due = self.points_expire_at(months)?;
        if self.points_balance <= 0 || now < due {
            return None;
        }
        let entry = self.post(
            -self.points_balance,
            LedgerReason::Expired,
            format!("inactive since {}", due.date_naive()),
            key.to_owned(),
            now,
        );
        self.points_expired_at = Some(now);
        self.updated_at = now;
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CustomerId, Tier};

    fn profile(last_order: &str, balance: i64) -> Profile {
        let created: DateTime<Utc> = "2025-01-01T00:00:00Z".parse().unwrap();
        let mut p = Profile::new(
            CustomerId::parse("c", "asha").unwrap(),
            Tier("bronze".into()),
            created,
        );
        p.last_purchase_at = Some(last_order.parse().unwrap());
        p.points_balance = balance;
        p
    }

    #[test]
    fn the_whole_balance_lapses_once_the_months_have_passed() {
        let now: DateTime<Utc> = "2026-12-02T00:00:00Z".parse().unwrap();
        let mut lapsed = profile("2025-11-15T00:00:00Z", 250);
        let entry = lapsed.expire_points(12, "expiry:asha", now).unwrap();
        assert_eq!((entry.delta, entry.reason), (-250, LedgerReason::Expired));
        assert_eq!(lapsed.points_balance, 0);
        assert_eq!(lapsed.points_expired_at, Some(now));
        assert_eq!(
            lapsed.expire_points(12, "expiry:asha", now),
            None,
            "nothing left"
        );
        let mut recent = profile("2026-01-15T00:00:00Z", 250);
        assert_eq!(recent.expire_points(12, "expiry:asha", now), None);
        assert_eq!(recent.points_balance, 250);
    }
}
