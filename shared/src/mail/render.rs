//! What customers read, rendered in Rust: mail in one HTML and one plain-text layout
//! (minijinja), the unsubscribe page, and a table of strings per language — English,
//! Hindi, Urdu (right to left) and Tagalog — that both take their words from.
//!
//! Strings are small templates themselves (`{{ discount_pct }}% off`), rendered first
//! as plain text; the layouts then escape them for HTML, so neither translators nor
//! data can inject markup.

use minijinja::value::Serde;
use minijinja::{Environment, Value, context};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::OnceLock;
use thiserror::Error;

use crate::domain::outreach::MessageKind;
use crate::domain::program::{MessageWording, Wording};

const LAYOUT_HTML: &str = include_str!("../../templates/mail/layout.html");
const LAYOUT_TEXT: &str = include_str!("../../templates/mail/layout.txt");
const UNSUBSCRIBE_PAGE: &str = include_str!("../../templates/pages/unsubscribe.html");
const STRINGS: [(&str, &str); 4] = [
    ("en", include_str!("../../templates/mail/strings/en.json")),
    ("hi", include_str!("../../templates/mail/strings/hi.json")),
    ("ur", include_str!("../../templates/mail/strings/ur.json")),
    ("tl", include_str!("../../templates/mail/strings/tl.json")),
];

#[derive(Debug, Error)]
pub enum RenderError {
    #[error("the {0} strings are not valid: {1}")]
    Strings(&'static str, String),
    #[error("no text for {kind} in {lang}")]
    Missing {
        kind: MessageKind,
        lang: &'static str,
    },
    #[error("template: {0}")]
    Template(#[from] minijinja::Error),
}

#[derive(Debug, Deserialize)]
pub(super) struct MessageStrings {
    subject: String,
    heading: String,
    lines: Vec<String>,
}

/// The words of the unsubscribe page.
#[derive(Debug, Deserialize)]
struct PageStrings {
    title: String,
    ask: String,
    button: String,
    done: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct Language {
    lang: String,
    dir: String,
    signoff: String,
    footer: String,
    /// A reward the balance buys, in a list: `{{ name }}`, `{{ points }}`.
    reward_line: String,
    /// The heading of suggested products.
    also_like: String,
    /// The words of a tip's links.
    read_more: String,
    watch_video: String,
    /// The salutation, by first name (`{{ first_name }}`) or without one.
    greeting: String,
    greeting_anonymous: String,
    unsubscribe: String,
    unsubscribe_page: PageStrings,
    pub(super) messages: HashMap<String, MessageStrings>,
}

/// Everything a message may mention. Unused fields are simply not shown.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MessageData {
    pub shop: String,
    /// The name the customer goes by; greeted without one when absent.
    pub first_name: Option<String>,
    /// The festival a greeting is for, named in the customer's language.
    pub festival: Option<String>,
    /// The reward a spend gift grants.
    pub gift: Option<String>,
    /// The product a replenishment reminder is about.
    pub product: Option<String>,
    /// Products to suggest: what the buyers of what the customer bought also bought.
    pub recommendations: Vec<String>,
    pub unsubscribe_url: String,
    pub order_id: Option<String>,
    pub discount_pct: Option<u32>,
    pub coupon_code: Option<String>,
    /// A date as the customer reads it, e.g. 2026-12-31.
    pub expires: Option<String>,
    pub points: Option<i64>,
    pub tier: Option<String>,
    pub years: Option<i32>,
    pub referral_code: Option<String>,
    /// How-to content for products just bought.
    pub tips: Vec<TipView>,
    /// Rewards the balance buys today, for the reminder that points lapse.
    pub rewards: Vec<RewardLine>,
}

/// A tip as a mail shows it: the title, its text, a link, and its video as a thumbnail
/// that links to it (or a plain link where no thumbnail is known).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TipView {
    pub title: String,
    pub text: Option<String>,
    pub link: Option<String>,
    pub video_url: Option<String>,
    pub thumbnail_url: Option<String>,
}

/// A reward of the catalogue as a message lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RewardLine {
    pub name: String,
    pub points: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub lang: String,
    /// `rtl` for Urdu.
    pub dir: String,
    pub subject: String,
    pub html: String,
    pub text: String,
}

