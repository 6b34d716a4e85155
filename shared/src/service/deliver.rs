//! Carrying out one outreach decision: render the message in the customer's language,
//! claim it, send it through SES with backoff, and record the outcome.
//!
//! The message is rendered before it is claimed, so a crash can leave a claim without
//! its outcome only around the SES call itself. Such a claim stays `sending`; once it is
//! older than the claim lease, a later run treats it as in doubt and asks the sender's
//! delivery log whether the provider accepted it: if so it is recorded as sent, if not
//! it is claimed again (compare-and-swap on the stale claim) and sent. A sender that
//! cannot tell gets the message again: one duplicate in that rare window beats losing
//! a due message for good.

use chrono::{DateTime, Datelike, Duration, Utc};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::domain::codes::readable_code;
use crate::domain::outreach::festivals::Festival;
use crate::domain::outreach::tips::Tip;
use crate::domain::outreach::{MessageKind, MessageRecord, MessageStatus, Planned};
use crate::domain::program::{Reward, Wording};
use crate::domain::{Email, Profile};
use crate::mail::render::{MessageData, RenderError, RewardLine, TipView, language_for, render};
use crate::mail::{Acceptance, MessageSender, OutgoingMail, SendError};
use crate::retry::Backoff;
use crate::service::{ServiceError, grant_reward};
use crate::store::{Claim, MessageStore, ReferralCodeStore, RewardStore, StoreError};

/// What delivery needs beyond the decision.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    pub shop_name: String,
    /// The From header, e.g. `Chai & Co <hello@chai.example>`.
    pub from: String,
    /// Where the API is reachable from the internet, for unsubscribe links.
    pub public_base_url: String,
    /// Signs unsubscribe links; mail is sent only when they are known.
    pub unsubscribe_keys: Option<std::sync::Arc<crate::auth::keys::UnsubscribeKeys>>,
    pub coupon_valid_days: i64,
    /// Points a written review earns, quoted in review requests.
    pub review_points: i64,
    /// How-to content for products.
    pub tips: Vec<Tip>,
    /// The program's reward catalogue, for the reminder that points lapse, and the
    /// months without an order after which they do.
    pub rewards: Vec<Reward>,
    pub points_expiry_months: Option<u32>,
    /// The festival calendar, to name a greeting's festival.
    pub festivals: Vec<Festival>,
    /// The merchant's own words for mail.
    pub wording: Wording,
    /// Tries per message when SES throttles.
    pub max_send_attempts: u32,
    /// How long a `sending` claim may stay without an outcome before a later run treats
    /// it as in doubt. Longer than any live run keeps a message between claim and record.
    pub claim_lease: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Delivered {
    Sent(MessageRecord),
    HeldOut(MessageRecord),
    /// SES refused it; recorded as failed for a later run.
    Failed(MessageRecord),
    /// SES takes no more mail for now (the daily quota is used up, or sending is
    /// paused); recorded as failed, so a later run sends it. The run sends nothing more.
    Stopped(MessageRecord),
    /// The customer was erased while the run was under way: nothing was recorded, and
    /// nothing sent.
    Erased,
    /// Sent, being sent or held out by an earlier or concurrent run: that run's record.
    AlreadyDone(Box<MessageRecord>),
}

