//! Partners' own gateway accounts: each partner's charges reach its own
//! merchant account with its own credentials and the customer key its
//! billing key was issued under; a partner with no account for an order's
//! PG gets no pay button; secrets are sealed at rest.

use crate::common;

use std::sync::Arc;

use common::portone_fake;
use common::toss_fake::{self, start_fake};
use common::{TestApp, create_partner, seed_case, seed_case_for};
use rebound::charging::{Charged, Charger};
use rebound::domain::case::ChargeSource;
use rebound::domain::gateway_account::{AccountInput, AccountSettings};
use rebound::gateway::{TossConfig, TossGateway};
use rebound::sealing::CredentialsKey;

const SECRET_A: &str = "test_sk_acme_own_account";
const SECRET_B: &str = "test_sk_beta_own_account";

/// Registers a Toss account for `partner_id`'s TOSS orders on the fake at
/// `base`, as the CLI does.
async fn toss_account(app: &TestApp, partner_id: i64, base: &str, secret: &str, keys: &str) -> i64 {
    let key = CredentialsKey::parse(common::TEST_CREDENTIALS_KEY).unwrap();
    let account = AccountInput {
        payment_gateway: "TOSS",
        kind: "toss",
        secret,
        live: None,
        customer_keys: Some(keys),
        settings: AccountSettings {
            client_key: Some("test_ck_own".into()),
            api_base: Some(base.into()),
            ..Default::default()
        },
    }
    .check()
    .expect("a valid account");
    rebound::gateway::registry::register_account(&app.store, &key, partner_id, &account, "test", 0)
        .await
        .expect("register")
}

/// Registers a PortOne account (live, as the operator says) for
/// `partner_id`'s orders of `payment_gateway`.
async fn portone_account(
    app: &TestApp,
    partner_id: i64,
    payment_gateway: &str,
    base: &str,
    secret: &str,
    store_id: &str,
) -> i64 {
    let key = CredentialsKey::parse(common::TEST_CREDENTIALS_KEY).unwrap();
    let account = AccountInput {
        payment_gateway,
        kind: "portone",
        secret,
        live: Some(true),
        customer_keys: None,
        settings: AccountSettings {
            store_id: Some(store_id.into()),
            channel_key: Some("channel-key-nice".into()),
            api_base: Some(base.into()),
            ..Default::default()
        },
    }
    .check()
    .expect("a valid account");
    rebound::gateway::registry::register_account(&app.store, &key, partner_id, &account, "test", 0)
        .await
        .expect("register")
}

fn charger(app: &TestApp) -> Charger {
    Charger {
        store: app.store.clone(),
        gateways: app.gateways.clone(),
        clock: app.clock.clone(),
        settled: app.settled.clone(),
    }
}

