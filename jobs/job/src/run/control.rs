//! The control-group rows: how earlier messages turned out, sent against held out.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rapport_shared::domain::outreach::MessageKind;
use rapport_shared::store::ScannedCustomer;

use crate::summary::ControlRow;

/// Days after a message in which a purchase or redemption counts as its outcome.
pub const CONTROL_WINDOW_DAYS: i64 = 30;

/// Later purchase and redemption rates of earlier messages, sent against held out, per
/// message kind — for messages whose window has closed.
pub(super) fn control_groups(customers: &[ScannedCustomer], now: DateTime<Utc>) -> Vec<ControlRow> {
    let mut rows: BTreeMap<MessageKind, ControlRow> = BTreeMap::new();
    for c in customers {
        let Some(job) = &c.job else { continue };
        for m in &job.messages {
            if (now - m.at).num_days() < CONTROL_WINDOW_DAYS {
                continue;
            }
            let from = m.at.date_naive();
            let until = from + chrono::Duration::days(CONTROL_WINDOW_DAYS);
            let after = |d: &NaiveDate| *d > from && *d <= until;
            // Messages are kept for `outreach::HISTORY_DAYS`, far fewer than the days
            // before the latest purchase whose spend the profile keeps one by one
            // (`PURCHASE_DAYS_KEPT`): no window reaches the folded days.
            let bought = c
                .profile
                .purchase_days
                .iter()
                .any(|(d, net)| *net > 0 && after(d));
            let redeemed = c.profile.redemption_days.iter().any(after);
            let row = rows.entry(m.kind).or_insert_with(|| ControlRow {
                kind: m.kind.to_string(),
                window_days: CONTROL_WINDOW_DAYS,
                ..ControlRow::default()
            });
            let (n, b, r) = if m.held_out {
                (
                    &mut row.held_out,
                    &mut row.held_out_purchased,
                    &mut row.held_out_redeemed,
                )
            } else {
                (
                    &mut row.sent,
                    &mut row.sent_purchased,
                    &mut row.sent_redeemed,
                )
            };
            *n += 1;
            *b += usize::from(bought);
            *r += usize::from(redeemed);
        }
    }
    rows.into_values().collect()
}
