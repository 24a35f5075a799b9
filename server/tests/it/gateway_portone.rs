//! The PortOne V2 adapter against a local fake that follows PortOne's
//! documented API: `Authorization: PortOne <secret>`, the store id on every
//! call, our payment id as the idempotency key, one successful payment per
//! id, `{type, message}` errors with the PG's code passed through.

use crate::common;

use common::portone_fake::{Faults, SECRET, STORE_ID, start_fake};
use rebound::domain::decline::{Decline, Wait};
use rebound::gateway::{
    ChargeError, ChargeRequest, Lookup, PaymentGateway, PortOneConfig, PortOneGateway, Receipt,
};
use serde_json::json;

fn portone(base: &str, secret: &str, store_id: &str) -> PortOneGateway {
    PortOneGateway::new(PortOneConfig {
        secret: secret.into(),
        store_id: store_id.into(),
        channel_key: "channel-key-nice".into(),
        api_base: base.into(),
        livemode: false,
    })
}

fn charge_req(billing_key: &str, payment_id: &str) -> ChargeRequest {
    ChargeRequest {
        billing_key: billing_key.into(),
        customer_key: Some("c-1".into()),
        amount: 10_000,
        order_name: "프리미엄 멤버십".into(),
        idempotency_key: payment_id.into(),
    }
}

fn declined_code(result: Result<Receipt, ChargeError>) -> String {
    match result {
        Err(ChargeError::Declined { code, .. }) => code,
        other => panic!("not a refusal: {other:?}"),
    }
}

#[tokio::test]
async fn a_partner_store_charges_once_per_payment_id_and_looks_payments_up() {
    let (base, fake) = start_fake().await;
    fake.lock().unwrap().amount = Some(10_000);
    let g = portone(&base, SECRET, STORE_ID);
    let first = g.charge(charge_req("bk_po_card_1", "rb-1-aaaaaaaa")).await;
    assert_eq!(
        first,
        Ok(Receipt {
            gateway_ref: "rb-1-aaaaaaaa".into()
        })
    );
    let again = g.charge(charge_req("bk_po_card_1", "rb-1-aaaaaaaa")).await;
    assert_eq!(first, again, "a resend gets the first answer");
    assert_eq!(
        g.lookup("rb-1-aaaaaaaa".into()).await,
        Ok(Lookup::Charged(Receipt {
            gateway_ref: "rb-1-aaaaaaaa".into()
        }))
    );
    assert_eq!(
        g.lookup("rb-9-never".into()).await,
        Ok(Lookup::NotFound),
        "nothing under an id never sent: safe to send it"
    );
    let f = fake.lock().unwrap();
    assert_eq!(f.approved.len(), 1);
    assert_eq!(
        f.approved[0],
        json!({"storeId": STORE_ID, "billingKey": "bk_po_card_1", "orderName": "프리미엄 멤버십",
               "amount": {"total": 10000}, "currency": "KRW", "customer": {"id": "c-1"},
               "paymentId": "rb-1-aaaaaaaa"})
    );
    assert!(f.rejected.is_empty(), "{:?}", f.rejected);
}

#[tokio::test]
async fn each_decline_class_comes_back_classified_from_the_pgs_own_code() {
    let (base, fake) = start_fake().await;
    let g = portone(&base, SECRET, STORE_ID);
    let cases = [
        ("bk_po_hard_1", "PG_PROVIDER:3021", Decline::Hard),
        (
            "bk_po_limit_1",
            "PG_PROVIDER:CC10",
            Decline::Soft(Wait::Payday),
        ),
        (
            "bk_po_once_1",
            "PG_PROVIDER:1242",
            Decline::Soft(Wait::Soon),
        ),
        (
            "bk_po_deleted_1",
            "BILLING_KEY_ALREADY_DELETED",
            Decline::Hard,
        ),
        ("bk_po_channel", "CHANNEL_NOT_FOUND", Decline::Setup),
    ];
    for (i, (card, code, class)) in cases.into_iter().enumerate() {
        let id = format!("rb-{}-decline", 10 + i);
        assert_eq!(declined_code(g.charge(charge_req(card, &id)).await), code);
        assert_eq!(g.classify(code), class, "{code}");
    }
    // The PG's refusal is a FAILED payment PortOne keeps, and its lookup
    // says the same; PortOne's own refusals record nothing.
    assert_eq!(
        g.lookup("rb-10-decline".into()).await,
        Ok(Lookup::Failed {
            code: "PG_PROVIDER:3021".into(),
            reason: "카드사 거절".into()
        })
    );
    assert_eq!(g.lookup("rb-13-decline".into()).await, Ok(Lookup::NotFound));
    // A passing failure: the next attempt (a new payment id) pays.
    assert!(
        g.charge(charge_req("bk_po_once_1", "rb-20-next"))
            .await
            .is_ok()
    );
    // Our own credentials or store: refusals of the set-up, never charged.
    let wrong_secret = portone(&base, "portone_other_secret", STORE_ID);
    let code = declined_code(
        wrong_secret
            .charge(charge_req("bk_po_card_2", "rb-21-x"))
            .await,
    );
    assert_eq!(
        (code.as_str(), g.classify(&code)),
        ("UNAUTHORIZED", Decline::Setup)
    );
    let wrong_store = portone(&base, SECRET, "store-someone-else");
    let code = declined_code(
        wrong_store
            .charge(charge_req("bk_po_card_2", "rb-22-x"))
            .await,
    );
    assert_eq!(
        (code.as_str(), g.classify(&code)),
        ("FORBIDDEN", Decline::Setup)
    );
    let f = fake.lock().unwrap();
    assert_eq!(f.approved.len(), 1, "only the passing failure's next try");
    assert_eq!(
        f.rejected.len(),
        2,
        "the two wrong set-ups: {:?}",
        f.rejected
    );
}