#[tokio::test]
async fn two_partners_charge_through_their_own_accounts_with_their_customers_keys() {
    // The server-wide gateway is a third Toss account nobody's keys belong to.
    let (base_wide, wide) = start_fake().await;
    let app = TestApp::builder()
        .gateway(Arc::new(TossGateway::new(TossConfig {
            secret_key: toss_fake::SECRET.into(),
            client_key: "test_ck_fake".into(),
            api_base: base_wide.clone(),
        })))
        .spawn()
        .await;
    let (base_a, fake_a) = start_fake().await;
    let (base_b, fake_b) = start_fake().await;
    fake_a.lock().unwrap().secret = Some(SECRET_A.into());
    fake_b.lock().unwrap().secret = Some(SECRET_B.into());
    // acme's keys are issued under its customers' ids; beta names each key's
    // customer key on the order (`customerKey`).
    fake_a
        .lock()
        .unwrap()
        .issued_under
        .insert("bk_card_a".into(), "c-1".into());
    fake_b
        .lock()
        .unwrap()
        .issued_under
        .insert("bk_card_b".into(), "beta-ck-9".into());
    let (beta, _) = create_partner(&app.store, "beta", &[common::PARTNER_ORIGIN]).await;
    toss_account(
        &app,
        app.partner.id,
        &base_a,
        SECRET_A,
        "partner-customer-id",
    )
    .await;
    toss_account(&app, beta.id, &base_b, SECRET_B, "order-only").await;

    let a = seed_case(&app, "bk_card_a").await;
    app.sql(&format!(
        "UPDATE orders SET payment_gateway = 'TOSS' WHERE id = {}",
        a.order_id
    ))
    .await;
    let b = seed_case_for(&app, beta.id, "beta-order-1").await;
    app.sql(&format!(
        "UPDATE orders SET payment_gateway = 'TOSS', id_key = 'bk_card_b', billing_customer_key = 'beta-ck-9' \
         WHERE id = (SELECT order_id FROM recovery_cases WHERE id = {b})"
    ))
    .await;

    // Both customers pay at the same moment.
    let c = charger(&app);
    let (ra, rb) = tokio::join!(
        c.charge(a.case_id, ChargeSource::Page),
        c.charge(b, ChargeSource::Page)
    );
    assert_eq!(ra.unwrap(), Charged::Paid);
    assert_eq!(rb.unwrap(), Charged::Paid);
    let approved_a = fake_a.lock().unwrap().approved.clone();
    let approved_b = fake_b.lock().unwrap().approved.clone();
    assert_eq!(
        approved_a.len(),
        1,
        "acme's charge reached acme's account once"
    );
    assert_eq!(
        approved_a[0]["customerKey"], "c-1",
        "the rule: partnerCustomerId"
    );
    assert_eq!(approved_b.len(), 1);
    assert_eq!(
        approved_b[0]["customerKey"], "beta-ck-9",
        "the order's customerKey"
    );
    assert_eq!(
        wide.lock().unwrap().requests,
        0,
        "nothing reached the server-wide account"
    );
    // The charge names the account it went through (lookups go there too).
    let accounts = app
        .texts("SELECT CAST(gateway_account_id AS TEXT) FROM charges ORDER BY case_id")
        .await;
    assert_eq!(accounts.len(), 2);
    assert!(accounts.iter().all(Option::is_some), "{accounts:?}");

    // A new account for the same PG retires the old one: later charges go
    // to the new one, with its own secret.
    let (base_a2, fake_a2) = start_fake().await;
    fake_a2.lock().unwrap().secret = Some("test_sk_acme_rotated".into());
    toss_account(
        &app,
        app.partner.id,
        &base_a2,
        "test_sk_acme_rotated",
        "partner-customer-id",
    )
    .await;
    let a2 = seed_case(&app, "bk_card_a2").await;
    app.sql(&format!(
        "UPDATE orders SET payment_gateway = 'TOSS' WHERE id = {}",
        a2.order_id
    ))
    .await;
    assert_eq!(
        c.charge(a2.case_id, ChargeSource::Page).await.unwrap(),
        Charged::Paid
    );
    assert_eq!(fake_a2.lock().unwrap().approved.len(), 1);
    assert_eq!(
        fake_a.lock().unwrap().approved.len(),
        1,
        "the retired account got nothing new"
    );
}

#[tokio::test]
async fn a_toss_key_without_its_customer_key_is_never_charged_and_the_page_asks_for_a_new_card() {
    let (base, fake) = start_fake().await;
    fake.lock().unwrap().secret = Some(SECRET_A.into());
    let app = TestApp::builder().spawn().await;
    toss_account(&app, app.partner.id, &base, SECRET_A, "order-only").await;
    let case = seed_case(&app, "bk_card_unknown_customer").await;
    app.sql(&format!(
        "UPDATE orders SET payment_gateway = 'TOSS' WHERE id = {}",
        case.order_id
    ))
    .await;

    let html = app.page("/embed/recovery", &case.token).await;
    assert!(
        html.contains("data-testid=\"new-card\""),
        "only a new card is offered"
    );
    assert!(
        !html.contains("/embed/recovery/action/pay"),
        "no pay button that cannot work"
    );
    let location = app.pay(&case.token).await;
    assert!(location.contains("notice=new-card"), "{location}");
    // A silent retry stops with the reason instead of a sure decline.
    let engine = app.engine().await;
    app.advance_days(&engine, 3).await;
    assert_eq!(fake.lock().unwrap().requests, 0, "nothing reached Toss");
    let stop = app
        .texts(&format!(
            "SELECT retry_stop FROM recovery_cases WHERE id = {}",
            case.case_id
        ))
        .await;
    assert_eq!(stop, [Some("NO_CUSTOMER_KEY".to_owned())]);
}

