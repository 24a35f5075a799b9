//! The SENS AlimTalk adapter against a local fake of SENS, driven by the
//! scenario engine on the test clock: what a stage sends, the SMS fallback,
//! and what happens when SENS fails before or after accepting a message.

use crate::common;

use chrono::Duration;
use common::sens_fake::{self, FakeSens, Faults};
use common::{PARTNER_ORIGIN, TestApp, seed_case, spawn_app};
use rebound::clock::SharedClock;
use rebound::config::{Config, Mode};
use rebound::domain::account::Role;
use rebound::domain::scenario::{Channel, Scenario};
use rebound::engine::Engine;

async fn engine(app: &TestApp, fake: &FakeSens) -> Engine {
    let env = fake.env();
    let config = Config::from_lookup(
        |k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.clone())
                .or_else(|| match k {
                    "REBOUND_GATEWAY" => Some("sandbox".into()),
                    "REBOUND_LINK_KEY" => Some(common::TEST_LINK_KEY.into()),
                    _ => None,
                })
        },
        Mode::Production,
    )
    .expect("SENS settings");
    let clock: SharedClock = app.clock.clone();
    let provider = rebound::engine::provider::from_config(&config.messages, &app.store, &clock);
    Engine::new(app.store.clone(), clock, provider, app.link_key.clone())
}

async fn run(app: &TestApp, engine: &Engine, after: Duration) {
    app.clock.advance(after);
    engine.run_due(10_000).await.unwrap();
}

async fn sends(app: &TestApp, case_id: i64) -> Vec<(i64, String)> {
    app.store.stage_sends(case_id).await.unwrap()
}

