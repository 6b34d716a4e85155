//! Pacing customer mail to the SES account's quota.
//!
//! SES limits an account twice: a send rate (messages per second) and a daily quota
//! (messages per rolling 24 hours). Going over the rate costs a throttling error and a
//! back-off; going over the daily quota stops the account's sending until the window
//! moves on. [`Paced`] keeps a run under both: it spaces its sends to the rate and stops
//! once the quota left when the run started is spent, answering as SES would
//! ([`SendError::QuotaExceeded`]) without asking it — so the run stops sending the same
//! way as when SES itself refuses.
//!
//! The limits come from SES (`GetAccount`, [`SesAccount`]); a run shares them with
//! whatever else sends from the account, and with its own concurrent workers, through
//! [`Pacing::from_quota`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

use super::{Acceptance, MessageSender, OutgoingMail, SendError};

/// The account's sending limits, as SES reports them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SendQuota {
    /// Messages per second.
    pub max_send_rate: f64,
    /// Messages per rolling 24 hours; negative when the account has no such limit.
    pub max_24_hour_send: f64,
    /// Messages sent in the last 24 hours.
    pub sent_last_24_hours: f64,
    /// Whether the account may send at all (SES pauses an account under review).
    pub sending_enabled: bool,
}

impl SendQuota {
    /// Messages the daily quota still allows; `None` without a daily limit.
    pub fn left_today(&self) -> Option<u64> {
        if !self.sending_enabled {
            return Some(0);
        }
        (self.max_24_hour_send >= 0.0).then(|| {
            (self.max_24_hour_send - self.sent_last_24_hours)
                .max(0.0)
                .floor() as u64
        })
    }
}

/// Where the account's limits are read.
#[async_trait]
pub trait QuotaSource: Send + Sync {
    async fn send_quota(&self) -> Result<SendQuota, SendError>;
}

/// The account's limits from SES v2 `GetAccount`.
pub struct SesAccount {
    client: aws_sdk_sesv2::Client,
}

impl SesAccount {
    pub fn new(client: aws_sdk_sesv2::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl QuotaSource for SesAccount {
    async fn send_quota(&self) -> Result<SendQuota, SendError> {
        use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
        let account = self.client.get_account().send().await.map_err(|e| {
            tracing::debug!(error = ?e, "SES did not tell the account's quota");
            match &e {
                SdkError::ServiceError(s) => SendError::from_ses(s.err().code(), s.err().message()),
                _ => SendError::Unavailable(format!("{e}")),
            }
        })?;
        let quota = account
            .send_quota()
            .ok_or_else(|| SendError::Unavailable("GetAccount named no send quota".into()))?;
        Ok(SendQuota {
            max_send_rate: quota.max_send_rate(),
            max_24_hour_send: quota.max24_hour_send(),
            sent_last_24_hours: quota.sent_last24_hours(),
            sending_enabled: account.sending_enabled(),
        })
    }
}

/// How fast, and how much, one sender may send: its share of the account's limits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pacing {
    /// Messages per second; `None` for no spacing.
    pub rate: Option<f64>,
    /// Messages it may send in all; `None` for no limit.
    pub budget: Option<u64>,
    /// The account's limits it was derived from.
    pub quota: Option<SendQuota>,
}

impl Pacing {
    /// No spacing and no limit: SES's own answers (throttling, a used-up quota) are all
    /// there is.
    pub const UNPACED: Self = Self {
        rate: None,
        budget: None,
        quota: None,
    };

    /// The share of `quota` one of `workers` concurrent senders may use: `share` (0–1]
    /// of the account's rate — the rest is left to whatever else sends from the account —
    /// divided among the workers, and the daily quota left divided alike. A `max_rate`
    /// set by the operator caps the rate further.
    pub fn from_quota(quota: SendQuota, share: f64, max_rate: Option<f64>, workers: u32) -> Self {
        let workers = f64::from(workers.max(1));
        let share = if share > 0.0 { share.min(1.0) } else { 1.0 };
        let account_rate = quota.max_send_rate * share / workers;
        let rate = match max_rate {
            Some(cap) if cap > 0.0 => account_rate.min(cap),
            _ => account_rate,
        };
        Self {
            rate: (rate > 0.0).then_some(rate),
            budget: quota
                .left_today()
                .map(|left| (left as f64 / workers).floor() as u64),
            quota: Some(quota),
        }
    }

