//! Toss Payments' automatic-payment (billing) API, as Toss documents it:
//!
//! - card registration opens Toss's window with the JS SDK
//!   (`TossPayments(clientKey).payment({customerKey}).requestBillingAuth(...)`),
//!   which returns to our success URL with `authKey` and `customerKey`;
//! - `POST /v1/billing/authorizations/issue {authKey, customerKey}` exchanges
//!   that for a `billingKey` (and the card's company and masked number);
//! - `POST /v1/billing/{billingKey} {customerKey, amount, orderId, orderName}`
//!   charges it. We send our idempotency key as both `orderId` and the
//!   `Idempotency-Key` header, so a resend returns the first answer.
//!
//! Every call authenticates with HTTP Basic, the secret key as user name and
//! an empty password. Errors come back as `{code, message}`: an answer with
//! a code is a refusal, whatever its status (nothing charged; the message is
//! meant for customers); no answer, a 5xx without a code, a 409 and a 429
//! leave the outcome unknown (`classify`).

use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::json;

use super::{
    BillingAuthLaunch, BillingAuthRequest, BoxFuture, ChargeError, ChargeRequest, IssuedKey,
    Lookup, PaymentGateway, Receipt, card_label, js_string, path_segment,
};

pub const DEFAULT_API_BASE: &str = "https://api.tosspayments.com";
const SDK_URL: &str = "https://js.tosspayments.com/v2/standard";

#[derive(Clone, PartialEq, Eq)]
pub struct TossConfig {
    /// `REBOUND_TOSS_SECRET_KEY` (`test_sk_...` / `live_sk_...`).
    pub secret_key: String,
    /// `REBOUND_TOSS_CLIENT_KEY`, used by the card window in the browser.
    pub client_key: String,
    /// `REBOUND_TOSS_API_BASE`, default Toss's; tests point it at a fake.
    pub api_base: String,
}

/// The secret key never reaches logs, even through `{:?}`.
impl fmt::Debug for TossConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TossConfig")
            .field("client_key", &self.client_key)
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

pub struct TossGateway {
    config: TossConfig,
    http: reqwest::Client,
    authorization: String,
}

#[derive(Deserialize)]
struct TossErrorBody {
    code: String,
    message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BillingBody {
    billing_key: String,
    #[serde(default)]
    card_company: Option<String>,
    #[serde(default)]
    card_number: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PaymentBody {
    payment_key: String,
    status: String,
    /// Why an `ABORTED` payment failed, when Toss says.
    #[serde(default)]
    failure: Option<TossErrorBody>,
}

impl PaymentBody {
    /// What a payment Toss holds says about our charge: `DONE` is a
    /// charge, and so are `CANCELED` and `PARTIAL_CANCELED` (made, then
    /// refunded: never "no payment", or the next retry charges again);
    /// `ABORTED` and `EXPIRED` are failed attempts, classified by the
    /// failure Toss records; anything else (in progress) is not known yet
    /// (`Ok(None)`).
    fn outcome(self) -> Result<Option<Receipt>, ChargeError> {
        match self.status.as_str() {
            "DONE" | "CANCELED" | "PARTIAL_CANCELED" => Ok(Some(Receipt {
                gateway_ref: self.payment_key,
            })),
            "ABORTED" | "EXPIRED" => Err(match self.failure {
                Some(f) if !f.code.trim().is_empty() => ChargeError::Declined {
                    code: f.code,
                    reason: f.message,
                },
                _ => ChargeError::Declined {
                    code: self.status,
                    reason: "결제가 승인되지 않았어요".into(),
                },
            }),
            _ => Ok(None),
        }
    }
}

impl TossGateway {
    pub fn new(config: TossConfig) -> TossGateway {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            // A redirect would carry our keys to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client with default TLS settings");
        let authorization = format!(
            "Basic {}",
            STANDARD.encode(format!("{}:", config.secret_key))
        );
        TossGateway {
            config,
            http,
            authorization,
        }
    }

    async fn post<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        body: serde_json::Value,
        idempotency_key: Option<&str>,
    ) -> Result<T, ChargeError> {
        let url = format!("{}{path}", self.config.api_base.trim_end_matches('/'));
        let mut req = self
            .http
            .post(url)
            .header("Authorization", &self.authorization)
            .json(&body);
        if let Some(key) = idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        let res = req
            .send()
            .await
            // Without the URL: the billing key is in the charge's path.
            .map_err(|e| {
                ChargeError::Unavailable(format!("toss request failed: {}", e.without_url()))
            })?;
        let status = res.status();
        let bytes = res.bytes().await.map_err(|e| {
            ChargeError::Unavailable(format!("toss response unreadable: {}", e.without_url()))
        })?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                ChargeError::Unavailable(format!(
                    "toss answered {status} with an unexpected body: {e}"
                ))
            });
        }
        let error: Option<TossErrorBody> = serde_json::from_slice(&bytes).ok();
        Err(classify(status.as_u16(), error))
    }
}

