//! The outreach rules, one case per rule: triggers, consent (every kind after an
//! unsubscribe), suppression, service recovery and its expiry, frequency caps, quiet
//! hours, the control group and periods.

use chrono::Duration;
use rapport_integration::at;
use rapport_shared::domain::OrderSummary;
use rapport_shared::domain::outreach::festivals::Festival;
use rapport_shared::domain::outreach::replenish::SkuHistory;
use rapport_shared::domain::outreach::tips::Tip;
use rapport_shared::domain::outreach::{
    CustomerContext, Decision, MakeGood, MessageKind, OutreachRules, PastMessage, Population,
    SuppressReason, candidates, decide, held_out,
};
use rapport_shared::domain::profile::GiftGrant;
use rapport_shared::domain::{
    Birthday, CustomerId, CustomerScores, Email, OrderId, Profile, ServiceRecovery, Sku, Tier,
};
use rapport_shared::domain::{Locale, Segment};

/// Noon UTC: outside quiet hours for a UTC customer.
const NOW: &str = "2026-11-22T12:00:00Z";

fn customer(id: &str) -> Profile {
    let mut p = Profile::new(
        CustomerId::parse("id", id).unwrap(),
        Tier("bronze".into()),
        at("2025-01-01T00:00:00Z"),
    );
    p.email = Some(Email::parse("email", "c@example.com").unwrap());
    p.set_marketing_consent(true, "test".into(), at("2025-01-01T00:00:00Z"));
    p.first_purchase_at = Some(at("2025-03-10T10:00:00Z"));
    p
}

fn with_order(mut p: Profile, days_ago: i64) -> Profile {
    p.last_order = Some(OrderSummary {
        order_id: OrderId::parse("o", "o-1").unwrap(),
        placed_at: at(NOW) - Duration::days(days_ago),
        skus: vec![Sku::parse("s", "TEA").unwrap()],
    });
    p
}

fn scores(p: &Profile, churn: f64, clv: i64) -> CustomerScores {
    CustomerScores {
        customer_id: p.customer_id.clone(),
        churn_risk: churn,
        p_alive: 1.0 - churn,
        expected_purchases: 1.0,
        clv_minor: clv,
        segment: rapport_shared::domain::Segment::Active,
        horizon_weeks: 52.0,
        model_version: "t".into(),
        scored_at: at(NOW),
        next_order_on: None,
        p_order_in_horizon: None,
    }
}

const POP: Population = Population {
    vip_clv_minor: 50_000,
    median_clv_minor: 5_000,
};

/// A festival on [`NOW`]'s date for Tagalog speakers.
fn harvest() -> Festival {
    Festival {
        id: "harvest".into(),
        name: "Harvest".into(),
        names: Default::default(),
        languages: vec!["tl".into()],
        segments: Vec::new(),
        dates: vec!["2025-11-22".parse().unwrap(), "2026-11-22".parse().unwrap()],
        bonus_points: 20,
    }
}

fn rules() -> OutreachRules {
    OutreachRules {
        holdout_pct: 0,
        expiry_months: Some(12),
        make_good: Some(MakeGood::Points { points: 100 }),
        festivals: vec![harvest()],
        tips: vec![Tip::line(
            &Sku::parse("s", "TEA").unwrap(),
            "Steep it for three minutes".into(),
        )],
        ..OutreachRules::default()
    }
}

fn run(
    p: &Profile,
    s: Option<&CustomerScores>,
    history: &[PastMessage],
    suppressed: bool,
) -> Decision {
    // The shop buys TEA again every 30 days.
    let rhythms = [(Sku::parse("s", "TEA").unwrap(), 30.0)].into();
    let ctx = CustomerContext {
        profile: p,
        scores: s,
        history,
        address_suppressed: suppressed,
        rhythms: &rhythms,
        co_purchases: &Default::default(),
    };
    decide(&ctx, &POP, &rules(), at(NOW))
}

fn sent_kind(d: &Decision) -> Option<MessageKind> {
    match d {
        Decision::Send(p) => Some(p.kind),
        _ => None,
    }
}

