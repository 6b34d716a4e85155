//! The merchant's wording checked as templates when a program is saved: every string
//! parses, names only placeholders a message has, and keeps the placeholders the
//! message cannot do without — so nothing fails, or says less than it must, at send
//! time.

use minijinja::value::Serde;
use minijinja::{Environment, Value};

use super::render::{MessageData, RewardLine, Strings, catalogue, language};
use crate::domain::FieldError;
use crate::domain::outreach::MessageKind;
use crate::domain::program::Wording;

/// Placeholders a message cannot do without, so the merchant's wording must keep them.
fn required(kind: MessageKind) -> &'static [&'static str] {
    match kind {
        MessageKind::WinBack => &["discount_pct", "expires"],
        MessageKind::PointsExpiring => &["points", "expires"],
        MessageKind::ReferralAsk | MessageKind::WelcomeReferral => &["referral_code"],
        MessageKind::TierChange => &["tier"],
        MessageKind::Anniversary => &["years"],
        MessageKind::Festival => &["festival"],
        MessageKind::SpendGift => &["gift"],
        MessageKind::Replenishment => &["product"],
        MessageKind::VipAppreciation
        | MessageKind::PostPurchase
        | MessageKind::ReviewRequest
        | MessageKind::Birthday
        | MessageKind::ProductTips
        | MessageKind::ReferralReward
        | MessageKind::Welcome
        | MessageKind::MakeGood => &[],
    }
}