#[tokio::test]
async fn an_order_of_a_pg_no_account_reaches_gets_no_pay_button() {
    // The server-wide gateway is Toss: it reaches TOSS orders only.
    let (base, _fake) = start_fake().await;
    let app = TestApp::builder()
        .gateway(Arc::new(TossGateway::new(TossConfig {
            secret_key: toss_fake::SECRET.into(),
            client_key: "test_ck_fake".into(),
            api_base: base,
        })))
        .spawn()
        .await;
    let case = seed_case(&app, "bk_card_nice").await;
    app.sql(&format!(
        "UPDATE orders SET payment_gateway = 'NICE' WHERE id = {}",
        case.order_id
    ))
    .await;
    let html = app.page("/embed/recovery", &case.token).await;
    assert!(html.contains("data-testid=\"pay-notice\""));
    assert!(
        html.contains("서비스에서 결제를 안내해 드릴게요"),
        "the shop will handle it"
    );
    assert!(!html.contains("/embed/recovery/action/pay"));
    assert!(
        !html.contains("/embed/recovery/method?"),
        "no card window either"
    );
    assert!(
        html.contains("/embed/recovery/date"),
        "the date change still works"
    );
}

#[tokio::test]
async fn gateway_secrets_are_sealed_in_the_database_and_never_shown() {
    let (base, _fake) = start_fake().await;
    let app = TestApp::builder().spawn().await;
    let id = toss_account(&app, app.partner.id, &base, SECRET_A, "order-only").await;
    let sealed = app
        .texts(&format!(
            "SELECT credentials FROM gateway_accounts WHERE id = {id}"
        ))
        .await
        .remove(0)
        .unwrap();
    assert!(!sealed.contains(SECRET_A) && !sealed.contains("acme_own"));
    let key = CredentialsKey::parse(common::TEST_CREDENTIALS_KEY).unwrap();
    let owner = rebound::store::sealed_for(app.partner.id, "TOSS");
    assert_eq!(key.open(&sealed, &owner).unwrap(), SECRET_A);
    assert!(
        key.open(
            &sealed,
            &rebound::store::sealed_for(app.partner.id + 1, "TOSS")
        )
        .is_err()
    );
    // Every text the database holds about accounts, in one string.
    let rows = app
        .texts("SELECT settings || credentials || created_by || kind FROM gateway_accounts")
        .await;
    assert!(!format!("{rows:?}").contains(SECRET_A));
    let listed = app.store.gateway_accounts(app.partner.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        !format!("{listed:?}").contains(SECRET_A),
        "listings carry no secret"
    );
}

/// A failed order of `partner_id` on `payment_gateway`, charged with
/// `id_key`, of the customer `c-<id_key>`: its case and recovery token.
async fn order_on(
    app: &TestApp,
    partner_id: i64,
    payment_gateway: &str,
    id_key: &str,
) -> (i64, String) {
    use rebound::domain::token::{TokenHash, new_recovery_token};
    let token = new_recovery_token();
    let seeded = app
        .store
        .seed_failed_order(
            partner_id,
            &rebound::store::FailedOrderSeed {
                partner_customer_id: &format!("c-{id_key}"),
                customer_name: "이몽룡",
                customer_phone: "01087654321",
                product_name: "베이직",
                product_image_url: None,
                amount: 5_000,
                partner_order_id: &format!("o-{id_key}"),
                id_key,
                payment_info: "국민카드 5678*",
                failure_reason: "한도초과",
                failed_at_ms: app.clock.now_ms(),
                token: &TokenHash::of(&token),
                payment_gateway,
            },
        )
        .await
        .expect("seed case");
    (seeded.case_id, token)
}