#[test]
fn a_drifting_valuable_customer_gets_a_win_back_offer_within_the_cap() {
    let p = customer("c1");
    let s = scores(&p, 0.8, 20_000);
    let Decision::Send(planned) = run(&p, Some(&s), &[], false) else {
        panic!("expected a send")
    };
    assert_eq!(planned.kind, MessageKind::WinBack);
    let offer = planned.offer.unwrap();
    assert!((5..=20).contains(&offer.discount_pct), "{offer:?}");
    assert_eq!(offer.max_value_minor, 5_000);
    // Worth less than the median, or not drifting: no win-back.
    assert_eq!(
        run(&p, Some(&scores(&p, 0.8, 1_000)), &[], false),
        Decision::Nothing
    );
    assert_eq!(
        run(&p, Some(&scores(&p, 0.2, 20_000)), &[], false),
        Decision::Nothing
    );
}

#[test]
fn the_pareto_top_gets_appreciation_not_discounts() {
    let p = customer("c1");
    let d = run(&p, Some(&scores(&p, 0.1, 80_000)), &[], false);
    let Decision::Send(planned) = d else {
        panic!("{d:?}")
    };
    assert_eq!(
        (planned.kind, planned.offer),
        (MessageKind::VipAppreciation, None)
    );
}

#[test]
fn orders_trigger_tips_then_a_check_in_then_a_review_request() {
    let tips = run(&with_order(customer("c1"), 3), None, &[], false);
    assert_eq!(sent_kind(&tips), Some(MessageKind::ProductTips));
    let check_in = run(&with_order(customer("c1"), 7), None, &[], false);
    assert_eq!(sent_kind(&check_in), Some(MessageKind::PostPurchase));
    let review = run(&with_order(customer("c1"), 15), None, &[], false);
    assert_eq!(sent_kind(&review), Some(MessageKind::ReviewRequest));
    let mut reviewed = with_order(customer("c1"), 15);
    reviewed
        .reviewed_skus
        .insert(Sku::parse("s", "TEA").unwrap());
    assert_eq!(run(&reviewed, None, &[], false), Decision::Nothing);
}

#[test]
fn birthdays_greet_and_reward_only_established_birthdays() {
    let mut p = customer("c1");
    p.birthday = Some(Birthday::parse("b", "11-22").unwrap());
    p.birthday_set_at = Some(at(NOW) - Duration::days(200));
    let Decision::Send(planned) = run(&p, None, &[], false) else {
        panic!()
    };
    assert_eq!(
        (planned.kind, planned.reward_points),
        (MessageKind::Birthday, 100)
    );
    p.birthday_set_at = Some(at(NOW) - Duration::days(10));
    let Decision::Send(planned) = run(&p, None, &[], false) else {
        panic!()
    };
    assert_eq!(
        (planned.kind, planned.reward_points),
        (MessageKind::Birthday, 0)
    );
    // A leap-day birthday is greeted on 28 February in other years.
    let mut leap = customer("c2");
    leap.birthday = Some(Birthday::parse("b", "02-29").unwrap());
    let ctx = CustomerContext {
        profile: &leap,
        scores: None,
        history: &[],
        address_suppressed: false,
        rhythms: &Default::default(),
        co_purchases: &Default::default(),
    };
    let kinds: Vec<_> = candidates(&ctx, &POP, &rules(), at("2027-02-28T12:00:00Z"))
        .into_iter()
        .map(|c| c.kind)
        .collect();
    assert_eq!(kinds, vec![MessageKind::Birthday]);
}