#[derive(Debug, Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The message's reward could not be credited; the claim stays in doubt and a later
    /// run credits (once) and sends.
    #[error("crediting the reward: {0}")]
    Reward(#[from] ServiceError),
    /// The customer's referral code, which the message quotes, could not be created; a
    /// later run tries again.
    #[error("creating the referral code: {0}")]
    ReferralCode(ServiceError),
    /// The delivery log could not be asked about an in-doubt claim; a later run asks again.
    #[error("asking the delivery log: {0}")]
    DeliveryLog(#[from] SendError),
    /// The rules never send to a customer without an address; this guards the call.
    #[error("the customer has no email address")]
    NoAddress,
    /// Marketing mail carries an unsubscribe link, so none goes without its key.
    #[error("no unsubscribe key is configured (RAPPORT_UNSUBSCRIBE_KEYS)")]
    NoUnsubscribeKey,
    /// The stored address is not one valid address (stored before addresses were
    /// checked as strictly as now); it is not mailed.
    #[error("the stored email address is not a single valid address")]
    InvalidAddress,
}

/// A coupon code that is the same every time this message is built, so a retried send
/// quotes the code already claimed.
/// Most tips one mail carries.
const MAX_TIPS_PER_MAIL: usize = 6;

fn coupon_code(customer: &str, kind: MessageKind, period: &str) -> String {
    let digest = Sha256::digest(format!("coupon|{customer}|{kind}|{period}").as_bytes());
    format!("RW-{}", readable_code(&digest, 10))
}

/// The name, in the customer's language, of the festival a greeting is for: the
/// period is `<festival id>:<date>`.
fn festival_name(
    profile: &Profile,
    planned: &Planned,
    settings: &DeliverySettings,
) -> Option<String> {
    if planned.kind != MessageKind::Festival {
        return None;
    }
    let (id, _) = planned.period.split_once(':')?;
    let language = language_for(profile.locale.as_ref().map(|l| l.as_str()));
    let festival = settings.festivals.iter().find(|f| f.id == id)?;
    Some(festival.name_in(language).to_owned())
}

fn message_data(
    profile: &Profile,
    planned: &Planned,
    settings: &DeliverySettings,
    unsubscribe_keys: &crate::auth::keys::UnsubscribeKeys,
    coupon: Option<(&str, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> MessageData {
    let order = profile.last_order.as_ref();
    let points = match planned.kind {
        MessageKind::Birthday
        | MessageKind::Anniversary
        | MessageKind::MakeGood
        | MessageKind::Festival => Some(planned.reward_points).filter(|p| *p > 0),
        MessageKind::ReviewRequest => Some(settings.review_points),
        MessageKind::ReferralReward => Some(profile.points_balance + profile.points_pending),
        MessageKind::PointsExpiring | MessageKind::Welcome => Some(profile.points_balance),
        _ => None,
    };
    // The spend gift a gift's announcement is about: the period is `<gift id>:<window>`.
    let granted = planned
        .period
        .split_once(':')
        .filter(|_| planned.kind == MessageKind::SpendGift)
        .and_then(|(id, _)| profile.gifts.get(id));
    let lapses_on = settings
        .points_expiry_months
        .and_then(|months| profile.points_expire_at(months))
        .filter(|_| planned.kind == MessageKind::PointsExpiring);
    // The rewards this customer may redeem now.
    let on_offer = settings.rewards.iter().filter(|r| {
        let times = profile.rewards_redeemed.get(&r.id).copied().unwrap_or(0);
        r.refusal(&profile.tier, times, now).is_none()
    });
    let mut rewards: Vec<&crate::domain::program::Reward> = match planned.kind {
        // What the balance buys today, dearest first: what the customer would lose.
        MessageKind::PointsExpiring if lapses_on.is_some() => {
            let mut affordable: Vec<_> = on_offer
                .filter(|r| r.points <= profile.points_balance)
                .collect();
            affordable.sort_by_key(|r| std::cmp::Reverse(r.points));
            affordable
        }
        // What points buy, cheapest first: the first goal in reach.
        MessageKind::Welcome => {
            let mut all: Vec<_> = on_offer.collect();
            all.sort_by_key(|r| r.points);
            all
        }
        _ => Vec::new(),
    };
    rewards.truncate(5);
    let rewards = rewards
        .into_iter()
        .map(|r| RewardLine {
            name: r.name.clone(),
            points: r.points,
        })
        .collect();
    MessageData {
        shop: settings.shop_name.clone(),
        first_name: profile.first_name.as_ref().map(|n| n.as_str().to_owned()),
        festival: festival_name(profile, planned, settings),
        gift: granted.map(|g| g.reward.clone()),
        recommendations: planned.recommendations.clone(),
        // A reminder's period is `<sku>:<due day>`.
        product: (planned.kind == MessageKind::Replenishment)
            .then(|| planned.period.split_once(':'))
            .flatten()
            .map(|(sku, _)| {
                let named = profile.sku_history.iter().find(|(s, _)| s.as_str() == sku);
                named
                    .and_then(|(_, h)| h.name.as_ref())
                    .map_or_else(|| sku.to_owned(), |n| n.as_str().to_owned())
            }),
        unsubscribe_url: crate::auth::unsubscribe::url(
            &settings.public_base_url,
            unsubscribe_keys,
            &profile.customer_id,
        ),
        // The apology is about the order of the low rating.
        order_id: match (planned.kind, &profile.service_recovery) {
            (MessageKind::MakeGood, Some(flag)) => Some(flag.order_id.to_string()),
            _ => order.map(|o| o.order_id.to_string()),
        },
        discount_pct: planned.offer.map(|o| o.discount_pct),
        coupon_code: coupon
            .map(|(c, _)| c.to_owned())
            .or_else(|| granted.map(|g| g.coupon_code.clone())),
        expires: coupon
            .map(|(_, at)| at)
            .or(lapses_on)
            .or(granted.map(|g| g.expires_at))
            .map(|at| at.date_naive().to_string()),
        points,
        tier: Some(profile.tier.to_string()),
        years: profile.first_purchase_at.map(|f| now.year() - f.year()),
        referral_code: profile.referral_code.clone(),
        // Each tip once, in catalogue order, for the products of the latest order.
        tips: order
            .map(|o| {
                settings
                    .tips
                    .iter()
                    .filter(|t| o.skus.iter().any(|s| t.covers(s.as_str())))
                    .take(MAX_TIPS_PER_MAIL)
                    .map(|t| TipView {
                        title: t.title.clone(),
                        text: t.text.clone(),
                        link: t.link.clone(),
                        video_url: t.video_url.clone(),
                        thumbnail_url: t.thumbnail(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        rewards,
    }
}

/// Renders, claims and sends (or holds out) `planned` for `profile`.
pub async fn deliver<
    S: MessageStore + RewardStore + ReferralCodeStore + ?Sized,
    M: MessageSender + ?Sized,
>(
    store: &S,
    sender: &M,
    settings: &DeliverySettings,
    profile: &Profile,
    planned: &Planned,
    held_out: bool,
    now: DateTime<Utc>,
) -> Result<Delivered, DeliveryError> {
    let status = if held_out {
        MessageStatus::HeldOut
    } else {
        MessageStatus::Sending
    };
    let mut record = MessageRecord::new(&profile.customer_id, planned, status, now);
    let coupon = planned.offer.map(|_| {
        let code = coupon_code(profile.customer_id.as_str(), planned.kind, &planned.period);
        (code, now + Duration::days(settings.coupon_valid_days))
    });
    if let Some((code, expires)) = &coupon {
        record.coupon_code = Some(code.clone());
        record.coupon_expires_at = Some(*expires);
    }
    let email = match (&profile.email, held_out) {
        (_, true) => None,
        // Checked again: an address stored before the check was as strict as now could
        // name more than one recipient.
        (Some(email), false) => {
            Some(Email::parse("email", email.as_str()).map_err(|_| DeliveryError::InvalidAddress)?)
        }
        (None, false) => return Err(DeliveryError::NoAddress),
    };
    let mail = match &email {
        Some(to) => {
            let keys = settings
                .unsubscribe_keys
                .as_deref()
                .ok_or(DeliveryError::NoUnsubscribeKey)?;
            let mut data = message_data(
                profile,
                planned,
                settings,
                keys,
                coupon.as_ref().map(|(c, e)| (c.as_str(), *e)),
                now,
            );
            // A message that asks the customer to share their code creates it first
            // (once; a concurrent creation answers the same code).
            let shares_code = matches!(
                planned.kind,
                MessageKind::ReferralAsk | MessageKind::WelcomeReferral
            );
            if shares_code && data.referral_code.is_none() {
                let code = crate::service::referral_code(store, &profile.customer_id, now)
                    .await
                    .map_err(DeliveryError::ReferralCode)?;
                data.referral_code = Some(code);
            }
            let locale = profile.locale.as_ref().map(|l| l.as_str());
            let rendered = render(planned.kind, locale, &data, &settings.wording)?;
            tracing::debug!(customer = %profile.customer_id, kind = %planned.kind, lang = language_for(locale), "rendered");
            Some(OutgoingMail {
                from: settings.from.clone(),
                to: to.clone(),
                subject: rendered.subject,
                html: rendered.html,
                text: rendered.text,
                unsubscribe_url: data.unsubscribe_url,
                message_key: format!(
                    "{}|{}|{}",
                    profile.customer_id, planned.kind, planned.period
                ),
            })
        }
        None => None,
    };

    match store.claim_message(&record).await? {
        Claim::Claimed => {}
        Claim::Erased => return Ok(Delivered::Erased),
        Claim::Taken(stale)
            if stale.status == MessageStatus::Sending
                && now - stale.updated_at >= settings.claim_lease =>
        {
            let Some(mail) = &mail else {
                return Ok(Delivered::AlreadyDone(stale));
            };
            match sender.accepted(mail, stale.updated_at).await? {
                Acceptance::Accepted(id) => {
                    let mut confirmed = *stale;
                    confirmed.status = MessageStatus::Sent;
                    confirmed.message_id = Some(id);
                    confirmed.updated_at = now;
                    store.finish_message(&confirmed).await?;
                    return Ok(Delivered::AlreadyDone(Box::new(confirmed)));
                }
                answer => {
                    if answer == Acceptance::Unknown {
                        tracing::warn!(customer = %profile.customer_id, kind = %planned.kind, "claim in doubt and the sender cannot tell; sending again");
                    }
                    record.attempts = stale.attempts + 1;
                    match store.reclaim_message(&stale, &record).await? {
                        Claim::Claimed => {}
                        Claim::Taken(other) => return Ok(Delivered::AlreadyDone(other)),
                        Claim::Erased => return Ok(Delivered::Erased),
                    }
                }
            }
        }
        Claim::Taken(existing) => return Ok(Delivered::AlreadyDone(existing)),
    }
    let Some(mail) = mail else {
        return Ok(Delivered::HeldOut(record));
    };

    // The reward is credited before the greeting that announces it goes out; the key
    // makes it once per message however often the message is retried.
    if record.reward_points > 0 {
        let key = format!(
            "reward:{}:{}:{}",
            profile.customer_id, planned.kind, planned.period
        );
        grant_reward(store, &profile.customer_id, record.reward_points, &key, now).await?;
    }
    let mut backoff = Backoff::new(
        std::time::Duration::from_millis(100),
        std::time::Duration::from_millis(6_400),
        settings.max_send_attempts,
    );
    let outcome = loop {
        match sender.send(&mail).await {
            Ok(id) => break Ok(id),
            Err(SendError::Throttled(e)) => {
                tracing::debug!(error = %e, attempt = backoff.attempts_made() + 1, "throttled; backing off");
                if !backoff.wait().await {
                    break Err(SendError::Throttled(e));
                }
            }
            // A rejection, or a used-up quota: trying again within the run cannot help.
            Err(e) => break Err(e),
        }
    };
    record.updated_at = Utc::now();
    let delivered = match outcome {
        Ok(id) => {
            record.status = MessageStatus::Sent;
            record.message_id = Some(id);
            Delivered::Sent(record.clone())
        }
        Err(e) => {
            record.status = MessageStatus::Failed;
            record.error = Some(e.to_string());
            match e {
                SendError::QuotaExceeded(_) => Delivered::Stopped(record.clone()),
                _ => Delivered::Failed(record.clone()),
            }
        }
    };
    store.finish_message(&record).await?;
    Ok(delivered)
}