pub(super) struct Catalogue {
    env: Environment<'static>,
    languages: Vec<(&'static str, Language)>,
}

pub(super) fn catalogue() -> Result<&'static Catalogue, RenderError> {
    static CATALOGUE: OnceLock<Result<Catalogue, String>> = OnceLock::new();
    CATALOGUE
        .get_or_init(|| {
            let mut env = Environment::new();
            env.add_template("layout.html", LAYOUT_HTML)
                .map_err(|e| e.to_string())?;
            env.add_template("layout.txt", LAYOUT_TEXT)
                .map_err(|e| e.to_string())?;
            env.add_template("unsubscribe.html", UNSUBSCRIBE_PAGE)
                .map_err(|e| e.to_string())?;
            let languages = STRINGS
                .iter()
                .map(|(code, json)| {
                    serde_json::from_str::<Language>(json)
                        .map(|l| (*code, l))
                        .map_err(|e| format!("{code}: {e}"))
                })
                .collect::<Result<_, _>>()?;
            Ok(Catalogue { env, languages })
        })
        .as_ref()
        .map_err(|e| RenderError::Strings("mail", e.clone()))
}

/// The language to write in for a BCP 47 locale: its language if Rapport has it
/// (`fil` is Tagalog), else English.
pub fn language_for(locale: Option<&str>) -> &'static str {
    crate::domain::contact::mail_language(locale)
}

/// The catalogue's strings for a language code of [`language_for`].
pub(super) fn language<'c>(catalogue: &'c Catalogue, code: &str) -> Option<&'c Language> {
    catalogue
        .languages
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, l)| l)
}

/// Which state of the unsubscribe flow a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsubscribePage {
    /// Asks, with a button that posts: link scanners fetch links, and must not
    /// unsubscribe anyone by doing so.
    Ask,
    /// Confirms that marketing mail has stopped.
    Done,
}

/// The unsubscribe page in the customer's language.
pub fn unsubscribe_page(
    locale: Option<&str>,
    page: UnsubscribePage,
) -> Result<String, RenderError> {
    let catalogue = catalogue()?;
    let code = language_for(locale);
    let lang = language(catalogue, code).ok_or(RenderError::Strings(code, "missing".into()))?;
    let strings = &lang.unsubscribe_page;
    let ctx = context! {
        lang => lang.lang.as_str(),
        dir => lang.dir.as_str(),
        title => strings.title.as_str(),
        ask => strings.ask.as_str(),
        button => strings.button.as_str(),
        done_text => strings.done.as_str(),
        done => page == UnsubscribePage::Done,
    };
    Ok(catalogue
        .env
        .get_template("unsubscribe.html")?
        .render(ctx)?)
}

/// A message's strings: the merchant's where the program overrides them, else Rapport's.
pub(super) struct Strings<'s> {
    pub(super) subject: &'s str,
    pub(super) heading: &'s str,
    pub(super) lines: &'s [String],
}

impl<'s> Strings<'s> {
    pub(super) fn of(shipped: &'s MessageStrings, own: Option<&'s MessageWording>) -> Self {
        Self {
            subject: own
                .and_then(|w| w.subject.as_deref())
                .unwrap_or(&shipped.subject),
            heading: own
                .and_then(|w| w.heading.as_deref())
                .unwrap_or(&shipped.heading),
            lines: own
                .and_then(|w| w.lines.as_deref())
                .unwrap_or(&shipped.lines),
        }
    }
}