#[test]
fn anniversaries_count_from_the_first_purchase() {
    let mut p = customer("c1");
    p.first_purchase_at = Some(at("2024-11-22T08:00:00Z"));
    let Decision::Send(planned) = run(&p, None, &[], false) else {
        panic!()
    };
    assert_eq!(planned.kind, MessageKind::Anniversary);
    assert!(planned.reason.contains("2 years"), "{}", planned.reason);
    assert_eq!(
        planned.reward_points, 0,
        "no gift unless the program gives one"
    );
    let generous = OutreachRules {
        anniversary_points: 75,
        ..rules()
    };
    let ctx = CustomerContext {
        profile: &p,
        scores: None,
        history: &[],
        address_suppressed: false,
        rhythms: &Default::default(),
        co_purchases: &Default::default(),
    };
    let Decision::Send(gift) = decide(&ctx, &POP, &generous, at(NOW)) else {
        panic!()
    };
    assert_eq!(gift.reward_points, 75);
}

#[test]
fn points_about_to_lapse_get_one_reminder_per_reminder_day_and_an_order_cancels_them() {
    let mut p = customer("c1");
    p.points_balance = 250;
    // 12 months after an order on 2025-12-20 is 2026-12-20, 28 days after NOW.
    p.last_purchase_at = Some(at("2025-12-20T12:00:00Z"));
    let Decision::Send(first) = run(&p, None, &[], false) else {
        panic!("the 30-day reminder is due")
    };
    assert_eq!(first.kind, MessageKind::PointsExpiring);
    assert_eq!(first.period, "2026-12-20-30d");
    assert!(first.reason.contains("250 points"), "{}", first.reason);
    // Sent: not again for the same date and reminder.
    let sent = sent(
        MessageKind::PointsExpiring,
        first.period.clone(),
        Duration::days(8),
    );
    assert_eq!(
        run(&p, None, std::slice::from_ref(&sent), false),
        Decision::Nothing
    );
    // Five days before the date, the 7-day reminder.
    p.last_purchase_at = Some(at("2025-11-27T12:00:00Z"));
    let Decision::Send(second) = run(&p, None, &[], false) else {
        panic!("the 7-day reminder is due")
    };
    assert_eq!(second.period, "2026-11-27-7d");
    // An order moves the date a year on: nothing to remind of.
    p.last_purchase_at = Some(at(NOW) - Duration::days(30));
    assert_eq!(run(&p, None, &[], false), Decision::Nothing);
    // Nothing to lose, or no expiry in the program: no reminder.
    p.last_purchase_at = Some(at("2025-11-27T12:00:00Z"));
    p.points_balance = 0;
    assert_eq!(run(&p, None, &[], false), Decision::Nothing);
    p.points_balance = 250;
    p.set_marketing_consent(false, "unsubscribe".into(), at(NOW));
    assert_eq!(
        run(&p, None, &[], false),
        Decision::Suppressed {
            kind: MessageKind::PointsExpiring,
            reason: SuppressReason::NoConsent
        }
    );
}

/// A service-recovery flag raised `hours` ago over a 2-star review.
fn flag(hours: i64) -> ServiceRecovery {
    ServiceRecovery {
        opened_at: at(NOW) - Duration::hours(hours),
        sku: Sku::parse("sku", "TEA").unwrap(),
        order_id: OrderId::parse("order", "o-1").unwrap(),
        rating: 2,
    }
}

