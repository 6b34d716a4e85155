//! A customer's purchase days, bounded. The profile keeps each day's net spend for the
//! [`PURCHASE_DAYS_KEPT`] days before the latest purchase day — as far back as any window
//! reads single days — and folds the days before them into one [`FoldedDays`], which
//! keeps the net and repeat spend, the number of purchase days and the models' summaries
//! exact however long the history grows. A profile item must stay under DynamoDB's
//! 400 KB, and every run of the job reads every profile.

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use super::{MAX_GRACE_DAYS, Profile};

/// How many days before a customer's latest purchase day the profile keeps each day's
/// net spend (so it holds at most this many and one); older days are folded into
/// [`FoldedDays`].
///
/// Every figure read from single days looks back from a day on or after the latest
/// purchase day (today for the job and spend gifts; for an event the later of its day
/// and the latest purchase), and no further than:
/// - spend gifts: this calendar year, or the rolling 365 days;
/// - tiers: the rolling 365 days, or this calendar year and the last, which starts at
///   most 730 days back (January 1st of last year, seen from December 31st);
/// - for a customer below the tier they hold, the same windows seen from each day of the
///   grace, at most [`MAX_GRACE_DAYS`] earlier.
///
/// That is at most 730 + [`MAX_GRACE_DAYS`] days back. A day more is kept, as an event
/// may be dated a little ahead of the clock (`EventWindow::max_ahead`), so the latest
/// purchase day may be tomorrow.
pub const PURCHASE_DAYS_KEPT: u64 = 731 + MAX_GRACE_DAYS;

/// A customer's purchase days older than the [`PURCHASE_DAYS_KEPT`] days before their
/// latest, folded into one aggregate (amounts in minor units): the first day and its net
/// spend, the last folded day, and the folded days after the first with their net
/// spend. The profile's figures stay exact: net spend, repeat spend (net spend minus the
/// first day's) and the number of purchase days ([`Profile::purchase_day_count`]). So do
/// the models' ([`Self::spent`]), which leave out days without net spend: those are
/// counted apart as they are folded.
///
/// Which days inside the span had purchases, and each one's spend, is not kept. That
/// only matters to events dated on or before the span's last day — years late: an
/// import of older history, a refund long after its order — which are folded in thus:
/// - on the first day: its spend changes;
/// - before the first day: it becomes the first day, the old first day a repeat;
/// - a refund on another folded day: the repeats' spend goes down (the day still counts,
///   for the models too, even if nothing is left of its spend);
/// - a purchase on another folded day: the repeats' spend goes up, and it counts as a
///   new day unless it is on the last day or the first day with spend, or the span has
///   no day left without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoldedDays {
    /// The customer's first purchase day.
    pub first_day: NaiveDate,
    /// Net spend on the first day.
    pub first_minor: i64,
    /// The latest folded day: every day the profile keeps one by one comes after it.
    pub last_day: NaiveDate,
    /// Folded days after the first.
    pub repeat_days: u32,
    /// Net spend on those days.
    pub repeat_minor: i64,
    /// Of the repeat days, those without net spend when they were folded (their orders
    /// refunded in full, or free): purchase days for the profile, but not for the models.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refunded_days: u32,
    /// While the first day has no net spend: the first folded day that has, one of the
    /// repeat days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_spent: Option<DaySpend>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One day's net spend, in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaySpend {
    pub day: NaiveDate,
    pub minor: i64,
}

/// Folded days as the models read a history — only days with net spend: the first of
/// them and its spend, the last, and how many came after the first with their spend
/// (minor units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendSpan {
    pub first_day: NaiveDate,
    pub first_minor: i64,
    /// The first day when there are no repeat days, else the folded span's last day.
    pub last_day: NaiveDate,
    pub repeat_days: u32,
    pub repeat_minor: i64,
}

impl FoldedDays {
    /// The span of one folded day.
    fn of(day: NaiveDate, net_minor: i64) -> Self {
        FoldedDays {
            first_day: day,
            first_minor: net_minor,
            last_day: day,
            repeat_days: 0,
            repeat_minor: 0,
            refunded_days: 0,
            first_spent: None,
        }
    }

    /// Purchase days folded, the first one included.
    pub fn days(&self) -> usize {
        1 + self.repeat_days as usize
    }

    /// Net spend on every folded day.
    pub fn net_minor(&self) -> i64 {
        self.first_minor + self.repeat_minor
    }

    /// Folds `day`, later than every folded day, with its net spend.
    fn push(&mut self, day: NaiveDate, net_minor: i64) {
        self.last_day = day;
        self.count_repeat(day, net_minor);
    }

    /// Counts `day` as one more repeat day with `net_minor` of spend.
    fn count_repeat(&mut self, day: NaiveDate, net_minor: i64) {
        self.repeat_days = self.repeat_days.saturating_add(1);
        self.repeat_minor += net_minor;
        if net_minor <= 0 {
            self.refunded_days = self.refunded_days.saturating_add(1);
        } else if self.first_minor <= 0 && self.first_spent.is_none_or(|s| day < s.day) {
            self.first_spent = Some(DaySpend {
                day,
                minor: net_minor,
            });
        }
    }

