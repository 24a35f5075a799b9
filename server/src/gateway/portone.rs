//! PortOne V2's REST API: one integration for NICE, KCP, KG Inicis,
//! KakaoPay, NaverPay, Toss and other Korean PGs (`../shared/reference/
//! gateways.md`):
//!
//! - `POST /payments/{paymentId}/billing-key` charges a billing key; we
//!   choose the payment id (our idempotency key), and PortOne lets only one
//!   payment per id succeed (`409 ALREADY_PAID` after that);
//! - `GET /payments/{paymentId}` tells what became of it (`PAID`, `FAILED`
//!   with the PG's code, or `404 PAYMENT_NOT_FOUND`: nothing recorded, so
//!   the same id may be sent again);
//! - `POST /payments/{paymentId}/cancel` refunds it;
//! - the card window is PortOne's browser SDK (`requestIssueBillingKey`),
//!   which returns to our URL with the new `billingKey`; we read the key
//!   back (`GET /billing-keys/{billingKey}`) before trusting it.
//!
//! Every call carries `Authorization: PortOne <API secret>` and the store
//! id. Errors are `{type, message}`; a PG's refusal comes as `PG_PROVIDER`
//! with the PG's own `pgCode` and `pgMessage`. No answer, a 5xx without a
//! type, a 409 and a 429 leave the outcome unknown (`classify`).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::{
    BillingAuthLaunch, BillingAuthRequest, BoxFuture, ChargeError, ChargeRequest, IssuedKey,
    Lookup, PaymentGateway, Receipt, card_label, js_string, path_segment,
};
use crate::domain::decline::{Decline, classify_portone};
use crate::domain::gateway_account::AdapterKind;

pub const DEFAULT_API_BASE: &str = "https://api.portone.io";
const SDK_URL: &str = "https://cdn.portone.io/v2/browser-sdk.js";

/// The error type that carries the PG's own code; stored as
/// `PG_PROVIDER:<pgCode>` so its class can be read from the stored code.
pub const PG_PROVIDER: &str = "PG_PROVIDER";

#[derive(Clone, PartialEq, Eq)]
pub struct PortOneConfig {
    /// The V2 API secret.
    pub secret: String,
    /// `store-...`: the partner's PortOne store.
    pub store_id: String,
    /// The channel (one PG contract) the card window issues keys through.
    pub channel_key: String,
    pub api_base: String,
    /// PortOne's secrets do not say test or live: the operator does.
    pub livemode: bool,
}

/// The secret never reaches logs, even through `{:?}`.
impl fmt::Debug for PortOneConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortOneConfig")
            .field("store_id", &self.store_id)
            .field("channel_key", &self.channel_key)
            .field("api_base", &self.api_base)
            .field("livemode", &self.livemode)
            .finish_non_exhaustive()
    }
}

pub struct PortOneGateway {
    config: PortOneConfig,
    http: reqwest::Client,
    authorization: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    pg_code: Option<String>,
    #[serde(default)]
    pg_message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Failure {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    pg_code: Option<String>,
    #[serde(default)]
    pg_message: Option<String>,
}

/// A payment as `GET /payments/{paymentId}` answers it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PaymentBody {
    id: String,
    status: String,
    #[serde(default)]
    failure: Option<Failure>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BillingKeyBody {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    methods: Option<Vec<BillingKeyMethod>>,
}

#[derive(Debug, Deserialize)]
struct BillingKeyMethod {
    #[serde(default)]
    card: Option<Card>,
}

#[derive(Debug, Deserialize)]
struct Card {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    number: Option<String>,
}

const CUSTOMER_REASON: &str = "결제가 승인되지 않았어요";

/// A refusal's code as stored: PortOne's type, or the PG's code under
/// `PG_PROVIDER`.
fn refusal(kind: &str, pg_code: Option<&str>, message: Option<String>) -> ChargeError {
    let code = match pg_code.map(str::trim).filter(|c| !c.is_empty()) {
        Some(pg) => format!("{PG_PROVIDER}:{pg}"),
        None => kind.to_owned(),
    };
    ChargeError::Declined {
        code,
        reason: message
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| CUSTOMER_REASON.to_owned()),
    }
}