#[test]
fn a_low_rating_gets_one_apology_with_its_make_good_within_two_days() {
    let mut p = customer("c1");
    p.service_recovery = Some(flag(3));
    let Decision::Send(apology) = run(&p, None, &[], false) else {
        panic!("the apology is due")
    };
    assert_eq!(apology.kind, MessageKind::MakeGood);
    assert_eq!(apology.reward_points, 100);
    assert!(
        apology.reason.contains("2-star review of TEA"),
        "{}",
        apology.reason
    );
    // Not to the same flag twice; not once two days have passed.
    let sent = sent(
        MessageKind::MakeGood,
        apology.period.clone(),
        Duration::hours(1),
    );
    assert_eq!(
        run(&p, None, std::slice::from_ref(&sent), false),
        Decision::Nothing
    );
    p.service_recovery = Some(flag(49));
    assert!(
        !matches!(run(&p, None, &[], false), Decision::Send(ref m) if m.kind == MessageKind::MakeGood)
    );
    // Without a make-good in the program, support's alert is all.
    let quiet = OutreachRules {
        make_good: None,
        ..rules()
    };
    p.service_recovery = Some(flag(3));
    let ctx = CustomerContext {
        profile: &p,
        scores: None,
        history: &[],
        address_suppressed: false,
        rhythms: &Default::default(),
        co_purchases: &Default::default(),
    };
    assert!(
        !matches!(decide(&ctx, &POP, &quiet, at(NOW)), Decision::Send(ref m) if m.kind == MessageKind::MakeGood)
    );
    // A coupon instead of points: a percent-off offer.
    let coupon = OutreachRules {
        make_good: Some(MakeGood::PercentOff {
            percent: 15,
            max_value_minor: 2_000,
        }),
        ..rules()
    };
    let Decision::Send(with_coupon) = decide(&ctx, &POP, &coupon, at(NOW)) else {
        panic!("the apology is due")
    };
    assert_eq!(with_coupon.offer.map(|o| o.discount_pct), Some(15));
}

#[test]
fn festivals_greet_on_their_date_the_customers_whose_language_and_segment_fit() {
    let mut p = customer("c1");
    p.locale = Some(Locale::parse("l", "tl").unwrap());
    let Decision::Send(greeting) = run(&p, None, &[], false) else {
        panic!("the greeting is due")
    };
    assert_eq!(greeting.kind, MessageKind::Festival);
    assert_eq!(greeting.period, "harvest:2026-11-22");
    assert_eq!(greeting.reward_points, 20);
    // Once a year; not to other languages; not on another day.
    let sent = sent(
        MessageKind::Festival,
        greeting.period.clone(),
        Duration::hours(1),
    );
    assert_eq!(
        run(&p, None, std::slice::from_ref(&sent), false),
        Decision::Nothing
    );
    let mut english = p.clone();
    english.locale = None;
    assert_eq!(run(&english, None, &[], false), Decision::Nothing);
    let ctx = CustomerContext {
        profile: &p,
        scores: None,
        history: &[],
        address_suppressed: false,
        rhythms: &Default::default(),
        co_purchases: &Default::default(),
    };
    let tomorrow = at(NOW) + Duration::days(1);
    assert_eq!(decide(&ctx, &POP, &rules(), tomorrow), Decision::Nothing);
    // A festival for VIPs only passes over a customer without that segment.
    let vip_only = OutreachRules {
        festivals: vec![Festival {
            segments: vec![Segment::Vip],
            ..harvest()
        }],
        ..rules()
    };
    assert_eq!(decide(&ctx, &POP, &vip_only, at(NOW)), Decision::Nothing);
    let vip = CustomerScores {
        segment: Segment::Vip,
        ..scores(&p, 0.1, 80_000)
    };
    let with_scores = CustomerContext {
        scores: Some(&vip),
        ..ctx
    };
    assert!(
        candidates(&with_scores, &POP, &vip_only, at(NOW))
            .iter()
            .any(|c| c.kind == MessageKind::Festival)
    );
}

/// A message of `kind` for `period`, sent `ago` before [`NOW`].
fn sent(kind: MessageKind, period: impl Into<String>, ago: Duration) -> PastMessage {
    PastMessage {
        kind,
        period: period.into(),
        at: at(NOW) - ago,
        held_out: false,
    }
}

/// The welcome, sent `days` ago.
fn welcomed(days: i64) -> PastMessage {
    sent(MessageKind::Welcome, "once", Duration::days(days))
}