    /// Adds `amount_minor` (negative for a refund) to `day`, on or before the last folded
    /// day, as the type's header says.
    fn add(&mut self, day: NaiveDate, amount_minor: i64) {
        if day < self.first_day {
            let (old_day, old_minor) = (self.first_day, self.first_minor);
            self.first_day = day;
            self.first_minor = amount_minor;
            self.count_repeat(old_day, old_minor);
        } else if day == self.first_day {
            self.first_minor += amount_minor;
        } else {
            let first_spent = self.first_spent.filter(|s| s.day == day);
            let room = u64::from(self.repeat_days) < self.span_days();
            if amount_minor < 0 || day == self.last_day || first_spent.is_some() || !room {
                self.repeat_minor += amount_minor;
                if let Some(s) = self.first_spent.as_mut().filter(|s| s.day == day) {
                    s.minor += amount_minor;
                }
            } else {
                self.count_repeat(day, amount_minor);
            }
        }
        if self.first_minor > 0 {
            self.first_spent = None;
        }
    }

    /// Days from the first folded day to the last.
    fn span_days(&self) -> u64 {
        u64::try_from((self.last_day - self.first_day).num_days()).unwrap_or(0)
    }

    /// The folded days with net spend, as the models read them; `None` when none has.
    ///
    /// Exact as long as no event dated inside the span took a day's spend away (see the
    /// type's header): when a refund long after it left the first day without spend, the
    /// first day stands in for the first with spend, which is not kept. The span's last
    /// day stands for its last day with spend; they differ only when the last folded day
    /// was refunded in full, which matters to the models only when no kept day has
    /// spend either.
    pub fn spent(&self) -> Option<SpendSpan> {
        let with_spend = self.repeat_days.saturating_sub(self.refunded_days);
        let (first, repeats) = match self.first_spent {
            _ if self.first_minor > 0 => ((self.first_day, self.first_minor), with_spend),
            Some(s) => ((s.day, s.minor), with_spend.saturating_sub(1)),
            None if with_spend > 0 => ((self.first_day, 0), with_spend),
            None => return None,
        };
        let (first_day, first_minor) = first;
        let days_after = u32::try_from((self.last_day - first_day).num_days()).unwrap_or(0);
        let repeat_days = repeats.min(days_after);
        Some(SpendSpan {
            first_day,
            first_minor: first_minor.max(0),
            last_day: if repeat_days == 0 {
                first_day
            } else {
                self.last_day
            },
            repeat_days,
            repeat_minor: if repeat_days == 0 {
                0
            } else {
                (self.net_minor() - first_minor).max(0)
            },
        })
    }
}

impl Profile {
    /// Adds `amount_minor` (negative for refunds) to the purchase day `day`, keeping
    /// the derived aggregates in step, then folds the days that fell out of the kept
    /// window ([`PURCHASE_DAYS_KEPT`]) into `earlier_days`.
    pub(crate) fn add_to_day(&mut self, day: NaiveDate, amount_minor: i64) {
        self.net_spend_minor += amount_minor;
        match &mut self.earlier_days {
            Some(folded) if day <= folded.last_day => folded.add(day, amount_minor),
            _ => *self.purchase_days.entry(day).or_insert(0) += amount_minor,
        }
        self.fold_old_days();
        self.repeat_spend_minor = self.net_spend_minor - self.first_day_minor();
    }

    /// Folds the purchase days more than [`PURCHASE_DAYS_KEPT`] days before the latest
    /// into `earlier_days`, oldest first.
    fn fold_old_days(&mut self) {
        let Some(oldest_kept) = (self.purchase_days.last_key_value())
            .and_then(|(latest, _)| latest.checked_sub_days(Days::new(PURCHASE_DAYS_KEPT)))
        else {
            return;
        };
        let kept = self.purchase_days.split_off(&oldest_kept);
        let old = std::mem::replace(&mut self.purchase_days, kept);
        for (day, net) in old {
            match &mut self.earlier_days {
                Some(folded) => folded.push(day, net),
                None => self.earlier_days = Some(FoldedDays::of(day, net)),
            }
        }
    }

    /// Net spend on the customer's first purchase day.
    fn first_day_minor(&self) -> i64 {
        match &self.earlier_days {
            Some(folded) => folded.first_minor,
            None => (self.purchase_days.first_key_value()).map_or(0, |(_, net)| *net),
        }
    }

    /// Distinct purchase days, the folded ones included.
    pub fn purchase_day_count(&self) -> usize {
        self.purchase_days.len() + self.earlier_days.as_ref().map_or(0, FoldedDays::days)
    }
}

#[cfg(test)]
mod tests;