/// What an error answer says. A typed 4xx is a refusal (nothing was
/// charged under this payment id), classified by its type, except the
/// types that point at the payment's own record (`ALREADY_PAID`: it was
/// paid, look it up) or at a request still running (409s, 429). Of the
/// 5xxs only a PG's refusal with the PG's own code is one: PortOne's own
/// 500 may come after the PG approved, so it, a PG error without a code
/// and no answer leave the outcome unknown (the lookup settles it). A bare
/// 401 or 403 is our credentials.
fn classify(status: u16, error: Option<ErrorBody>) -> ChargeError {
    let unknown = |e: Option<ErrorBody>| {
        ChargeError::Unavailable(format!(
            "portone answered {status}{}",
            e.map(|e| format!(" {}", e.kind)).unwrap_or_default()
        ))
    };
    match (status, error) {
        (409 | 429, e) => unknown(e),
        (_, Some(e)) if e.kind == "ALREADY_PAID" => {
            ChargeError::Unavailable("portone: already paid under this id".into())
        }
        (500..=599, Some(e))
            if e.kind == PG_PROVIDER
                && e.pg_code.as_deref().is_some_and(|c| !c.trim().is_empty()) =>
        {
            refusal(&e.kind, e.pg_code.as_deref(), e.pg_message.or(e.message))
        }
        (500..=599, e) => unknown(e),
        (400..=499, Some(e)) if !e.kind.trim().is_empty() => {
            let message = e.pg_message.or(e.message);
            refusal(&e.kind, e.pg_code.as_deref(), message)
        }
        (401 | 403, _) => refusal(
            "UNAUTHORIZED",
            None,
            Some("결제 설정에 문제가 있어요".into()),
        ),
        (_, _) => ChargeError::Unavailable(format!("portone answered {status}")),
    }
}

impl PaymentBody {
    /// `PAID` is a charge, and so are the cancelled states (made, then
    /// refunded: never "no payment"); `FAILED` a failed attempt with the
    /// PG's code; anything else (READY, PAY_PENDING) not known yet.
    fn lookup(self) -> Result<Lookup, ChargeError> {
        match self.status.as_str() {
            "PAID" | "CANCELLED" | "PARTIAL_CANCELLED" => Ok(Lookup::Charged(Receipt {
                gateway_ref: self.id,
            })),
            "FAILED" => {
                let f = self.failure.unwrap_or(Failure {
                    reason: None,
                    pg_code: None,
                    pg_message: None,
                });
                match refusal(
                    "PAYMENT_FAILED",
                    f.pg_code.as_deref(),
                    f.pg_message.or(f.reason),
                ) {
                    ChargeError::Declined { code, reason } => Ok(Lookup::Failed { code, reason }),
                    other => Err(other),
                }
            }
            other => Err(ChargeError::Unavailable(format!(
                "portone payment is {other}"
            ))),
        }
    }
}

impl PortOneGateway {
    pub fn new(config: PortOneConfig) -> PortOneGateway {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            // PortOne recommends 60 s or more: the charge goes on at the
            // PG if we stop waiting, and the lookup finds it then.
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client with default TLS settings");
        let authorization = format!("PortOne {}", config.secret);
        PortOneGateway {
            config,
            http,
            authorization,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.api_base.trim_end_matches('/'))
    }