/// Renders `kind` in the customer's language, in the program's `wording` where it has
/// its own.
pub fn render(
    kind: MessageKind,
    locale: Option<&str>,
    data: &MessageData,
    wording: &Wording,
) -> Result<Rendered, RenderError> {
    let catalogue = catalogue()?;
    let code = language_for(locale);
    let lang = language(catalogue, code).ok_or(RenderError::Missing { kind, lang: code })?;
    let shipped = lang
        .messages
        .get(kind.slug())
        .ok_or(RenderError::Missing { kind, lang: code })?;
    let strings = Strings::of(
        shipped,
        wording.get(code).and_then(|kinds| kinds.get(kind.slug())),
    );
    let env = &catalogue.env;
    // Strings are rendered as plain text here; the layouts escape them.
    let values = Value::from(Serde(data));
    let text_of = |s: &str| env.render_str(s, values.clone());
    let subject = text_of(strings.subject)?;
    // A paragraph whose condition left it empty is left out.
    let mut lines = Vec::with_capacity(strings.lines.len());
    for line in strings.lines {
        let text = text_of(line)?;
        if !text.trim().is_empty() {
            lines.push(text);
        }
    }
    let bullets = match kind {
        MessageKind::PointsExpiring | MessageKind::Welcome => data
            .rewards
            .iter()
            .map(|r| env.render_str(&lang.reward_line, Value::from(Serde(r))))
            .collect::<Result<Vec<_>, _>>()?,
        _ => Vec::new(),
    };
    let ctx = context! {
        lang => lang.lang.as_str(),
        dir => lang.dir.as_str(),
        align => if lang.dir == "rtl" { "right" } else { "left" },
        shop => data.shop.as_str(),
        subject => subject.as_str(),
        heading => text_of(strings.heading)?,
        greeting => match data.first_name {
            Some(_) => text_of(&lang.greeting)?,
            None => lang.greeting_anonymous.clone(),
        },
        lines => lines,
        code => data.coupon_code.as_deref().or(match kind {
            MessageKind::ReferralAsk | MessageKind::WelcomeReferral => data.referral_code.as_deref(),
            _ => None,
        }),
        bullets => bullets,
        tips => Value::from(Serde(&data.tips)),
        recommendations => Value::from(Serde(&data.recommendations)),
        also_like => lang.also_like.as_str(),
        read_more => lang.read_more.as_str(),
        watch_video => lang.watch_video.as_str(),
        signoff => text_of(&lang.signoff)?,
        footer => text_of(&lang.footer)?,
        unsubscribe => lang.unsubscribe.as_str(),
        unsubscribe_url => data.unsubscribe_url.as_str(),
    };
    Ok(Rendered {
        lang: lang.lang.clone(),
        dir: lang.dir.clone(),
        html: env.get_template("layout.html")?.render(&ctx)?,
        text: env.get_template("layout.txt")?.render(&ctx)?,
        subject,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> MessageData {
        MessageData {
            shop: "Chai & Co".into(),
            first_name: Some("Asha".into()),
            festival: Some("Diwali".into()),
            gift: Some("A tea sampler".into()),
            product: Some("TEA-CHAI-250".into()),
            recommendations: vec!["MUG-CLAY".into()],
            unsubscribe_url: "https://api.example/v1/unsubscribe?token=c.1".into(),
            order_id: Some("A-1".into()),
            discount_pct: Some(15),
            coupon_code: Some("RP-ABC".into()),
            expires: Some("2026-12-31".into()),
            points: Some(100),
            tier: Some("gold".into()),
            years: Some(2),
            referral_code: Some("AB3K9MNP".into()),
            tips: vec![TipView {
                title: "Steep <3> minutes".into(),
                text: Some("Water just off the boil.".into()),
                link: Some("https://chai.example/brew?a=1&b=2".into()),
                video_url: Some("https://www.youtube.com/watch?v=dQw4w9WgXcQ".into()),
                thumbnail_url: Some("https://img.youtube.com/vi/dQw4w9WgXcQ/hqdefault.jpg".into()),
            }],
            rewards: vec![RewardLine {
                name: "Free shipping".into(),
                points: 500,
            }],
        }
    }

    #[test]
    fn every_message_renders_in_every_language() {
        for kind in MessageKind::ALL {
            for locale in ["en", "hi-IN", "ur", "fil-PH"] {
                let r = render(kind, Some(locale), &data(), &Wording::new()).unwrap();
                assert!(
                    !r.subject.is_empty() && !r.subject.contains("{{"),
                    "{kind} {locale}: {}",
                    r.subject
                );
                assert!(
                    r.html.contains(&format!("lang=\"{}\"", r.lang)),
                    "{kind} {locale}"
                );
                assert!(r.text.contains("unsubscribe?token=c.1"), "{kind} {locale}");
                assert!(
                    !r.html.contains("{{") && !r.text.contains("{{"),
                    "{kind} {locale}"
                );
            }
        }
    }

    #[test]
    fn mail_greets_by_first_name_and_without_one_in_every_language() {
        for (locale, named, anonymous) in [
            ("en", "Hi Asha,", "Hello,"),
            ("hi", "नमस्ते Asha,", "नमस्ते,"),
            ("ur", "السلام علیکم Asha،", "السلام علیکم،"),
            ("tl", "Kumusta, Asha!", "Kumusta!"),
        ] {
            let r = render(
                MessageKind::Birthday,
                Some(locale),
                &data(),
                &Wording::new(),
            )
            .unwrap();
            assert!(
                r.text.contains(named) && r.html.contains(named),
                "{locale}: {}",
                r.text
            );
            let mut nameless = data();
            nameless.first_name = None;
            let r = render(
                MessageKind::Birthday,
                Some(locale),
                &nameless,
                &Wording::new(),
            )
            .unwrap();
            assert!(
                r.text.contains(anonymous) && !r.text.contains("{{"),
                "{locale}: {}",
                r.text
            );
        }
        let mut marked = data();
        marked.first_name = Some("<i>Asha</i>".into());
        let r = render(MessageKind::Birthday, Some("en"), &marked, &Wording::new()).unwrap();
        assert!(!r.html.contains("<i>Asha"), "escaped in HTML");
    }

    #[test]
    fn urdu_is_right_to_left_and_others_are_not() {
        let ur = render(
            MessageKind::Birthday,
            Some("ur-PK"),
            &data(),
            &Wording::new(),
        )
        .unwrap();
        assert_eq!(ur.dir, "rtl");
        assert!(ur.html.contains("dir=\"rtl\"") && ur.html.contains("text-align:right"));
        assert!(ur.subject.contains("سالگرہ مبارک"), "{}", ur.subject);
        let hi = render(MessageKind::Birthday, Some("hi"), &data(), &Wording::new()).unwrap();
        assert!(hi.html.contains("dir=\"ltr\"") && hi.subject.contains("जन्मदिन"));
        assert_eq!(language_for(Some("de-DE")), "en");
        assert_eq!(language_for(None), "en");
    }

    #[test]
    fn data_is_escaped_in_html_and_plain_in_text() {
        let mut d = data();
        d.shop = "Tea <b>&</b> Co".into();
        let r = render(MessageKind::ProductTips, Some("en"), &d, &Wording::new()).unwrap();
        assert!(
            r.html.contains("Tea &lt;b&gt;&amp;&lt;&#x2f;b&gt; Co")
                || r.html.contains("Tea &lt;b&gt;&amp;&lt;/b&gt; Co"),
            "{}",
            r.html
        );
        assert!(!r.html.contains("<b>&</b>"));
        assert!(r.html.contains("Steep &lt;3&gt; minutes"));
        assert!(r.text.contains("Tea <b>&</b> Co") && r.text.contains("- Steep <3> minutes"));
        // A tip's link and its video: a thumbnail that links to it in HTML, never an
        // embed; addresses in the text part.
        // (Attribute values are escaped, `/` included, as browsers read them back.)
        let attr = |url: &str| url.replace('&', "&amp;").replace('/', "&#x2f;");
        let link = attr("https://chai.example/brew?a=1&b=2");
        assert!(r.html.contains(&format!("href=\"{link}\"")), "{}", r.html);
        let thumbnail = attr("https://img.youtube.com/vi/dQw4w9WgXcQ/hqdefault.jpg");
        assert!(r.html.contains(&format!("<img src=\"{thumbnail}\"")));
        assert!(!r.html.contains("<iframe") && !r.html.contains("<video"));
        assert!(
            r.text
                .contains("Read more: https://chai.example/brew?a=1&b=2"),
            "{}",
            r.text
        );
        assert!(
            r.text
                .contains("Watch the video: https://www.youtube.com/watch?v=dQw4w9WgXcQ")
        );
    }

    #[test]
    fn offers_show_their_code_and_terms() {
        let r = render(MessageKind::WinBack, Some("en"), &data(), &Wording::new()).unwrap();
        assert!(r.subject.contains("15% off"));
        assert!(r.text.contains("RP-ABC") && r.text.contains("2026-12-31"));
        let mut no_points = data();
        no_points.points = None;
        let r = render(
            MessageKind::Birthday,
            Some("en"),
            &no_points,
            &Wording::new(),
        )
        .unwrap();
        assert!(!r.text.contains("points"), "{}", r.text);
    }

    #[test]
    fn the_expiry_reminder_lists_what_the_balance_buys() {
        for locale in ["en", "hi", "ur", "tl"] {
            let r = render(
                MessageKind::PointsExpiring,
                Some(locale),
                &data(),
                &Wording::new(),
            )
            .unwrap();
            assert!(
                r.subject.contains("100") && r.subject.contains("2026-12-31"),
                "{locale}: {}",
                r.subject
            );
            assert!(
                r.text.contains("Free shipping") && r.text.contains("500"),
                "{}",
                r.text
            );
        }
        let mut nothing = data();
        nothing.rewards.clear();
        let r = render(
            MessageKind::PointsExpiring,
            Some("en"),
            &nothing,
            &Wording::new(),
        )
        .unwrap();
        assert!(!r.text.contains("what they buy"), "{}", r.text);
    }

    #[test]
    fn the_unsubscribe_page_asks_then_confirms_in_the_customers_language() {
        let ask = unsubscribe_page(Some("en-GB"), UnsubscribePage::Ask).unwrap();
        assert!(ask.contains("<form method=\"post\">") && ask.contains("lang=\"en\""));
        let done = unsubscribe_page(Some("en"), UnsubscribePage::Done).unwrap();
        assert!(!done.contains("<form") && done.contains("You are unsubscribed"));
        let ur = unsubscribe_page(Some("ur-PK"), UnsubscribePage::Ask).unwrap();
        assert!(ur.contains("dir=\"rtl\"") && ur.contains("رکنیت ختم کریں"));
        for locale in ["hi", "fil-PH", "de"] {
            let page = unsubscribe_page(Some(locale), UnsubscribePage::Done).unwrap();
            assert!(page.contains(&format!("lang=\"{}\"", language_for(Some(locale)))));
        }
    }
}