#[tokio::test]
async fn unknown_outcomes_are_resolved_by_looking_the_payment_id_up() {
    let (base, fake) = start_fake().await;
    let g = portone(&base, SECRET, STORE_ID);
    // A proxy's bare 502, nothing recorded: not found, the same id again pays.
    assert!(matches!(
        g.charge(charge_req("bk_po_flaky_1", "rb-30-flaky")).await,
        Err(ChargeError::Unavailable(_))
    ));
    assert_eq!(g.lookup("rb-30-flaky".into()).await, Ok(Lookup::NotFound));
    assert!(
        g.charge(charge_req("bk_po_flaky_1", "rb-30-flaky"))
            .await
            .is_ok()
    );

    // Accepted, then PortOne's own 500: unknown, and the lookup finds it paid.
    fake.lock().unwrap().faults = Faults {
        lose_after_approval_percent: 100,
        ..Faults::default()
    };
    assert!(matches!(
        g.charge(charge_req("bk_po_card_3", "rb-31-lost")).await,
        Err(ChargeError::Unavailable(_))
    ));
    assert!(matches!(
        g.lookup("rb-31-lost".into()).await,
        Ok(Lookup::Charged(_))
    ));
    // After PortOne forgot the idempotency key, a resend is refused as paid
    // (`409 ALREADY_PAID`): unknown to the adapter, never a second charge.
    fake.lock().unwrap().faults = Faults {
        forget_key_percent: 100,
        ..Faults::default()
    };
    assert!(matches!(
        g.charge(charge_req("bk_po_card_3", "rb-31-lost")).await,
        Err(ChargeError::Unavailable(m)) if m.contains("ALREADY_PAID")
    ));

    // A request still running: 409, unknown; the first one pays.
    fake.lock().unwrap().faults = Faults {
        delay_ms: 400,
        ..Faults::default()
    };
    let (a, b) = tokio::join!(g.charge(charge_req("bk_po_card_4", "rb-32-twice")), async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        g.charge(charge_req("bk_po_card_4", "rb-32-twice")).await
    });
    assert!(a.is_ok(), "{a:?}");
    assert!(
        matches!(&b, Err(ChargeError::Unavailable(m)) if m.contains("IDEMPOTENCY_OUTSTANDING_REQUEST")),
        "{b:?}"
    );
    // No answer at all.
    let unreachable = portone("http://127.0.0.1:9", SECRET, STORE_ID);
    assert!(matches!(
        unreachable
            .charge(charge_req("bk_po_card_5", "rb-33-down"))
            .await,
        Err(ChargeError::Unavailable(_))
    ));
    let f = fake.lock().unwrap();
    let ids: Vec<_> = f.approved.iter().map(|b| b["paymentId"].clone()).collect();
    assert_eq!(
        ids,
        [
            json!("rb-30-flaky"),
            json!("rb-31-lost"),
            json!("rb-32-twice")
        ],
        "each payment id approved once"
    );
}

#[tokio::test]
async fn a_payment_is_refunded_once_and_a_new_cards_key_is_read_back() {
    let (base, fake) = start_fake().await;
    let g = portone(&base, SECRET, STORE_ID);
    g.charge(charge_req("bk_po_card_6", "rb-40-paid"))
        .await
        .unwrap();
    let refund = || {
        g.refund(
            "rb-40-paid".into(),
            "rb-40-paid".into(),
            10_000,
            "이미 결제된 주문".into(),
        )
    };
    assert_eq!(refund().await, Ok(()));
    assert_eq!(refund().await, Ok(()), "already cancelled is refunded");
    assert_eq!(fake.lock().unwrap().cancelled, ["rb-40-paid"]);
    assert!(
        matches!(g.lookup("rb-40-paid".into()).await, Ok(Lookup::Charged(_))),
        "a refunded payment was still made"
    );
    assert!(matches!(
        g.refund("rb-41-never".into(), "rb-41-never".into(), 10_000, "x".into())
            .await,
        Err(ChargeError::Declined { code, .. }) if code == "PAYMENT_NOT_FOUND"
    ));

    let issued = g
        .issue_billing_key("bk_po_new_1".into(), "c-1".into())
        .await
        .unwrap();
    assert_eq!(issued.billing_key, "bk_po_new_1");
    assert_eq!(issued.payment_info, "KB국민카드 9490*");
    assert!(matches!(
        g.issue_billing_key("bk_po_forged".into(), "c-1".into()).await,
        Err(ChargeError::Declined { code, .. }) if code == "BILLING_KEY_NOT_FOUND"
    ));
    assert!(fake.lock().unwrap().rejected.is_empty());
}