#[test]
fn new_customers_are_welcomed_then_given_their_code_unless_they_ordered_again() {
    let mut p = customer("c1");
    p.created_at = at(NOW) - Duration::days(1);
    p.first_purchase_at = None;
    assert_eq!(
        sent_kind(&run(&p, None, &[], false)),
        Some(MessageKind::Welcome)
    );
    // Welcomed once: not again.
    assert_eq!(run(&p, None, &[welcomed(0)], false), Decision::Nothing);
    // A first order yesterday is new too; history imported from long ago is not.
    p.first_purchase_at = Some(at(NOW) - Duration::days(1));
    assert_eq!(
        sent_kind(&run(&p, None, &[], false)),
        Some(MessageKind::Welcome)
    );
    p.first_purchase_at = Some(at("2024-05-01T00:00:00Z"));
    assert_eq!(run(&p, None, &[], false), Decision::Nothing);
    // A week after the welcome, the code; not while the cap still counts the welcome,
    // not once the moment has passed, and not to a customer who ordered again.
    let mut later = customer("c2");
    later.orders = 1;
    assert_eq!(
        sent_kind(&run(&later, None, &[welcomed(8)], false)),
        Some(MessageKind::WelcomeReferral)
    );
    assert_eq!(run(&later, None, &[welcomed(5)], false), Decision::Nothing);
    assert_eq!(run(&later, None, &[welcomed(30)], false), Decision::Nothing);
    later.orders = 2;
    assert_eq!(run(&later, None, &[welcomed(8)], false), Decision::Nothing);
    // A held-out welcome keeps its control customer out of the series.
    let held = PastMessage {
        held_out: true,
        ..welcomed(8)
    };
    later.orders = 1;
    assert_eq!(run(&later, None, &[held], false), Decision::Nothing);
}

/// `p` with a tier change a day ago: a notice of the account, not marketing.
fn with_new_tier(mut p: Profile) -> Profile {
    p.tier = Tier("silver".into());
    p.tier_changed_at = Some(at(NOW) - Duration::days(1));
    p
}

#[test]
fn marketing_needs_consent_but_account_notices_do_not() {
    let mut p = with_order(customer("c1"), 15); // a review request is marketing
    p.set_marketing_consent(false, "unsubscribe".into(), at(NOW));
    assert_eq!(
        run(&p, None, &[], false),
        Decision::Suppressed {
            kind: MessageKind::ReviewRequest,
            reason: SuppressReason::NoConsent
        }
    );
    // A post-purchase check-in asks how the order went: marketing too.
    assert_eq!(
        run(&with_order(p.clone(), 7), None, &[], false),
        Decision::Suppressed {
            kind: MessageKind::PostPurchase,
            reason: SuppressReason::NoConsent
        }
    );
    let notice = with_new_tier(with_order(p, 7));
    assert_eq!(
        sent_kind(&run(&notice, None, &[], false)),
        Some(MessageKind::TierChange)
    );
}

/// A customer for whom `kind`, and nothing else, is due at [`NOW`], with the scores
/// that make it due.
fn due(kind: MessageKind) -> (Profile, Option<CustomerScores>, Vec<PastMessage>) {
    let mut p = customer("c1");
    p.first_purchase_at = Some(at("2026-03-10T10:00:00Z"));
    let mut s = None;
    match kind {
        MessageKind::WinBack => s = Some(scores(&p, 0.8, 20_000)),
        MessageKind::VipAppreciation => s = Some(scores(&p, 0.1, 80_000)),
        MessageKind::PostPurchase => p = with_order(p, 7),
        MessageKind::ReviewRequest => p = with_order(p, 15),
        MessageKind::ProductTips => p = with_order(p, 3),
        MessageKind::Birthday => p.birthday = Some(Birthday::parse("b", "11-22").unwrap()),
        MessageKind::Anniversary => p.first_purchase_at = Some(at("2024-11-22T08:00:00Z")),
        MessageKind::TierChange => p = with_new_tier(p),
        MessageKind::ReferralReward => {
            p.referral_rewarded_at = Some(at(NOW) - Duration::days(2));
        }
        MessageKind::ReferralAsk => p.referral_ask = true,
        MessageKind::PointsExpiring => {
            p.points_balance = 250;
            p.last_purchase_at = Some(at(NOW) - Duration::days(350));
        }
        MessageKind::Welcome => {
            p.created_at = at(NOW) - Duration::days(1);
            p.first_purchase_at = None;
        }
        MessageKind::WelcomeReferral => {
            return (p, s, vec![welcomed(8)]);
        }
        MessageKind::MakeGood => p.service_recovery = Some(flag(2)),
        MessageKind::Festival => p.locale = Some(Locale::parse("l", "fil-PH").unwrap()),
        MessageKind::Replenishment => {
            let bought = (at(NOW) - Duration::days(29)).date_naive();
            p.sku_history.insert(
                Sku::parse("s", "TEA").unwrap(),
                SkuHistory {
                    first: bought,
                    last: bought,
                    days: 1,
                    name: None,
                },
            );
        }
        MessageKind::SpendGift => {
            p.gifts.insert(
                "gift-300".into(),
                GiftGrant {
                    at: at(NOW) - Duration::hours(1),
                    window: "2026".into(),
                    coupon_code: "RG-ABC".into(),
                    expires_at: at(NOW) + Duration::days(60),
                    reward: "A tea sampler".into(),
                },
            );
        }
    }
    (p, s, Vec::new())
}