    /// Sends a request; the body of a 2xx, or the error as PortOne said it.
    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Result<Vec<u8>, (u16, Option<ErrorBody>)>, ChargeError> {
        let res = req
            .header("Authorization", &self.authorization)
            .send()
            .await
            // Without the URL: billing keys are in some paths.
            .map_err(|e| {
                ChargeError::Unavailable(format!("portone {what} failed: {}", e.without_url()))
            })?;
        let status = res.status();
        let bytes = res.bytes().await.map_err(|e| {
            ChargeError::Unavailable(format!("portone {what} unreadable: {}", e.without_url()))
        })?;
        if status.is_success() {
            return Ok(Ok(bytes.to_vec()));
        }
        Ok(Err((status.as_u16(), serde_json::from_slice(&bytes).ok())))
    }
}

impl PaymentGateway for PortOneGateway {
    fn charge(&self, req: ChargeRequest) -> BoxFuture<'_, Result<Receipt, ChargeError>> {
        Box::pin(async move {
            let mut body = json!({
                "storeId": self.config.store_id,
                "billingKey": req.billing_key,
                "orderName": req.order_name,
                "amount": { "total": req.amount },
                "currency": "KRW",
            });
            if let Some(customer) = &req.customer_key {
                body["customer"] = json!({ "id": customer });
            }
            let path = format!(
                "/payments/{}/billing-key",
                path_segment(&req.idempotency_key)
            );
            let answer = self
                .send(
                    self.http
                        .post(self.url(&path))
                        // An RFC 8941 string, as PortOne asks.
                        .header("Idempotency-Key", format!("\"{}\"", req.idempotency_key))
                        .json(&body),
                    "charge",
                )
                .await?;
            match answer {
                // The answer's details (paidAt, pgTxId) are not needed:
                // the payment id is ours, and refunds and lookups use it.
                Ok(_) => Ok(Receipt {
                    gateway_ref: req.idempotency_key,
                }),
                Err((status, error)) => Err(classify(status, error)),
            }
        })
    }

    fn lookup(&self, idempotency_key: String) -> BoxFuture<'_, Result<Lookup, ChargeError>> {
        Box::pin(async move {
            let path = format!("/payments/{}", path_segment(&idempotency_key));
            let answer = self
                .send(
                    self.http
                        .get(self.url(&path))
                        .query(&[("storeId", self.config.store_id.as_str())]),
                    "lookup",
                )
                .await?;
            match answer {
                Ok(bytes) => {
                    let payment: PaymentBody = serde_json::from_slice(&bytes).map_err(|e| {
                        ChargeError::Unavailable(format!(
                            "portone lookup answered an unexpected body: {e}"
                        ))
                    })?;
                    payment.lookup()
                }
                Err((404, Some(e))) if e.kind == "PAYMENT_NOT_FOUND" => Ok(Lookup::NotFound),
                Err((status, e)) => Err(ChargeError::Unavailable(format!(
                    "portone lookup answered {status}{}",
                    e.map(|e| format!(" {}", e.kind)).unwrap_or_default()
                ))),
            }
        })
    }

    fn billing_auth(&self, req: &BillingAuthRequest) -> BillingAuthLaunch {
        // PortOne's window exists only as its browser SDK; on phones it
        // redirects to the PG and back to `redirectUrl` with the key (or a
        // `code` and `message`); on desktop the promise answers the same.
        let issue_id = format!("rb-issue-{}", crate::domain::token::new_id());
        BillingAuthLaunch::Page(format!(
            "<!DOCTYPE html><html lang=\"ko\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>카드 등록</title><script src=\"{SDK_URL}\"></script></head>\
             <body><p>카드 등록 창을 여는 중이에요…</p><script>\
             (function(){{var ok={success},fail={fail};\
             function go(base,params){{var u=new URL(base,location.href);\
             Object.keys(params).forEach(function(k){{if(params[k]!=null)u.searchParams.set(k,params[k]);}});\
             location.replace(u.toString());}}\
             PortOne.requestIssueBillingKey({{storeId:{store},channelKey:{channel},billingKeyMethod:\"CARD\",\
             issueId:{issue},issueName:\"정기결제 카드 등록\",redirectUrl:ok,\
             customer:{{customerId:{customer},fullName:{name}}}}})\
             .then(function(r){{if(!r||r.code!=null){{go(fail,{{code:r&&r.code,message:r&&r.message}});}}\
             else{{go(ok,{{billingKey:r.billingKey}});}}}})\
             .catch(function(e){{go(fail,{{code:\"SDK_ERROR\",message:String(e&&e.message||e)}});}});}})();\
             </script></body></html>",
            store = js_string(&self.config.store_id),
            channel = js_string(&self.config.channel_key),
            issue = js_string(&issue_id),
            customer = js_string(&req.customer_key),
            name = js_string(&req.customer_name),
            success = js_string(&req.success_url),
            fail = js_string(&req.fail_url),
        ))
    }

    /// The window hands back the billing key itself (as `authKey` on our
    /// return URL); it is read back from PortOne under our store before it
    /// is trusted, which also gives the card's label.
    fn issue_billing_key(
        &self,
        auth_key: String,
        _customer_key: String,
    ) -> BoxFuture<'_, Result<IssuedKey, ChargeError>> {
        Box::pin(async move {
            let path = format!("/billing-keys/{}", path_segment(&auth_key));
            let answer = self
                .send(
                    self.http
                        .get(self.url(&path))
                        .query(&[("storeId", self.config.store_id.as_str())]),
                    "billing key",
                )
                .await?;
            let bytes = answer.map_err(|(status, e)| classify(status, e))?;
            let key: BillingKeyBody = serde_json::from_slice(&bytes).map_err(|e| {
                ChargeError::Unavailable(format!("portone billing key unexpected: {e}"))
            })?;
            if key.status.as_deref().is_some_and(|s| s != "ISSUED") {
                return Err(ChargeError::Declined {
                    code: "BILLING_KEY_ALREADY_DELETED".into(),
                    reason: "카드 등록을 확인할 수 없어요".into(),
                });
            }
            let card = key
                .methods
                .unwrap_or_default()
                .into_iter()
                .find_map(|m| m.card);
            let label = card
                .map(|c| {
                    card_label(
                        c.name.as_deref().unwrap_or_default(),
                        c.number.as_deref().unwrap_or_default(),
                    )
                })
                .unwrap_or_default();
            Ok(IssuedKey {
                billing_key: auth_key,
                payment_info: if label.is_empty() {
                    "등록한 카드".to_owned()
                } else {
                    label
                },
            })
        })
    }

    fn kind(&self) -> AdapterKind {
        AdapterKind::PortOne
    }

    fn livemode(&self) -> bool {
        self.config.livemode
    }

    fn classify(&self, code: &str) -> Decline {
        classify_portone(code)
    }

    fn can_charge(&self, payment_gateway: &str) -> bool {
        AdapterKind::PortOne.reaches(payment_gateway)
    }

    /// `POST /payments/{paymentId}/cancel`: the whole amount. A payment
    /// already cancelled is refunded.
    fn refund(
        &self,
        _gateway_ref: String,
        idempotency_key: String,
        amount: i64,
        reason: String,
    ) -> BoxFuture<'_, Result<(), ChargeError>> {
        Box::pin(async move {
            let path = format!("/payments/{}/cancel", path_segment(&idempotency_key));
            let body =
                json!({ "storeId": self.config.store_id, "amount": amount, "reason": reason });
            match self
                .send(self.http.post(self.url(&path)).json(&body), "refund")
                .await?
            {
                Ok(_) => Ok(()),
                Err((_, Some(e))) if e.kind == "PAYMENT_ALREADY_CANCELLED" => Ok(()),
                Err((status, e)) => Err(classify(status, e)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(kind: &str, pg_code: Option<&str>) -> Option<ErrorBody> {
        Some(ErrorBody {
            kind: kind.into(),
            message: Some("m".into()),
            pg_code: pg_code.map(str::to_owned),
            pg_message: pg_code.map(|_| "한도초과".to_owned()),
        })
    }

    fn declined(status: u16, body: Option<ErrorBody>) -> String {
        match classify(status, body) {
            ChargeError::Declined { code, .. } => code,
            other => panic!("{status}: {other:?}"),
        }
    }

    #[test]
    fn a_typed_answer_is_a_refusal_and_the_pgs_code_is_kept() {
        assert_eq!(
            declined(404, e("BILLING_KEY_NOT_FOUND", None)),
            "BILLING_KEY_NOT_FOUND"
        );
        assert_eq!(declined(401, e("UNAUTHORIZED", None)), "UNAUTHORIZED");
        assert_eq!(declined(401, None), "UNAUTHORIZED", "a bare 401");
        assert_eq!(declined(403, None), "UNAUTHORIZED");
        assert_eq!(
            declined(502, e("PG_PROVIDER", Some("F112"))),
            "PG_PROVIDER:F112",
            "the PG's own code, under PG_PROVIDER"
        );
    }

    #[test]
    fn only_no_answer_a_conflict_or_a_throttle_leaves_the_outcome_unknown() {
        let unknown = |status, body| matches!(classify(status, body), ChargeError::Unavailable(_));
        assert!(unknown(500, None));
        assert!(unknown(502, None));
        assert!(
            unknown(409, e("IDEMPOTENCY_OUTSTANDING_REQUEST", None)),
            "still running"
        );
        assert!(unknown(409, e("ALREADY_PAID", None)), "paid: look it up");
        assert!(unknown(429, None));
        assert!(
            unknown(500, e("INTERNAL_SERVER_ERROR", None)),
            "PortOne's own 500 may follow an approval"
        );
        assert!(
            unknown(502, e("PG_PROVIDER", None)),
            "a PG error without the PG's code: look it up"
        );
        assert!(unknown(400, None), "no type, nothing to classify");
    }

    #[test]
    fn a_payment_portone_holds_is_read_for_what_it_says() {
        let body = |status: &str| PaymentBody {
            id: "rb-1".into(),
            status: status.into(),
            failure: Some(Failure {
                reason: Some("카드 한도 초과".into()),
                pg_code: Some("51".into()),
                pg_message: None,
            }),
        };
        for charged in ["PAID", "CANCELLED", "PARTIAL_CANCELLED"] {
            assert!(
                matches!(body(charged).lookup(), Ok(Lookup::Charged(r)) if r.gateway_ref == "rb-1")
            );
        }
        assert!(matches!(
            body("FAILED").lookup(),
            Ok(Lookup::Failed { code, reason }) if code == "PG_PROVIDER:51" && reason == "카드 한도 초과"
        ));
        for pending in ["READY", "PAY_PENDING"] {
            assert!(matches!(
                body(pending).lookup(),
                Err(ChargeError::Unavailable(_))
            ));
        }
    }

    #[test]
    fn the_card_window_page_cannot_be_broken_out_of_and_keeps_the_secret() {
        let g = PortOneGateway::new(PortOneConfig {
            secret: "portone_secret_x".into(),
            store_id: "store-1</script><script>alert(1)".into(),
            channel_key: "channel-key-1".into(),
            api_base: DEFAULT_API_BASE.into(),
            livemode: false,
        });
        let BillingAuthLaunch::Page(html) = g.billing_auth(&BillingAuthRequest {
            customer_key: "rb_c_1".into(),
            customer_name: "김*동".into(),
            success_url: "https://h/s?token=t".into(),
            fail_url: "https://h/f".into(),
        }) else {
            panic!("portone launches with a page")
        };
        assert!(html.contains(SDK_URL));
        assert!(html.contains("requestIssueBillingKey"));
        assert!(html.contains("\"channel-key-1\""));
        assert!(!html.contains("</script><script>alert"));
        assert!(!html.contains("portone_secret_x"));
        assert!(!format!("{:?}", g.config).contains("portone_secret_x"));
    }
}