/// A message with every placeholder set to a value found nowhere else, so a rendering
/// shows which placeholders it used.
fn specimen() -> (MessageData, [(&'static str, String); 9]) {
    let data = MessageData {
        shop: "Specimen Shop".into(),
        first_name: Some("Specimen".into()),
        festival: Some("Festival-Specimen".into()),
        gift: Some("Gift-Specimen".into()),
        product: Some("Product-Specimen".into()),
        recommendations: Vec::new(),
        unsubscribe_url: "https://specimen.invalid/u".into(),
        order_id: Some("ORDER-SPECIMEN".into()),
        discount_pct: Some(37),
        coupon_code: Some("CODE-SPECIMEN".into()),
        expires: Some("2031-07-19".into()),
        points: Some(4321),
        tier: Some("tier-specimen".into()),
        years: Some(17),
        referral_code: Some("REF-SPECIMEN".into()),
        tips: Vec::new(),
        rewards: vec![RewardLine {
            name: "reward".into(),
            points: 1,
        }],
    };
    let markers: [(&str, String); 9] = [
        ("product", "Product-Specimen".to_owned()),
        ("gift", "Gift-Specimen".to_owned()),
        ("festival", "Festival-Specimen".to_owned()),
        ("discount_pct", "37".to_owned()),
        ("expires", "2031-07-19".to_owned()),
        ("points", "4321".to_owned()),
        ("tier", "tier-specimen".to_owned()),
        ("years", "17".to_owned()),
        ("referral_code", "REF-SPECIMEN".to_owned()),
    ];
    (data, markers)
}

/// What is wrong with the merchant's wording as templates, each with its path: a string
/// that does not parse, a placeholder no message has, a placeholder the message needs
/// that the wording lost. Checked when a program is saved, so nothing fails at send time.
pub fn wording_problems(wording: &Wording) -> Vec<FieldError> {
    let mut problems = Vec::new();
    let Ok(catalogue) = catalogue() else {
        return vec![FieldError::new("wording", "cannot be checked now")];
    };
    let mut strict = Environment::new();
    strict.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let (data, markers) = specimen();
    let values = Value::from(Serde(&data));
    for (code, kinds) in wording {
        let Some(lang) = language(catalogue, code) else {
            continue;
        };
        for (slug, own) in kinds {
            let Some(kind) = MessageKind::from_slug(slug) else {
                continue;
            };
            let Some(shipped) = lang.messages.get(slug) else {
                continue;
            };
            let at = format!("wording.{code}.{slug}");
            let mut fields = vec![("subject".to_owned(), own.subject.as_deref())];
            fields.push(("heading".to_owned(), own.heading.as_deref()));
            for (n, line) in own.lines.iter().flatten().enumerate() {
                fields.push((format!("lines[{n}]"), Some(line.as_str())));
            }
            let mut sound = true;
            for (field, text) in fields {
                let Some(text) = text else { continue };
                if let Err(e) = strict.render_str(text, values.clone()) {
                    sound = false;
                    let reason = match e.kind() {
                        minijinja::ErrorKind::UndefinedError => {
                            "uses a placeholder this message does not have".to_owned()
                        }
                        _ => format!(
                            "is not a valid template: {}",
                            e.detail().unwrap_or("syntax error")
                        ),
                    };
                    problems.push(FieldError::new(format!("{at}.{field}"), reason));
                }
            }
            if !sound {
                continue;
            }
            let strings = Strings::of(shipped, Some(own));
            let mut rendered = String::new();
            for text in [strings.subject, strings.heading]
                .into_iter()
                .chain(strings.lines.iter().map(String::as_str))
            {
                rendered.push_str(&strict.render_str(text, values.clone()).unwrap_or_default());
                rendered.push('\n');
            }
            for name in required(kind) {
                let shown = markers
                    .iter()
                    .find(|(n, _)| n == name)
                    .is_some_and(|(_, marker)| rendered.contains(marker.as_str()));
                if !shown {
                    problems.push(FieldError::new(
                        at.clone(),
                        format!("must show {{{{ {name} }}}} in its subject, heading or lines"),
                    ));
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::program::MessageWording;
    use crate::mail::render::render;

    fn data() -> MessageData {
        specimen().0
    }

    fn wording(lang: &str, kind: &str, own: MessageWording) -> Wording {
        [(lang.to_owned(), [(kind.to_owned(), own)].into())].into()
    }

    #[test]
    fn the_merchants_wording_replaces_only_what_it_names() {
        let own = wording(
            "en",
            "birthday",
            MessageWording {
                subject: Some("Many happy returns from {{ shop }}".into()),
                ..MessageWording::default()
            },
        );
        let r = render(MessageKind::Birthday, Some("en"), &data(), &own).unwrap();
        assert_eq!(r.subject, "Many happy returns from Specimen Shop");
        assert!(
            r.text.contains("Happy birthday!"),
            "heading kept: {}",
            r.text
        );
        // Other languages keep Rapport's words.
        let hi = render(MessageKind::Birthday, Some("hi"), &data(), &own).unwrap();
        assert!(hi.subject.contains("जन्मदिन"));
        assert!(wording_problems(&own).is_empty());
    }

    #[test]
    fn broken_templates_unknown_and_lost_placeholders_are_refused_with_their_path() {
        let bad = |lang: &str, kind: &str, own: MessageWording| {
            let problems = wording_problems(&wording(lang, kind, own));
            assert_eq!(problems.len(), 1, "{problems:?}");
            (problems[0].field.clone(), problems[0].reason.clone())
        };
        let (field, reason) = bad(
            "en",
            "win_back",
            MessageWording {
                subject: Some("{{ discount_pct }% off".into()),
                ..MessageWording::default()
            },
        );
        assert_eq!(field, "wording.en.win_back.subject");
        assert!(reason.starts_with("is not a valid template"), "{reason}");
        let (field, reason) = bad(
            "ur",
            "points_expiring",
            MessageWording {
                lines: Some(vec!["{{ points }} {{ expires }} {{ balance }}".into()]),
                ..MessageWording::default()
            },
        );
        assert_eq!(field, "wording.ur.points_expiring.lines[0]");
        assert!(reason.contains("placeholder"), "{reason}");
        // The reminder without its date is refused; with it in the subject it is not.
        let (field, reason) = bad(
            "tl",
            "points_expiring",
            MessageWording {
                subject: Some("Points mo".into()),
                lines: Some(vec!["May {{ points }} points ka.".into()]),
                ..MessageWording::default()
            },
        );
        assert_eq!(field, "wording.tl.points_expiring");
        assert!(reason.contains("{{ expires }}"), "{reason}");
        let kept = wording(
            "tl",
            "points_expiring",
            MessageWording {
                subject: Some("Hanggang {{ expires }} na lang".into()),
                lines: Some(vec!["May {{ points }} points ka.".into()]),
                ..MessageWording::default()
            },
        );
        assert!(wording_problems(&kept).is_empty());
    }
}
