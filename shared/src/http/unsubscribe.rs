//! `GET /v1/unsubscribe?token=…` shows a confirmation page; `POST` (a mail client's
//! RFC 8058 one-click request, or the page's button) withdraws marketing consent.
//!
//! These are the only routes without a request signature: the customer's browser or
//! mail client calls them, and the token in the link is the credential.

use chrono::Utc;
use http::{HeaderValue, Method, header};
use lambda_http::{Body, Request, Response};

use super::{Api, ApiError};
use crate::domain::{CustomerId, Profile};
use crate::store::ProfileStore;
use crate::{service, unsubscribe};

/// Page text in the languages Rapport writes to customers; `dir` for right-to-left.
struct Strings {
    lang: &'static str,
    dir: &'static str,
    title: &'static str,
    ask: &'static str,
    button: &'static str,
    done: &'static str,
}

const EN: Strings = Strings {
    lang: "en",
    dir: "ltr",
    title: "Unsubscribe",
    ask: "Stop receiving offers and news from us by email? Messages about your orders will still arrive.",
    button: "Unsubscribe",
    done: "You are unsubscribed. We will not send you offers or news by email.",
};

fn strings(locale: Option<&str>) -> &'static Strings {
    const HI: Strings = Strings {
        lang: "hi",
        dir: "ltr",
        title: "सदस्यता समाप्त करें",
        ask: "क्या आप ईमेल से ऑफ़र और समाचार पाना बंद करना चाहते हैं? आपके ऑर्डर से जुड़े संदेश आते रहेंगे।",
        button: "सदस्यता समाप्त करें",
        done: "आपकी सदस्यता समाप्त हो गई है। हम आपको ईमेल से ऑफ़र या समाचार नहीं भेजेंगे।",
    };
    const UR: Strings = Strings {
        lang: "ur",
        dir: "rtl",
        title: "رکنیت ختم کریں",
        ask: "کیا آپ ای میل کے ذریعے پیشکشیں اور خبریں وصول کرنا بند کرنا چاہتے ہیں؟ آپ کے آرڈر سے متعلق پیغامات آتے رہیں گے۔",
        button: "رکنیت ختم کریں",
        done: "آپ کی رکنیت ختم ہو گئی ہے۔ ہم آپ کو ای میل کے ذریعے پیشکشیں یا خبریں نہیں بھیجیں گے۔",
    };
    const TL: Strings = Strings {
        lang: "tl",
        dir: "ltr",
        title: "Mag-unsubscribe",
        ask: "Ihinto ang pagtanggap ng mga alok at balita mula sa amin sa email? Darating pa rin ang mga mensahe tungkol sa iyong mga order.",
        button: "Mag-unsubscribe",
        done: "Naka-unsubscribe ka na. Hindi ka na namin padadalhan ng mga alok o balita sa email.",
    };
    match locale.map(|l| l.split('-').next().unwrap_or(l)) {
        Some("hi") => &HI,
        Some("ur") => &UR,
        Some("tl" | "fil") => &TL,
        _ => &EN,
    }
}

fn page(s: &Strings, body: &str) -> Response<Body> {
    let html = format!(
        "<!doctype html>\n<html lang=\"{lang}\" dir=\"{dir}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}\
         button{{font-size:1rem;padding:.6rem 1.2rem}}</style></head>\
         <body><h1>{title}</h1>{body}</body></html>\n",
        lang = s.lang,
        dir = s.dir,
        title = s.title,
    );
    let mut response = Response::new(Body::from(html));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // The page is per customer: no shared caches.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The `token` query parameter, percent-decoded.
fn token_param(req: &Request) -> Option<String> {
    req.uri().query()?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == "token")
            .then(|| super::percent_decode(&value.replace('+', " ")))
            .flatten()
    })
}

impl<S: ProfileStore> Api<S> {
    /// `GET` and `POST /v1/unsubscribe?token=…`
    pub async fn unsubscribe(&self, req: Request) -> Response<Body> {
        let result = async {
            let token = token_param(&req).ok_or(ApiError::InvalidToken)?;
            let customer: CustomerId = unsubscribe::verify(&self.config.signing_secret, &token)
                .ok_or(ApiError::InvalidToken)?;
            let profile = self.store.profile(&customer).await?.map(|p| p.value);
            let locale = profile
                .as_ref()
                .and_then(|p: &Profile| p.locale.as_ref())
                .map(|l| l.as_str().to_owned());
            let s = strings(locale.as_deref());
            if req.method() == Method::POST {
                service::unsubscribe(&self.store, &customer, Utc::now()).await?;
                tracing::info!(customer = %customer, "unsubscribed");
                return Ok(page(s, &format!("<p>{}</p>", s.done)));
            }
            // GET only asks: link scanners in mail systems fetch links, and must not
            // unsubscribe anyone by doing so.
            Ok(page(
                s,
                &format!(
                    "<p>{}</p><form method=\"post\"><button type=\"submit\">{}</button></form>",
                    s.ask, s.button
                ),
            ))
        }
        .await;
        let result: Result<Response<Body>, ApiError> = result;
        match result {
            Ok(response) => response,
            Err(e) => e.into_response(),
        }
    }
}
