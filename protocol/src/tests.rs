use std::collections::BTreeMap;

use super::*;

fn envelope() -> Option<Envelope> {
    Some(Envelope {
        message_id: "m-1".into(),
        embed_id: Some("e-42".into()),
        sent_at: "2026-11-22T04:05:00Z".into(),
    })
}

fn every_action() -> Vec<Action> {
    vec![
        Action::PaymentComplete {
            payment_info: "신한카드 1234*".into(),
            payment_date: "2026-11-22 13:05:00".into(),
            token: "tok".into(),
            order_id: "1002".into(),
        },
        Action::PaymentFailed {
            reason: "한도초과".into(),
            token: "tok".into(),
        },
        Action::ChangeDate {
            order_id: "1002".into(),
            selected_date: "2026-12-01".into(),
        },
        Action::ChangeMethod {
            token: "tok".into(),
            order_id: "1002".into(),
        },
        Action::Redirect {
            target: RedirectTarget::Home,
        },
        Action::Ready,
        Action::Resize { height: 640 },
    ]
}

fn fields_of(msg: &PageMessage) -> BTreeMap<String, Value> {
    let mut map = BTreeMap::new();
    msg.write(|k, v| {
        map.insert(k.to_string(), v);
    });
    map
}

fn text_map(pairs: &[(&str, &str)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Value::Text(v.to_string())))
        .collect()
}

#[test]
fn every_action_round_trips_through_fields_with_and_without_envelope() {
    for action in every_action() {
        for envelope in [envelope(), None] {
            let msg = PageMessage {
                action: action.clone(),
                envelope,
            };
            assert_eq!(PageMessage::read(&fields_of(&msg)), Ok(msg));
        }
    }
}

#[cfg(feature = "serde")]
#[test]
fn every_action_round_trips_through_json() {
    for action in every_action() {
        let msg = PageMessage {
            action,
            envelope: envelope(),
        };
        let json = serde_json::to_string(&msg).unwrap();
        let back: PageMessage = serde_json::from_str(&json).unwrap();
        assert_eq!(back, msg, "{json}");
    }
}

#[cfg(feature = "serde")]
#[test]
fn payment_complete_json_has_steppay_flat_fields_and_envelope() {
    let msg = PageMessage {
        action: every_action().remove(0),
        envelope: envelope(),
    };
    let json: serde_json::Value = serde_json::to_value(&msg).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "action": "payment-complete",
            "paymentInfo": "신한카드 1234*",
            "paymentDate": "2026-11-22 13:05:00",
            "token": "tok",
            "orderId": "1002",
            "protocol": "rebound",
            "version": 1,
            "messageId": "m-1",
            "embedId": "e-42",
            "sentAt": "2026-11-22T04:05:00Z"
        })
    );
    assert!(
        json.get("idKey").is_none(),
        "billing keys never go over postMessage"
    );
}

#[cfg(feature = "serde")]
#[test]
fn legacy_steppay_messages_parse_without_envelope() {
    let msg: PageMessage = serde_json::from_str(
        r#"{"action":"payment-complete","paymentInfo":"A카드 123*","paymentDate":"2023-01-01 12:00:00","token":"t","idKey":"ignored","orderId":"1"}"#,
    )
    .unwrap();
    assert!(msg.envelope.is_none());
    let redirect: PageMessage = serde_json::from_str(r#"{"action":"redirect"}"#).unwrap();
    assert_eq!(
        redirect.action,
        Action::Redirect {
            target: RedirectTarget::Home
        }
    );
}

#[test]
fn rejects_bad_messages_with_a_reason() {
    let long = "x".repeat(MAX_FIELD_BYTES + 1);
    let cases: Vec<(BTreeMap<String, Value>, Rejection)> = vec![
        (BTreeMap::new(), Rejection::MissingField("action")),
        (
            text_map(&[("action", "steal-cookies")]),
            Rejection::UnknownAction,
        ),
        (
            text_map(&[("action", "payment-failed"), ("token", "t")]),
            Rejection::MissingField("reason"),
        ),
        (
            text_map(&[
                ("action", "payment-failed"),
                ("token", "t"),
                ("reason", &long),
            ]),
            Rejection::FieldTooLong("reason"),
        ),
        (
            text_map(&[
                ("action", "change-date"),
                ("orderId", "1"),
                ("selectedDate", "tomorrow"),
            ]),
            Rejection::InvalidValue("selectedDate"),
        ),
        (
            text_map(&[("action", "redirect"), ("target", "https://evil.example")]),
            Rejection::InvalidValue("target"),
        ),
        (
            text_map(&[("action", "ready"), ("protocol", "zoid")]),
            Rejection::UnknownProtocol,
        ),
        (
            text_map(&[("action", "ready"), ("protocol", "rebound")]),
            Rejection::MissingField("version"),
        ),
        (
            text_map(&[("action", "resize"), ("height", "100")]),
            Rejection::WrongType("height"),
        ),
    ];
    for (fields, want) in cases {
        assert_eq!(PageMessage::read(&fields), Err(want.clone()), "{fields:?}");
    }
}

#[test]
fn rejects_wrong_version_absurd_heights_and_non_scalar_fields() {
    let mut m = text_map(&[
        ("action", "ready"),
        ("protocol", "rebound"),
        ("messageId", "1"),
        ("sentAt", "x"),
    ]);
    m.insert("version".into(), Value::Number(2.0));
    assert_eq!(PageMessage::read(&m), Err(Rejection::UnsupportedVersion));

    for h in [-1.0, f64::from(MAX_HEIGHT) + 1.0, f64::NAN, f64::INFINITY] {
        let mut m = text_map(&[("action", "resize")]);
        m.insert("height".into(), Value::Number(h));
        assert_eq!(
            PageMessage::read(&m),
            Err(Rejection::InvalidValue("height"))
        );
    }

    #[cfg(feature = "serde")]
    {
        let err = serde_json::from_str::<PageMessage>(
            r#"{"action":"payment-failed","reason":{"a":1},"token":"t"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("wrong-type:reason"), "{err}");
        assert!(serde_json::from_str::<PageMessage>("[1,2]").is_err());
    }
}

#[test]
fn fractional_heights_round_up() {
    let mut m = text_map(&[("action", "resize")]);
    m.insert("height".into(), Value::Number(640.2));
    assert_eq!(
        PageMessage::read(&m).unwrap().action,
        Action::Resize { height: 641 }
    );
}