#[test]
fn after_the_one_click_unsubscribe_no_marketing_message_of_any_kind_goes() {
    for kind in MessageKind::ALL {
        let (mut p, s, history) = due(kind);
        assert_eq!(
            sent_kind(&run(&p, s.as_ref(), &history, false)),
            Some(kind),
            "{kind} is due"
        );
        p.set_marketing_consent(false, "unsubscribe".into(), at(NOW));
        let after = run(&p, s.as_ref(), &history, false);
        if kind.marketing() {
            assert_eq!(
                after,
                Decision::Suppressed {
                    kind,
                    reason: SuppressReason::NoConsent
                },
                "{kind}"
            );
        } else {
            assert_eq!(sent_kind(&after), Some(kind), "{kind}");
        }
    }
    // The kinds that still go are the account notices, and only those.
    let notices: Vec<_> = MessageKind::ALL
        .into_iter()
        .filter(|k| !k.marketing())
        .collect();
    assert_eq!(
        notices,
        [
            MessageKind::TierChange,
            MessageKind::ReferralReward,
            MessageKind::MakeGood,
            MessageKind::SpendGift
        ]
    );
}

#[test]
fn suppressed_or_missing_addresses_get_nothing() {
    let p = with_order(customer("c1"), 7);
    assert_eq!(
        run(&p, None, &[], true),
        Decision::Suppressed {
            kind: MessageKind::PostPurchase,
            reason: SuppressReason::AddressSuppressed
        }
    );
    let mut no_email = p.clone();
    no_email.email = None;
    assert_eq!(
        run(&no_email, None, &[], false),
        Decision::Suppressed {
            kind: MessageKind::PostPurchase,
            reason: SuppressReason::NoEmail
        }
    );
}

fn flagged(p: Profile, days_ago: i64) -> Profile {
    let mut p = p;
    p.service_recovery = Some(ServiceRecovery {
        opened_at: at(NOW) - Duration::days(days_ago),
        sku: Sku::parse("s", "TEA").unwrap(),
        order_id: OrderId::parse("o", "o-1").unwrap(),
        rating: 1,
    });
    p
}

#[test]
fn an_open_service_recovery_flag_pauses_marketing_only() {
    let p = flagged(with_order(customer("c1"), 15), 2);
    assert_eq!(
        run(&p, None, &[], false),
        Decision::Suppressed {
            kind: MessageKind::ReviewRequest,
            reason: SuppressReason::ServiceRecovery
        }
    );
    let notice = with_new_tier(p);
    assert_eq!(
        sent_kind(&run(&notice, None, &[], false)),
        Some(MessageKind::TierChange)
    );
}