    /// This pace shared by `workers` concurrent senders: the rate and the budget each
    /// divided among them.
    pub fn shared_by(self, workers: u32) -> Self {
        let workers = workers.max(1);
        Self {
            rate: self.rate.map(|r| r / f64::from(workers)),
            budget: self.budget.map(|b| b / u64::from(workers)),
            quota: self.quota,
        }
    }
}

/// A sender that keeps to a [`Pacing`]: sends are spaced `1 / rate` apart, across every
/// concurrent caller, and once the budget is spent every send is refused as a used-up
/// quota. A send the provider did not take gives its slot of the budget back.
pub struct Paced<M> {
    inner: M,
    pacing: Pacing,
    interval: Option<Duration>,
    next_slot: Mutex<Option<Instant>>,
    sent: AtomicU64,
}

impl<M> Paced<M> {
    pub fn new(inner: M, pacing: Pacing) -> Self {
        let interval = pacing
            .rate
            .filter(|r| r.is_finite() && *r > 0.0)
            .map(|r| Duration::from_secs_f64(1.0 / r));
        Self {
            inner,
            pacing,
            interval,
            next_slot: Mutex::new(None),
            sent: AtomicU64::new(0),
        }
    }

    pub fn pacing(&self) -> Pacing {
        self.pacing
    }

    /// Takes one message of the budget; `false` once it is spent.
    fn take_budget(&self) -> bool {
        match self.pacing.budget {
            None => {
                self.sent.fetch_add(1, Ordering::SeqCst);
                true
            }
            Some(budget) => self
                .sent
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |sent| {
                    (sent < budget).then_some(sent + 1)
                })
                .is_ok(),
        }
    }

    fn give_back(&self) {
        self.sent.fetch_sub(1, Ordering::SeqCst);
    }

    /// When this send may start: the next free slot, which it then takes.
    fn slot(&self) -> Option<Instant> {
        let interval = self.interval?;
        let now = Instant::now();
        // A poisoned lock only means another send panicked while holding it; the slot
        // it holds is still a time.
        let mut next = self.next_slot.lock().unwrap_or_else(|e| e.into_inner());
        let at = next.map_or(now, |n| n.max(now));
        *next = Some(at + interval);
        Some(at)
    }

    fn refusal(&self) -> SendError {
        let why = match self.pacing.quota {
            Some(q) if !q.sending_enabled => "sending is paused for the SES account".to_owned(),
            Some(q) => format!(
                "the SES account's daily quota: {} messages in 24 hours, {} sent before this run, {} by this sender",
                q.max_24_hour_send,
                q.sent_last_24_hours,
                self.pacing.budget.unwrap_or_default()
            ),
            None => format!(
                "this sender's budget of {} messages",
                self.pacing.budget.unwrap_or_default()
            ),
        };
        SendError::QuotaExceeded(why)
    }
}

#[async_trait]
impl<M: MessageSender> MessageSender for Paced<M> {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, SendError> {
        if !self.take_budget() {
            return Err(self.refusal());
        }
        if let Some(at) = self.slot() {
            tokio::time::sleep_until(at).await;
        }
        let sent = self.inner.send(mail).await;
        if sent.is_err() {
            self.give_back();
        }
        sent
    }

    async fn accepted(
        &self,
        mail: &OutgoingMail,
        since: DateTime<Utc>,
    ) -> Result<Acceptance, SendError> {
        self.inner.accepted(mail, since).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Email;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    /// Takes every message, or refuses every `refuse_every`-th; counts them.
    struct Counting {
        calls: AtomicUsize,
        refuse_every: usize,
    }

    #[async_trait]
    impl MessageSender for Counting {
        async fn send(&self, _: &OutgoingMail) -> Result<String, SendError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if self.refuse_every > 0 && n.is_multiple_of(self.refuse_every) {
                Err(SendError::Rejected("bad address".into()))
            } else {
                Ok(format!("id-{n}"))
            }
        }
    }