/// Codes that are no answer about this charge: a resend colliding with the
/// first attempt (its outcome lives under the order id: look it up), or a
/// request with this key still being processed.
const OUTCOME_ELSEWHERE_CODES: [&str; 3] = [
    "ALREADY_PROCESSED_PAYMENT",
    "DUPLICATED_ORDER_ID",
    "IDEMPOTENT_REQUEST_PROCESSING",
];

/// Stands for a refusal of our credentials that carried no code (a bare
/// 401 or 403): classified as Toss's `UNAUTHORIZED_KEY`.
const CREDENTIALS_REFUSED: &str = "UNAUTHORIZED_KEY";

/// A definitive answer is a failed attempt, classified by its code,
/// whatever its HTTP status: Toss answers `REJECT_CARD_PAYMENT` with 403,
/// older Toss documents list declines under 401, and a coded 5xx is Toss
/// telling what happened. Toss stores that answer under the idempotency
/// key and replays it to every resend, so taking it for "unknown" would
/// resend the same key forever and never try the card again. Only no
/// answer, a 5xx without a code, a 409 (still processing), a 429, and the
/// codes that point at an earlier attempt leave the outcome unknown.
fn classify(status: u16, error: Option<TossErrorBody>) -> ChargeError {
    match (status, error) {
        (_, Some(e)) if OUTCOME_ELSEWHERE_CODES.contains(&e.code.as_str()) => {
            ChargeError::Unavailable(format!("toss answered {status} {}", e.code))
        }
        (409 | 429, e) => ChargeError::Unavailable(format!(
            "toss answered {status}{}",
            e.map(|e| format!(" {}", e.code)).unwrap_or_default()
        )),
        (400..=599, Some(e)) if !e.code.trim().is_empty() => ChargeError::Declined {
            code: e.code,
            reason: e.message,
        },
        (401 | 403, _) => ChargeError::Declined {
            code: CREDENTIALS_REFUSED.to_owned(),
            reason: "결제 설정에 문제가 있어요".to_owned(),
        },
        (_, _) => ChargeError::Unavailable(format!("toss answered {status}")),
    }
}