#[tokio::test]
async fn each_stage_is_one_signed_alimtalk_with_the_recovery_link_and_sms_failover() {
    let app = spawn_app().await;
    let fake = FakeSens::start().await;
    let engine = engine(&app, &fake).await;
    let case = seed_case(&app, "sandbox_success").await;
    run(&app, &engine, Duration::zero()).await;
    for _ in 0..3 {
        run(&app, &engine, Duration::days(3)).await;
    }
    {
        let s = fake.state.lock().unwrap();
        assert_eq!(s.bad_signatures, 0);
        assert_eq!(s.alimtalk.len(), 4, "{:?}", s.alimtalk);
        assert!(s.sms.is_empty());
        let templates: Vec<_> = s
            .alimtalk
            .iter()
            .map(|m| m.template_code.clone().unwrap())
            .collect();
        assert_eq!(
            templates,
            [
                sens_fake::TEMPLATE,
                sens_fake::TEMPLATE,
                sens_fake::TEMPLATE,
                sens_fake::LAST_TEMPLATE
            ]
        );
        for m in &s.alimtalk {
            assert_eq!(m.to, "01012345678");
            assert!(m.sms_failover, "SENS is asked to fall back to SMS");
            let link = m.button_link.as_deref().unwrap();
            assert!(
                link.starts_with(&format!("{PARTNER_ORIGIN}/?token=")),
                "{link}"
            );
            assert!(
                m.content.contains("김길동님") && m.content.ends_with(link),
                "{}",
                m.content
            );
        }
    }
    assert_eq!(
        sends(&app, case.case_id).await,
        (1..=4)
            .map(|st| (st, "SENT".to_owned()))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_refused_alimtalk_goes_out_once_as_an_lms() {
    let app = spawn_app().await;
    let fake = FakeSens::start().await;
    fake.set_faults(Faults {
        refuse_alimtalk: true,
        ..Faults::default()
    });
    let engine = engine(&app, &fake).await;
    let case = seed_case(&app, "sandbox_success").await;
    run(&app, &engine, Duration::zero()).await;
    run(&app, &engine, Duration::minutes(30)).await;
    {
        let s = fake.state.lock().unwrap();
        assert!(s.alimtalk.is_empty());
        assert_eq!(s.sms.len(), 1, "{:?}", s.sms);
        assert_eq!(
            s.sms[0].sms_type.as_deref(),
            Some("LMS"),
            "a Korean message is over 90 bytes"
        );
        assert!(s.sms[0].content.contains("?token="));
    }
    assert_eq!(sends(&app, case.case_id).await, [(1, "SENT".to_owned())]);
}

#[tokio::test]
async fn an_sms_stage_is_sent_as_sms() {
    let app = spawn_app().await;
    let mut scenario = Scenario::default();
    scenario.stages[0].channel = Channel::Sms;
    app.store
        .add_scenario_version(app.partner.id, &scenario, 0)
        .await
        .unwrap();
    let fake = FakeSens::start().await;
    let engine = engine(&app, &fake).await;
    seed_case(&app, "sandbox_success").await;
    run(&app, &engine, Duration::zero()).await;
    run(&app, &engine, Duration::days(3)).await;
    let s = fake.state.lock().unwrap();
    assert_eq!(
        (s.sms.len(), s.alimtalk.len()),
        (1, 1),
        "stage 1 by SMS, stage 2 by AlimTalk"
    );
}

#[tokio::test]
async fn accepted_then_answered_500_is_found_and_not_sent_again() {
    let app = spawn_app().await;
    let fake = FakeSens::start().await;
    fake.set_faults(Faults {
        fail_after_percent: 100,
        ..Faults::default()
    });
    let engine = engine(&app, &fake).await;
    let case = seed_case(&app, "sandbox_success").await;
    run(&app, &engine, Duration::zero()).await;
    assert_eq!(
        fake.state.lock().unwrap().alimtalk.len(),
        1,
        "SENS accepted it"
    );
    assert_eq!(sends(&app, case.case_id).await, [(1, "SENDING".to_owned())]);
    fake.set_faults(Faults::default());
    run(&app, &engine, Duration::minutes(1)).await;
    {
        let s = fake.state.lock().unwrap();
        assert_eq!(
            s.alimtalk.len(),
            1,
            "the retry looked it up instead of sending"
        );
        assert!(s.lists >= 1);
    }
    assert_eq!(sends(&app, case.case_id).await, [(1, "SENT".to_owned())]);
}

#[tokio::test]
async fn a_503_before_acceptance_is_sent_on_the_retry() {
    let app = spawn_app().await;
    let fake = FakeSens::start().await;
    fake.set_faults(Faults {
        fail_before_percent: 100,
        ..Faults::default()
    });
    let engine = engine(&app, &fake).await;
    let case = seed_case(&app, "sandbox_success").await;
    run(&app, &engine, Duration::zero()).await;
    assert!(fake.state.lock().unwrap().alimtalk.is_empty());
    fake.set_faults(Faults::default());
    run(&app, &engine, Duration::seconds(59)).await;
    assert!(
        fake.state.lock().unwrap().alimtalk.is_empty(),
        "backs off a minute"
    );
    run(&app, &engine, Duration::seconds(1)).await;
    assert_eq!(fake.state.lock().unwrap().alimtalk.len(), 1);
    assert_eq!(sends(&app, case.case_id).await, [(1, "SENT".to_owned())]);
}

#[tokio::test]
async fn when_the_lookup_fails_it_never_sends_blind() {
    let app = spawn_app().await;
    let fake = FakeSens::start().await;
    fake.set_faults(Faults {
        fail_after_percent: 100,
        ..Faults::default()
    });
    let engine = engine(&app, &fake).await;
    let case = seed_case(&app, "sandbox_success").await;
    run(&app, &engine, Duration::zero()).await;
    fake.set_faults(Faults {
        list_fail_percent: 100,
        ..Faults::default()
    });
    run(&app, &engine, Duration::minutes(1)).await;
    assert_eq!(fake.state.lock().unwrap().alimtalk.len(), 1);
    assert_eq!(sends(&app, case.case_id).await, [(1, "SENDING".to_owned())]);
    fake.set_faults(Faults::default());
    run(&app, &engine, Duration::minutes(5)).await;
    assert_eq!(fake.state.lock().unwrap().alimtalk.len(), 1);
    assert_eq!(sends(&app, case.case_id).await, [(1, "SENT".to_owned())]);
}

#[tokio::test]
async fn a_stage_sens_never_takes_is_recorded_failed_and_the_scenario_goes_on() {
    let app = spawn_app().await;
    let fake = FakeSens::start().await;
    fake.set_faults(Faults {
        fail_before_percent: 100,
        ..Faults::default()
    });
    let engine = engine(&app, &fake).await;
    let case = seed_case(&app, "sandbox_success").await;
    run(&app, &engine, Duration::zero()).await;
    // Backoff 1, 5, 25, 125 minutes: five tries in about two and a half hours.
    for minutes in [1, 5, 25, 125] {
        run(&app, &engine, Duration::minutes(minutes)).await;
    }
    assert_eq!(sends(&app, case.case_id).await, [(1, "FAILED".to_owned())]);
    fake.set_faults(Faults::default());
    run(&app, &engine, Duration::days(3)).await;
    assert_eq!(
        sends(&app, case.case_id).await,
        [(1, "FAILED".to_owned()), (2, "SENT".to_owned())]
    );
    assert_eq!(fake.state.lock().unwrap().alimtalk.len(), 1);
}

/// SENS has no idempotency key, so a try of unknown outcome is looked up by
/// its text; a resend has its stage's text, and only what SENS accepted
/// after the resend was asked for may count as it.
#[tokio::test]
async fn a_resend_whose_first_try_never_reached_sens_is_sent_and_not_taken_for_the_stage() {
    let app = spawn_app().await;
    let fake = FakeSens::start().await;
    let engine = engine(&app, &fake).await;
    let run_at = |after: Duration| {
        let (app, engine, fake) = (&app, &engine, &fake);
        async move {
            app.clock.advance(after);
            fake.state.lock().unwrap().set_clock(app.clock.now_ms());
            engine.run_due(10_000).await.unwrap();
        }
    };
    let case = seed_case(&app, "sandbox_success").await;
    run_at(Duration::zero()).await;
    assert_eq!(fake.state.lock().unwrap().alimtalk.len(), 1, "stage 1");
    let ops = common::console::account(&app, "ops@rebound.example", Role::Operator).await;
    // A stage is resent at most once a day.
    app.clock.advance(Duration::hours(25));
    app.store
        .request_resend(case.case_id, ops, app.clock.now_ms())
        .await
        .unwrap();
    fake.set_faults(Faults {
        fail_before_percent: 100,
        ..Faults::default()
    });
    run_at(Duration::zero()).await;
    assert_eq!(fake.state.lock().unwrap().alimtalk.len(), 1, "refused");
    fake.set_faults(Faults::default());
    run_at(Duration::minutes(1)).await;
    {
        let s = fake.state.lock().unwrap();
        assert!(s.lists >= 1, "the retry looked for the first try");
        assert_eq!(s.alimtalk.len(), 2, "and, finding none, sent it");
        assert_eq!(s.alimtalk[0].content, s.alimtalk[1].content);
    }
    let resent: Vec<rebound::domain::case::StageStatus> = app
        .store
        .case_timeline(case.case_id)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|(_, item)| match item {
            rebound::store::TimelineItem::Stage {
                status,
                resent_by: Some(_),
                ..
            } => Some(status),
            _ => None,
        })
        .collect();
    assert_eq!(resent, [rebound::domain::case::StageStatus::Sent]);
}