    fn counting(refuse_every: usize) -> Counting {
        Counting {
            calls: AtomicUsize::new(0),
            refuse_every,
        }
    }

    fn mail() -> OutgoingMail {
        OutgoingMail {
            from: "shop@example.com".into(),
            to: Email::parse("to", "a@example.com").unwrap(),
            subject: "Hi".into(),
            html: "<p>Hi</p>".into(),
            text: "Hi".into(),
            unsubscribe_url: "https://example.com/u".into(),
            message_key: "a|tips|1".into(),
        }
    }

    fn quota(rate: f64, max: f64, sent: f64) -> SendQuota {
        SendQuota {
            max_send_rate: rate,
            max_24_hour_send: max,
            sent_last_24_hours: sent,
            sending_enabled: true,
        }
    }

    #[test]
    fn the_share_of_the_account_is_split_among_workers() {
        let p = Pacing::from_quota(quota(14.0, 50_000.0, 2_000.0), 0.8, None, 4);
        assert!((p.rate.unwrap() - 2.8).abs() < 1e-12);
        assert_eq!(p.budget, Some(12_000));
        // The operator's cap wins when lower; an account without a daily limit gives
        // no budget; a paused one gives none to send.
        let capped = Pacing::from_quota(quota(14.0, -1.0, 0.0), 1.0, Some(2.0), 1);
        assert_eq!((capped.rate, capped.budget), (Some(2.0), None));
        let paused = SendQuota {
            sending_enabled: false,
            ..quota(14.0, 200.0, 0.0)
        };
        assert_eq!(Pacing::from_quota(paused, 1.0, None, 1).budget, Some(0));
        // More sent than the quota (it was lowered) leaves nothing, not a wrap-around.
        assert_eq!(quota(1.0, 200.0, 250.0).left_today(), Some(0));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_sends_are_spaced_to_the_rate() {
        let paced = Arc::new(Paced::new(
            counting(0),
            Pacing {
                rate: Some(10.0),
                budget: None,
                quota: None,
            },
        ));
        let started = Instant::now();
        let sends: Vec<_> = (0..21)
            .map(|_| {
                let paced = Arc::clone(&paced);
                tokio::spawn(async move { paced.send(&mail()).await.map(|_| Instant::now()) })
            })
            .collect();
        let mut at: Vec<Duration> = Vec::new();
        for send in sends {
            at.push(send.await.unwrap().unwrap() - started);
        }
        at.sort();
        // 21 sends at 10 a second: the last starts 2 s after the first, none sooner
        // than 100 ms after the one before.
        assert_eq!(at[0], Duration::ZERO);
        assert_eq!(at[20], Duration::from_secs(2));
        assert!(
            at.windows(2)
                .all(|w| w[1] - w[0] >= Duration::from_millis(100))
        );
    }

    #[tokio::test]
    async fn a_spent_budget_refuses_as_a_used_up_quota_and_refusals_give_it_back() {
        let paced = Paced::new(
            counting(3),
            Pacing::from_quota(quota(100.0, 10.0, 4.0), 1.0, None, 1),
        );
        let mut taken = 0;
        let mut refused_by_provider = 0;
        for _ in 0..12 {
            match paced.send(&mail()).await {
                Ok(_) => taken += 1,
                Err(SendError::Rejected(_)) => refused_by_provider += 1,
                Err(SendError::QuotaExceeded(why)) => {
                    assert!(why.contains("10 messages in 24 hours, 4 sent"), "{why}");
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        // Six left today: six taken, and the rejected ones did not count.
        assert_eq!(taken, 6);
        assert_eq!(refused_by_provider, 2);
        assert!(matches!(
            paced.send(&mail()).await,
            Err(SendError::QuotaExceeded(_))
        ));
        assert_eq!(paced.inner.calls.load(Ordering::SeqCst), 8);
    }
}