impl PaymentGateway for TossGateway {
    fn charge(&self, req: ChargeRequest) -> BoxFuture<'_, Result<Receipt, ChargeError>> {
        Box::pin(async move {
            let Some(customer_key) = req.customer_key else {
                // `gateway_account::route` never routes such a charge here.
                return Err(ChargeError::Declined {
                    code: "NOT_MATCHES_CUSTOMER_KEY".into(),
                    reason: "새 카드를 등록해 주세요".into(),
                });
            };
            let body = json!({
                "customerKey": customer_key,
                "amount": req.amount,
                "orderId": req.idempotency_key,
                "orderName": req.order_name,
            });
            let path = format!("/v1/billing/{}", path_segment(&req.billing_key));
            let payment: PaymentBody = self.post(&path, body, Some(&req.idempotency_key)).await?;
            match payment.outcome() {
                Ok(Some(receipt)) => Ok(receipt),
                Ok(None) => Err(ChargeError::Unavailable(
                    "toss answered a payment with no outcome".into(),
                )),
                Err(e) => Err(e),
            }
        })
    }

    /// `GET /v1/payments/orders/{orderId}`: the payment made for our order
    /// id (`PaymentBody::outcome`), or none (`404 NOT_FOUND_PAYMENT`);
    /// anything else (in progress, errors) leaves the outcome unknown.
    fn lookup(&self, idempotency_key: String) -> BoxFuture<'_, Result<Lookup, ChargeError>> {
        Box::pin(async move {
            let url = format!(
                "{}/v1/payments/orders/{}",
                self.config.api_base.trim_end_matches('/'),
                path_segment(&idempotency_key)
            );
            let res = self
                .http
                .get(url)
                .header("Authorization", &self.authorization)
                .send()
                .await
                .map_err(|e| {
                    ChargeError::Unavailable(format!("toss lookup failed: {}", e.without_url()))
                })?;
            let status = res.status();
            let bytes = res.bytes().await.map_err(|e| {
                ChargeError::Unavailable(format!("toss lookup unreadable: {}", e.without_url()))
            })?;
            if status.is_success() {
                let payment: PaymentBody = serde_json::from_slice(&bytes).map_err(|e| {
                    ChargeError::Unavailable(format!(
                        "toss lookup answered an unexpected body: {e}"
                    ))
                })?;
                let status = payment.status.clone();
                return match payment.outcome() {
                    Ok(Some(receipt)) => Ok(Lookup::Charged(receipt)),
                    Ok(None) => Err(ChargeError::Unavailable(format!(
                        "toss payment is {status}"
                    ))),
                    Err(ChargeError::Declined { code, reason }) => {
                        Ok(Lookup::Failed { code, reason })
                    }
                    Err(e) => Err(e),
                };
            }
            let error: Option<TossErrorBody> = serde_json::from_slice(&bytes).ok();
            match (status.as_u16(), error) {
                (404, Some(e)) if e.code == "NOT_FOUND_PAYMENT" => Ok(Lookup::NotFound),
                (code, e) => Err(ChargeError::Unavailable(format!(
                    "toss lookup answered {code}{}",
                    e.map(|e| format!(" {}", e.code)).unwrap_or_default()
                ))),
            }
        })
    }

    fn billing_auth(&self, req: &BillingAuthRequest) -> BillingAuthLaunch {
        // Toss's window exists only as its JS SDK; this page opens it at once.
        BillingAuthLaunch::Page(format!(
            "<!DOCTYPE html><html lang=\"ko\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>카드 등록</title><script src=\"{SDK_URL}\"></script></head>\
             <body><p>카드 등록 창을 여는 중이에요…</p><script>\
             TossPayments({client}).payment({{customerKey:{customer}}})\
             .requestBillingAuth({{method:\"CARD\",successUrl:{success},failUrl:{fail},customerName:{name}}});\
             </script></body></html>",
            client = js_string(&self.config.client_key),
            customer = js_string(&req.customer_key),
            name = js_string(&req.customer_name),
            success = js_string(&req.success_url),
            fail = js_string(&req.fail_url),
        ))
    }

    fn issue_billing_key(
        &self,
        auth_key: String,
        customer_key: String,
    ) -> BoxFuture<'_, Result<IssuedKey, ChargeError>> {
        Box::pin(async move {
            let body = json!({ "authKey": auth_key, "customerKey": customer_key });
            let billing: BillingBody = self
                .post("/v1/billing/authorizations/issue", body, None)
                .await?;
            Ok(IssuedKey {
                payment_info: card_label(
                    billing.card_company.as_deref().unwrap_or_default(),
                    billing.card_number.as_deref().unwrap_or_default(),
                ),
                billing_key: billing.billing_key,
            })
        })
    }

    fn kind(&self) -> super::AdapterKind {
        super::AdapterKind::Toss
    }

    /// `POST /v1/payments/{paymentKey}/cancel`, with our idempotency key
    /// prefixed, so a repeated refund request refunds once.
    fn refund(
        &self,
        gateway_ref: String,
        idempotency_key: String,
        amount: i64,
        reason: String,
    ) -> BoxFuture<'_, Result<(), ChargeError>> {
        Box::pin(async move {
            let path = format!("/v1/payments/{}/cancel", path_segment(&gateway_ref));
            let body = json!({ "cancelReason": reason, "cancelAmount": amount });
            let key = format!("refund-{idempotency_key}");
            match self
                .post::<serde_json::Value>(&path, body, Some(&key))
                .await
            {
                Ok(_) => Ok(()),
                // Refunded before (by us or in Toss's console): done.
                Err(ChargeError::Declined { code, .. }) if code == "ALREADY_CANCELED_PAYMENT" => {
                    Ok(())
                }
                Err(e) => Err(e),
            }
        })
    }

    /// Toss's live keys (`live_sk_...`) move money; test keys do not.
    fn livemode(&self) -> bool {
        self.config.secret_key.starts_with("live_")
    }

    fn can_charge(&self, payment_gateway: &str) -> bool {
        payment_gateway == "TOSS"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_live_key_moves_money() {
        let with = |secret_key: &str| {
            TossGateway::new(TossConfig {
                secret_key: secret_key.into(),
                client_key: "test_ck_1".into(),
                api_base: DEFAULT_API_BASE.into(),
            })
            .livemode()
        };
        assert!(with("live_sk_1"));
        assert!(!with("test_sk_1"));
        assert!(!crate::gateway::SandboxGateway::default().livemode());
    }

    #[test]
    fn a_coded_answer_is_a_decline_whatever_its_status() {
        let e = |code: &str| {
            Some(TossErrorBody {
                code: code.into(),
                message: "카드사에서 거절했어요".into(),
            })
        };
        let declined = |status, code: &str| match classify(status, e(code)) {
            ChargeError::Declined { code, .. } => code,
            other => panic!("{status} {code}: {other:?}"),
        };
        assert_eq!(declined(400, "REJECT_CARD_COMPANY"), "REJECT_CARD_COMPANY");
        assert_eq!(declined(403, "REJECT_CARD_PAYMENT"), "REJECT_CARD_PAYMENT");
        assert_eq!(
            declined(403, "NOT_AVAILABLE_PAYMENT"),
            "NOT_AVAILABLE_PAYMENT"
        );
        assert_eq!(declined(401, "UNAUTHORIZED_KEY"), "UNAUTHORIZED_KEY");
        assert_eq!(
            declined(401, "INVALID_CARD_EXPIRATION"),
            "INVALID_CARD_EXPIRATION",
            "older Toss documents list declines under 401"
        );
        assert_eq!(
            declined(500, "PROVIDER_ERROR"),
            "PROVIDER_ERROR",
            "Toss replays it to every resend: a soft decline, not an unknown"
        );
        assert_eq!(declined(400, "PROVIDER_ERROR"), "PROVIDER_ERROR");
        // A bare refusal of our credentials.
        for status in [401, 403] {
            assert!(
                matches!(classify(status, None), ChargeError::Declined { code, .. } if code == "UNAUTHORIZED_KEY")
            );
        }
    }

    #[test]
    fn only_no_answer_leaves_the_outcome_unknown() {
        let e = |code: &str| {
            Some(TossErrorBody {
                code: code.into(),
                message: String::new(),
            })
        };
        let unknown = |status, body| matches!(classify(status, body), ChargeError::Unavailable(_));
        assert!(unknown(500, None), "a 5xx without a code");
        assert!(unknown(502, None));
        assert!(
            unknown(409, e("IDEMPOTENT_REQUEST_PROCESSING")),
            "still processing"
        );
        assert!(unknown(409, None));
        assert!(unknown(429, e("TOO_MANY_REQUESTS")));
        assert!(
            unknown(400, e("DUPLICATED_ORDER_ID")),
            "an earlier attempt: look it up"
        );
        assert!(unknown(400, e("ALREADY_PROCESSED_PAYMENT")));
        assert!(unknown(400, None), "no code, nothing to classify");
        assert!(unknown(500, e("")), "an empty code is no code");
    }

    #[test]
    fn a_payment_toss_holds_is_read_for_what_it_says() {
        let body = |status: &str, failure: Option<(&str, &str)>| PaymentBody {
            payment_key: "pk_1".into(),
            status: status.into(),
            failure: failure.map(|(code, message)| TossErrorBody {
                code: code.into(),
                message: message.into(),
            }),
        };
        for charged in ["DONE", "CANCELED", "PARTIAL_CANCELED"] {
            assert!(
                matches!(body(charged, None).outcome(), Ok(Some(r)) if r.gateway_ref == "pk_1"),
                "{charged}: money moved (and maybe went back): never no payment"
            );
        }
        assert!(matches!(
            body("ABORTED", Some(("REJECT_CARD_PAYMENT", "한도초과"))).outcome(),
            Err(ChargeError::Declined { code, .. }) if code == "REJECT_CARD_PAYMENT"
        ));
        assert!(matches!(
            body("EXPIRED", None).outcome(),
            Err(ChargeError::Declined { code, .. }) if code == "EXPIRED"
        ));
        for pending in ["READY", "IN_PROGRESS", "WAITING_FOR_DEPOSIT"] {
            assert!(
                matches!(body(pending, None).outcome(), Ok(None)),
                "{pending}"
            );
        }
    }

    #[test]
    fn billing_keys_are_encoded_in_the_path() {
        assert_eq!(path_segment("ab-C_1.~"), "ab-C_1.~");
        assert_eq!(path_segment("a/b?c=d"), "a%2Fb%3Fc%3Dd");
    }

    #[test]
    fn the_card_window_page_cannot_be_broken_out_of() {
        let g = TossGateway::new(TossConfig {
            secret_key: "test_sk_x".into(),
            client_key: "test_ck_</script><script>alert(1)".into(),
            api_base: DEFAULT_API_BASE.into(),
        });
        let BillingAuthLaunch::Page(html) = g.billing_auth(&BillingAuthRequest {
            customer_key: "rb_c_1".into(),
            customer_name: "김*동</script>".into(),
            success_url: "https://h/s".into(),
            fail_url: "https://h/f".into(),
        }) else {
            panic!("toss launches with a page")
        };
        assert!(html.contains(SDK_URL));
        assert!(
            html.contains("customerName:"),
            "the window shows whose card it is"
        );
        assert!(!html.contains("김*동</script>"));
        assert!(html.contains("\"rb_c_1\""));
        assert!(!html.contains("</script><script>alert"));
        assert!(
            !format!("{:?}", g.config).contains("test_sk_x"),
            "secret redacted"
        );
    }
}