/// The partner's notices of `kind`, oldest first.
async fn notices_of(app: &TestApp, partner_id: i64, kind: &str) -> Vec<serde_json::Value> {
    app.store
        .list_events(partner_id, 0, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.body).unwrap())
        .filter(|n| n["noti_type"] == kind)
        .collect()
}

#[tokio::test]
async fn a_toss_partner_and_a_portone_partner_recover_at_once_each_through_its_own_account() {
    // The server-wide gateway is a third Toss account that owns nobody's
    // keys: anything sent there would be a wrong route.
    let (base_wide, wide) = start_fake().await;
    let app = TestApp::builder()
        .gateway(Arc::new(TossGateway::new(TossConfig {
            secret_key: toss_fake::SECRET.into(),
            client_key: "test_ck_fake".into(),
            api_base: base_wide,
        })))
        .spawn()
        .await;
    // acme charges its TOSS orders through its own Toss account; its keys
    // were issued under its customers' ids.
    let (toss_base, toss) = start_fake().await;
    toss.lock().unwrap().secret = Some(SECRET_A.into());
    for key in ["bk_acme_page", "bk_acme_retry"] {
        let mut t = toss.lock().unwrap();
        t.issued_under.insert(key.into(), format!("c-{key}"));
    }
    toss_account(
        &app,
        app.partner.id,
        &toss_base,
        SECRET_A,
        "partner-customer-id",
    )
    .await;
    // beta charges its NICE orders through its PortOne store (live).
    let (po_base, po) = portone_fake::start_fake().await;
    {
        let mut f = po.lock().unwrap();
        f.secret = Some("portone_beta_secret".into());
        f.store_id = Some("store-beta-0001".into());
        f.amount = Some(5_000);
    }
    let (beta, _) = create_partner(&app.store, "beta", &[common::PARTNER_ORIGIN]).await;
    portone_account(
        &app,
        beta.id,
        "NICE",
        &po_base,
        "portone_beta_secret",
        "store-beta-0001",
    )
    .await;

    let (acme_page, _) = order_on(&app, app.partner.id, "TOSS", "bk_acme_page").await;
    let (acme_retry, _) = order_on(&app, app.partner.id, "TOSS", "bk_acme_retry").await;
    let (beta_page, _) = order_on(&app, beta.id, "NICE", "bk_po_card_b1").await;
    // A passing PG failure on the first retry, then paid; a proxy's 502
    // with nothing recorded, looked up and sent again under the same id.
    let (beta_once, _) = order_on(&app, beta.id, "NICE", "bk_po_once_b2").await;
    let (beta_flaky, _) = order_on(&app, beta.id, "NICE", "bk_po_flaky_b3").await;
    // beta's KCP order: no account of beta's reaches KCP, the server-wide
    // one charges TOSS orders only.
    let (beta_kcp, kcp_token) = order_on(&app, beta.id, "KCP", "bk_po_card_b4").await;

    // Two customers press pay at the same moment, one of each partner.
    let c = charger(&app);
    let (ra, rb) = tokio::join!(
        c.charge(acme_page, ChargeSource::Page),
        c.charge(beta_page, ChargeSource::Page)
    );
    assert_eq!((ra.unwrap(), rb.unwrap()), (Charged::Paid, Charged::Paid));
    // The rest are retried silently, both partners' in the same passes.
    let engine = app.engine().await;
    app.advance_days(&engine, 4).await;

    let statuses = app
        .texts(&format!(
            "SELECT status FROM recovery_cases WHERE id IN ({acme_page}, {acme_retry}, {beta_page}, {beta_once}, {beta_flaky}) ORDER BY id"
        ))
        .await;
    assert!(
        statuses.iter().all(|s| s.as_deref() == Some("RECOVERED")),
        "{statuses:?}"
    );
    // Toss: acme's two keys, each with the customer key it was issued
    // under, under acme's secret (the fake answers nothing else).
    {
        let t = toss.lock().unwrap();
        let mut toss_keys: Vec<_> = t
            .approved
            .iter()
            .map(|b| {
                (
                    b["customerKey"].as_str().unwrap().to_owned(),
                    b["amount"].clone(),
                )
            })
            .collect();
        toss_keys.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            toss_keys,
            [
                ("c-bk_acme_page".to_owned(), serde_json::json!(5000)),
                ("c-bk_acme_retry".to_owned(), serde_json::json!(5000))
            ]
        );
    }
    // PortOne: beta's three, under beta's secret and store, each payment id
    // once, for the order's amount; nothing refused as a wrong set-up.
    {
        let f = po.lock().unwrap();
        assert!(f.rejected.is_empty(), "{:?}", f.rejected);
        let mut cards: Vec<_> = f
            .approved
            .iter()
            .map(|b| b["billingKey"].as_str().unwrap().to_owned())
            .collect();
        cards.sort();
        assert_eq!(cards, ["bk_po_card_b1", "bk_po_flaky_b3", "bk_po_once_b2"]);
        assert!(f.lookups >= 1, "the 502's outcome was looked up");
    }
    assert_eq!(
        wide.lock().unwrap().requests,
        0,
        "nothing reached the server-wide account"
    );
    // Each notice says whether its own account moves real money: acme's
    // Toss test key does not, beta's live PortOne store does.
    let acme_paid = notices_of(&app, app.partner.id, "payment.completed").await;
    let beta_paid = notices_of(&app, beta.id, "payment.completed").await;
    assert_eq!((acme_paid.len(), beta_paid.len()), (2, 3));
    assert!(acme_paid.iter().all(|n| n["livemode"] == false));
    assert!(beta_paid.iter().all(|n| n["livemode"] == true));

    // beta's KCP customer: no pay button, no card window, the date change;
    // and no silent charge either.
    let html = app.page("/embed/recovery", &kcp_token).await;
    assert!(html.contains("data-testid=\"pay-notice\""));
    assert!(!html.contains("/embed/recovery/action/pay"));
    assert!(!html.contains("/embed/recovery/method?"));
    assert!(html.contains("/embed/recovery/date"));
    let charges = app
        .texts(&format!(
            "SELECT CAST(COUNT(*) AS TEXT) FROM charges WHERE case_id = {beta_kcp}"
        ))
        .await;
    assert_eq!(charges, [Some("0".to_owned())]);
}

