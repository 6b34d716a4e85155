//! A run by steps mails the merchant a link to its report, once, and the link opens the
//! report the run stored — against DynamoDB Local, the SES emulator and the S3 emulator:
//! the report route serves exactly the stored page to a valid token and nothing to an
//! altered, expired or missing one; the admin route answers the summary and a new link.

use std::sync::Arc;

use chrono::{Duration, Utc};
use rapport_integration::{
    TestApi, emulator_sender, job_settings, key, run_bucket, sign_as, unsubscribe_keys,
};
use rapport_job::run::segments::{RunRef, Segmented};
use rapport_shared::auth::keys::Scope;
use rapport_shared::auth::report_link;
use rapport_shared::domain::{Email, RunId};
use rapport_shared::mail::SesAlerts;
use rapport_shared::mail::pace::Pacing;
use rapport_shared::store::{ArtifactStore, ReportFile};

use crate::job::{seed, usd};

#[tokio::test]
async fn the_merchant_is_mailed_a_link_that_opens_the_runs_report_and_nothing_else() {
    let (artifacts, _) = run_bucket().await;
    let api = TestApi::start_with_reports(
        &[("RAPPORT_PUBLIC_URL", "https://api.chai.example")],
        Arc::new(artifacts.clone()),
    )
    .await;
    let now = Utc::now();
    seed(&api, "report-link", now).await;
    let merchant = format!("owner-{}@chai.example", api.table);
    let ses = rapport_local::shared_ses().await.expect("SES emulator");
    let mut settings = job_settings(&api);
    settings.job.report_to = Some(Email::parse("to", &merchant).unwrap());
    let steps = Arc::new(Segmented {
        store: api.store.clone(),
        sender: emulator_sender(&api),
        artifacts: artifacts.clone(),
        settings,
        currency: usd(),
        report_mail: Some(Arc::new(SesAlerts::new(
            ses.client(),
            "rapport@shop.example",
            &merchant,
        ))),
    });
    let id = format!("links-{}", &api.table[api.table.len() - 8..]);
    let run = RunRef {
        run_id: id.clone(),
        started_at: now,
    };
    let report = steps
        .clone()
        .run_all(&run, Some(2), Pacing::UNPACED)
        .await
        .unwrap();
    assert!(report.summary.sent > 0, "{:?}", report.summary);

    // One mail to the merchant, with the run's counts and the link.
    let mail = api.mail_to(&merchant).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    let text = mail[0].text.clone().unwrap_or_default();
    assert!(mail[0].subject.contains(&id), "{}", mail[0].subject);
    assert!(
        text.contains(&format!("Messages sent: {}", report.summary.sent)),
        "{text}"
    );
    let prefix = format!("{}/v1/reports/{id}?token=", api.base_url);
    let link = text
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no link in {text}"));
    let token = &link[prefix.len()..];

    // The link opens exactly the stored page, marked for no cache and no referrer.
    let path = format!("/v1/reports/{id}?token={token}");
    let response = reqwest::get(format!("{}{path}", api.base_url))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(headers.contains_key("content-security-policy"));
    let page = response.bytes().await.unwrap();
    let stored = artifacts
        .get(&format!("reports/{id}/report.html"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.as_ref(), stored.as_slice());

    // An altered, missing or expired token, or the token on another run: 403, nothing.
    let run_id = RunId::parse("run_id", &id).unwrap();
    let keys = unsubscribe_keys();
    let expired = report_link::token(&keys, &run_id, now - Duration::seconds(1));
    let mut altered = token.to_owned();
    let last = altered.pop().unwrap();
    altered.push(if last == '0' { '1' } else { '0' });
    for bad in [
        format!("/v1/reports/{id}?token={altered}"),
        format!("/v1/reports/{id}?token={expired}"),
        format!("/v1/reports/{id}"),
        format!("/v1/reports/other-run?token={token}"),
    ] {
        let reply = api.send_raw("GET", &bad, Vec::new(), None, None).await;
        assert_eq!(reply.status, 403, "{bad}: {:?}", reply.body);
        assert_eq!(reply.field(), "token", "{bad}");
        assert!(reply.problem_type().ends_with("invalid-token"), "{bad}");
    }
    // A good token for a run without a report: 404; a run id that could name other
    // objects: 422, naming the field.
    let nothing = RunId::parse("run_id", "no-such-run").unwrap();
    let other = report_link::token(&keys, &nothing, now + Duration::days(1));
    let path = format!("/v1/reports/no-such-run?token={other}");
    let reply = api.send_raw("GET", &path, Vec::new(), None, None).await;
    assert_eq!(reply.status, 404, "{:?}", reply.body);
    let reply = api
        .send_raw(
            "GET",
            "/v1/reports/..%2Fruns?token=x",
            Vec::new(),
            None,
            None,
        )
        .await;
    assert_eq!(
        (reply.status, reply.field()),
        (422, "run_id"),
        "{:?}",
        reply.body
    );

    // The admin route: the stored summary and a fresh link under the public URL.
    let reply = api.get(&format!("/v1/admin/reports/{id}")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["run_id"], id.as_str());
    assert_eq!(
        reply.body["summary"]["sent"].as_u64(),
        Some(report.summary.sent as u64)
    );
    let fresh = reply.body["link"]["url"].as_str().unwrap();
    assert!(
        fresh.starts_with(&format!("https://api.chai.example/v1/reports/{id}?token=")),
        "{fresh}"
    );
    let fresh_token = fresh.split("token=").nth(1).unwrap();
    assert!(report_link::verify(&keys, &run_id, fresh_token, now));
    // Only for an admin key.
    let path = format!("/v1/admin/reports/{id}");
    let events = sign_as(
        &key(Scope::Events),
        Utc::now().timestamp(),
        "GET",
        &path,
        b"",
    );
    let reply = api
        .send_raw("GET", &path, Vec::new(), Some(&events), None)
        .await;
    assert_eq!(reply.status, 403, "{:?}", reply.body);
    let reply = api.send_raw("GET", &path, Vec::new(), None, None).await;
    assert_eq!(reply.status, 401, "{:?}", reply.body);
    let reply = api.get("/v1/admin/reports/no-such-run").await;
    assert_eq!(reply.status, 404, "{:?}", reply.body);

    // The report step taken again mails nothing more; the note says until when the
    // mailed link works.
    steps.report(&run).await.unwrap();
    assert_eq!(api.mail_to(&merchant).await.len(), 1);
    assert!(
        artifacts
            .get(&ReportFile::Mailed.key(&run_id))
            .await
            .unwrap()
            .is_some()
    );
}