#[test]
fn a_service_recovery_flag_lapses_when_the_api_says_it_does() {
    let expiry = rules().recovery_expiry_days;
    for days_ago in [expiry - 1, expiry, expiry + 1] {
        let mut p = flagged(with_order(customer("c1"), 15), days_ago);
        p.referral_ask = true;
        // The profile the API shows and the job's decision use the same function.
        let open = p.service_recovery_open(at(NOW), expiry);
        assert_eq!(open, days_ago < expiry, "{days_ago} days");
        let decision = run(&p, None, &[], false);
        if open {
            assert_eq!(
                decision,
                Decision::Suppressed {
                    kind: MessageKind::ReviewRequest,
                    reason: SuppressReason::ServiceRecovery
                },
                "{days_ago} days"
            );
        } else {
            assert_eq!(
                sent_kind(&decision),
                Some(MessageKind::ReviewRequest),
                "{days_ago} days"
            );
        }
    }
}

#[test]
fn the_frequency_cap_counts_sent_and_held_out_messages() {
    let p = with_order(customer("c1"), 7);
    let past = |days: i64, held_out: bool| PastMessage {
        kind: MessageKind::Birthday,
        period: format!("p{days}"),
        at: at(NOW) - Duration::days(days),
        held_out,
    };
    assert_eq!(
        run(&p, None, &[past(3, false)], false),
        Decision::Suppressed {
            kind: MessageKind::PostPurchase,
            reason: SuppressReason::FrequencyCap
        }
    );
    let four_in_a_month = [
        past(8, false),
        past(12, false),
        past(20, false),
        past(28, false),
    ];
    assert!(matches!(
        run(&p, None, &four_in_a_month, false),
        Decision::Suppressed {
            reason: SuppressReason::FrequencyCap,
            ..
        }
    ));
    // A held-out message takes its slot too, so the control group stays message-free.
    assert_eq!(
        run(&p, None, &[past(3, true)], false),
        Decision::Suppressed {
            kind: MessageKind::PostPurchase,
            reason: SuppressReason::FrequencyCap
        }
    );
    assert_eq!(
        sent_kind(&run(&p, None, &[past(8, false)], false)),
        Some(MessageKind::PostPurchase)
    );
}

#[test]
fn one_message_per_kind_and_period() {
    let p = with_order(customer("c1"), 7);
    let already = sent(MessageKind::PostPurchase, "o-1", Duration::days(40));
    assert_eq!(run(&p, None, &[already], false), Decision::Nothing);
}

#[test]
fn quiet_hours_defer_to_the_local_morning() {
    let mut p = with_order(customer("c1"), 7);
    p.timezone = Some("Asia/Kolkata".into()); // 12:00 UTC is 17:30 there: fine
    assert_eq!(
        sent_kind(&run(&p, None, &[], false)),
        Some(MessageKind::PostPurchase)
    );
    p.timezone = Some("Pacific/Auckland".into()); // 01:00 next day there: quiet
    let Decision::Defer { planned, until } = run(&p, None, &[], false) else {
        panic!()
    };
    assert_eq!(planned.kind, MessageKind::PostPurchase);
    assert_eq!(until, at("2026-11-22T20:00:00Z"), "09:00 NZDT");
}

#[test]
fn the_control_group_is_deterministic_and_near_its_share() {
    let n = 20_000;
    let held = (0..n)
        .filter(|i| held_out(&format!("c{i}"), MessageKind::WinBack, "2026-Q4", 10))
        .count();
    assert!((1_700..2_300).contains(&held), "{held} of {n}");
    assert_eq!(
        held_out("c1", MessageKind::WinBack, "2026-Q4", 10),
        held_out("c1", MessageKind::WinBack, "2026-Q4", 10)
    );
    assert!(!held_out("c1", MessageKind::WinBack, "2026-Q4", 0));
    assert!(held_out("c1", MessageKind::WinBack, "2026-Q4", 100));
    let p = with_order(customer("c1"), 7);
    let ctx = CustomerContext {
        profile: &p,
        scores: None,
        history: &[],
        address_suppressed: false,
        rhythms: &Default::default(),
        co_purchases: &Default::default(),
    };
    let all_held = OutreachRules {
        holdout_pct: 100,
        ..OutreachRules::default()
    };
    assert!(matches!(
        decide(&ctx, &POP, &all_held, at(NOW)),
        Decision::HoldOut(_)
    ));
}