#[tokio::test]
async fn a_portone_customer_registers_a_new_card_in_the_top_level_window_and_pays_once() {
    let app = TestApp::builder().spawn().await;
    let (po_base, po) = portone_fake::start_fake().await;
    po.lock().unwrap().amount = Some(5_000);
    portone_account(
        &app,
        app.partner.id,
        "KCP",
        &po_base,
        portone_fake::SECRET,
        portone_fake::STORE_ID,
    )
    .await;
    // The key on file is gone at the PG: the customer registers a new card.
    let (case_id, token) = order_on(&app, app.partner.id, "KCP", "bk_po_deleted_k1").await;
    assert!(app.pay(&token).await.contains("/embed/recovery/failed"));

    // A key the partner's store never issued registers nothing.
    let forged = app.card_window(&token).await;
    let ticket = forged.url.split_once('?').unwrap().1;
    let res = app
        .browser
        .get(app.url(&format!("/card/return?{ticket}&billingKey=bk_po_forged")))
        .send()
        .await
        .unwrap();
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("카드를 등록하지 못했어요")
    );

    let card = app.card_window(&token).await;
    assert_ne!(card.window_id, forged.window_id, "a new window each time");
    let res = app.browser.get(app.url(&card.url)).send().await.unwrap();
    assert_eq!(
        res.headers()["content-security-policy"],
        "frame-ancestors 'none'"
    );
    let launch = res.text().await.unwrap();
    assert!(launch.contains("requestIssueBillingKey"));
    assert!(launch.contains(&format!("\"{}\"", portone_fake::STORE_ID)));
    assert!(launch.contains("\"channel-key-nice\""));
    assert!(
        !launch.contains(portone_fake::SECRET),
        "the secret stays on the server"
    );
    assert!(
        !launch.contains(&token),
        "the recovery token stays in the frame"
    );
    let redirect = launch
        .split("redirectUrl:ok")
        .next()
        .and_then(|head| head.split("var ok=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .expect("the window's return address")
        .to_owned();
    assert!(redirect.contains("/card/return?t="), "{redirect}");

    // PortOne's window hands the new key back on our return address; it is
    // read back from the partner's store before it is trusted, then charged.
    let path = redirect.split_once("/card/").unwrap().1;
    let res = app
        .browser
        .get(app.url(&format!("/card/{path}&billingKey=bk_po_new_k1")))
        .send()
        .await
        .unwrap();
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("카드를 등록하고 결제했어요")
    );
    let status = app.card_status(&token, &card.window_id).await;
    assert!(
        status["next"]
            .as_str()
            .unwrap()
            .starts_with("/embed/recovery/paid?"),
        "{status}"
    );
    {
        let f = po.lock().unwrap();
        let paid: Vec<_> = f
            .approved
            .iter()
            .map(|b| b["billingKey"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(paid, ["bk_po_new_k1"], "the new card, once");
        assert!(f.rejected.is_empty(), "{:?}", f.rejected);
    }
    let stored = app
        .texts(&format!(
            "SELECT o.id_key FROM orders o JOIN recovery_cases c ON c.order_id = o.id WHERE c.id = {case_id}"
        ))
        .await;
    assert_eq!(stored, [Some("bk_po_new_k1".to_owned())]);
}

fn refunder(app: &TestApp) -> rebound::refunding::Refunder {
    rebound::refunding::Refunder {
        store: app.store.clone(),
        gateways: app.gateways.clone(),
        clock: app.clock.clone(),
    }
}

/// The charge of `case_id` as money that moved for an order the partner
/// settled some other way (what a charge approved after the partner
/// canceled, or after it was settled as never made, becomes).
async fn flag_for_refund(app: &TestApp, case_id: i64) -> i64 {
    app.sql(&format!(
        "UPDATE charges SET status = 'NEEDS_REFUND' WHERE case_id = {case_id} AND status = 'SUCCEEDED'"
    ))
    .await;
    app.texts(&format!(
        "SELECT CAST(id AS TEXT) FROM charges WHERE case_id = {case_id} AND status = 'NEEDS_REFUND'"
    ))
    .await[0]
        .as_deref()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_charge_flagged_for_refund_goes_back_once_through_the_account_that_made_it() {
    let app = TestApp::builder().spawn().await;
    let (toss_base, toss) = start_fake().await;
    toss.lock().unwrap().secret = Some(SECRET_A.into());
    toss.lock()
        .unwrap()
        .issued_under
        .insert("bk_acme_refund".into(), "c-bk_acme_refund".into());
    toss_account(
        &app,
        app.partner.id,
        &toss_base,
        SECRET_A,
        "partner-customer-id",
    )
    .await;
    let (po_base, po) = portone_fake::start_fake().await;
    let (beta, _) = create_partner(&app.store, "beta", &[common::PARTNER_ORIGIN]).await;
    portone_account(
        &app,
        beta.id,
        "NICE",
        &po_base,
        portone_fake::SECRET,
        portone_fake::STORE_ID,
    )
    .await;
    let (acme_case, _) = order_on(&app, app.partner.id, "TOSS", "bk_acme_refund").await;
    let (beta_case, _) = order_on(&app, beta.id, "NICE", "bk_po_card_refund").await;
    let c = charger(&app);
    assert_eq!(
        c.charge(acme_case, ChargeSource::Page).await.unwrap(),
        Charged::Paid
    );
    assert_eq!(
        c.charge(beta_case, ChargeSource::Page).await.unwrap(),
        Charged::Paid
    );
    let acme_charge = flag_for_refund(&app, acme_case).await;
    let beta_charge = flag_for_refund(&app, beta_case).await;
    let due = app.store.refunds_due(None).await.unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(
        app.store.refunds_due(Some(beta.id)).await.unwrap().len(),
        1,
        "a partner's own"
    );

    // Toss: through acme's account, with its secret, the charge's paymentKey.
    let r = refunder(&app);
    assert_eq!(
        r.refund(beta_charge, Some(app.partner.id), "test")
            .await
            .unwrap(),
        rebound::refunding::Refunded::NotRefundable,
        "not acme's charge"
    );
    assert_eq!(
        r.refund(acme_charge, None, "test").await.unwrap(),
        rebound::refunding::Refunded::Done
    );
    assert_eq!(toss.lock().unwrap().cancelled, ["pay_1"]);
    assert_eq!(
        r.refund(acme_charge, None, "test").await.unwrap(),
        rebound::refunding::Refunded::NotRefundable,
        "a refunded charge is never refunded again"
    );

    // PortOne: its answer is lost once; asked again, it refunds once.
    po.lock().unwrap().faults.lose_next_cancel = true;
    assert_eq!(
        r.refund(beta_charge, None, "test").await.unwrap(),
        rebound::refunding::Refunded::Unknown
    );
    assert_eq!(
        app.store.charge_statuses(beta_case).await.unwrap(),
        ["REFUNDING"]
    );
    assert_eq!(
        r.refund(beta_charge, None, "test").await.unwrap(),
        rebound::refunding::Refunded::Done
    );
    {
        let f = po.lock().unwrap();
        assert_eq!(f.cancelled.len(), 1, "once");
        assert!(f.rejected.is_empty(), "{:?}", f.rejected);
    }

    // Each partner is told once, in the charge's own account's mode.
    let acme = notices_of(&app, app.partner.id, "payment.refunded").await;
    let beta_told = notices_of(&app, beta.id, "payment.refunded").await;
    assert_eq!((acme.len(), beta_told.len()), (1, 1));
    assert_eq!(acme[0]["data"]["amount"], 5_000);
    assert_eq!(acme[0]["data"]["tid"], "pay_1");
    assert_eq!(acme[0]["livemode"], false);
    assert_eq!(
        beta_told[0]["livemode"], true,
        "beta's PortOne store is live"
    );
    for case in [acme_case, beta_case] {
        assert_eq!(app.store.charge_statuses(case).await.unwrap(), ["REFUNDED"]);
    }
    assert!(app.store.refunds_due(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_operator_refunds_from_the_case_page() {
    use common::console;
    use rebound::domain::account::Role;
    let app = TestApp::builder().spawn().await;
    let (po_base, po) = portone_fake::start_fake().await;
    portone_account(
        &app,
        app.partner.id,
        "KCP",
        &po_base,
        portone_fake::SECRET,
        portone_fake::STORE_ID,
    )
    .await;
    let (case_id, _) = order_on(&app, app.partner.id, "KCP", "bk_po_card_console").await;
    assert_eq!(
        charger(&app)
            .charge(case_id, ChargeSource::Page)
            .await
            .unwrap(),
        Charged::Paid
    );
    console::account(&app, "ops@example.com", Role::Operator).await;
    let cookie = console::signed_in(&app, "ops@example.com").await;
    let page = console::case_page(&app, &cookie, case_id).await;
    assert!(!page.contains("결제 환불"), "nothing to give back yet");
    flag_for_refund(&app, case_id).await;
    let page = console::case_page(&app, &cookie, case_id).await;
    assert!(
        page.contains("결제 환불"),
        "the button for a flagged charge"
    );
    let res = console::act(&app, &cookie, case_id, "refund").await;
    let loc = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(loc.contains("result=refunded"), "{loc}");
    assert_eq!(po.lock().unwrap().cancelled.len(), 1);
    assert!(
        !console::case_page(&app, &cookie, case_id)
            .await
            .contains(">결제 환불<"),
        "gone once refunded"
    );
    // A second press (a stale page, a hand-made POST) refunds nothing.
    let res = console::act(&app, &cookie, case_id, "refund").await;
    let loc = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(loc.contains("result=not_allowed"), "{loc}");
    assert_eq!(po.lock().unwrap().cancelled.len(), 1);
    assert_eq!(app.notices_of("payment.refunded").await.len(), 1);
}

/// PortOne keeps charging after we stop waiting (it recommends a 60 s read
/// timeout): a silent retry cut off by the batch's budget stays pending,
/// and the resolver finds it paid by looking its payment id up, never by
/// charging again.
#[tokio::test]
async fn a_portone_charge_that_outlasts_its_wait_is_found_paid_not_charged_again() {
    let app = TestApp::builder().spawn().await;
    let (po_base, po) = portone_fake::start_fake().await;
    po.lock().unwrap().faults.delay_ms = 1_500;
    portone_account(
        &app,
        app.partner.id,
        "NICE",
        &po_base,
        portone_fake::SECRET,
        portone_fake::STORE_ID,
    )
    .await;
    let (case_id, _) = order_on(&app, app.partner.id, "NICE", "bk_po_card_slow").await;
    let engine = app
        .engine()
        .await
        .with_send_budget(std::time::Duration::from_millis(300));
    // The first silent retry (D+1, about 10:00 KST) goes out and is cut
    // off; the resolver is not due yet.
    let (retry_at, _) = app.store.retry_plan(case_id).await.unwrap();
    let retry_at = retry_at.expect("a silent retry is planned");
    app.run_engine_until(&engine, retry_at + 1_000).await;
    assert_eq!(
        app.store.charge_statuses(case_id).await.unwrap(),
        ["PENDING"],
        "cut off: its outcome unknown"
    );
    // PortOne finishes it meanwhile; the resolver asks.
    tokio::time::sleep(std::time::Duration::from_millis(1_600)).await;
    po.lock().unwrap().faults.delay_ms = 0;
    app.run_engine_until(&engine, retry_at + 3_600_000).await;
    assert_eq!(
        app.store.charge_statuses(case_id).await.unwrap(),
        ["SUCCEEDED"]
    );
    {
        let f = po.lock().unwrap();
        assert_eq!(f.approved.len(), 1);
        assert_eq!(f.requests, 1, "found by lookup, never sent again");
        assert!(f.lookups >= 1);
    }
}

/// Two operators (or two instances) refund the same charge at once: the
/// PG refunds it once (its idempotency), and the partner is told once.
#[tokio::test]
async fn two_refunds_of_one_charge_at_once_refund_it_once_and_tell_once() {
    let app = TestApp::builder().spawn().await;
    let (po_base, po) = portone_fake::start_fake().await;
    portone_account(
        &app,
        app.partner.id,
        "NICE",
        &po_base,
        portone_fake::SECRET,
        portone_fake::STORE_ID,
    )
    .await;
    let (case_id, _) = order_on(&app, app.partner.id, "NICE", "bk_po_card_twice").await;
    assert_eq!(
        charger(&app)
            .charge(case_id, ChargeSource::Page)
            .await
            .unwrap(),
        Charged::Paid
    );
    let charge = flag_for_refund(&app, case_id).await;
    let (a, b) = (refunder(&app), refunder(&app));
    let (ra, rb) = tokio::join!(a.refund(charge, None, "a"), b.refund(charge, None, "b"));
    let outcomes = [ra.unwrap(), rb.unwrap()];
    assert!(
        outcomes.contains(&rebound::refunding::Refunded::Done),
        "{outcomes:?}"
    );
    assert_eq!(po.lock().unwrap().cancelled.len(), 1, "refunded once");
    assert_eq!(
        app.notices_of("payment.refunded").await.len(),
        1,
        "told once"
    );
    assert_eq!(
        app.store.charge_statuses(case_id).await.unwrap(),
        ["REFUNDED"]
    );
}
