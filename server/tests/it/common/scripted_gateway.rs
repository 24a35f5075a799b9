//! A gateway whose answers a test writes in advance, per billing key, and
//! that records every charge it was sent (time on the test clock, key,
//! idempotency key), as a PG's own ledger would. Declines carry Toss's
//! codes, so Toss's table classifies them.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use rebound::clock::ManualClock;
use rebound::gateway::{
    AdapterKind, BillingAuthLaunch, BillingAuthRequest, BoxFuture, ChargeError, ChargeRequest,
    IssuedKey, Lookup, PaymentGateway, Receipt,
};

/// One scripted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Approve,
    /// Declined with this Toss code.
    Decline(&'static str),
    /// No answer (a timeout): nothing is charged.
    Lost,
    /// Charged, but the answer is lost: a resend with the same key gets
    /// the approval, a new key would charge again.
    ApprovedThenLost,
    /// Never answers (a PG that hangs); nothing is charged.
    Hang,
    /// Declined with this code, but the answer is lost: the PG's lookup
    /// tells the failure and its code.
    DeclinedThenLost(&'static str),
    /// Approves after this many milliseconds of real time (a slow PG).
    ApproveAfterMs(u64),
}

/// A charge the gateway received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub at_ms: i64,
    pub billing_key: String,
    pub idempotency_key: String,
    pub order_name: String,
    pub approved: bool,
}

pub struct ScriptedGateway {
    clock: Arc<ManualClock>,
    /// Answers per billing key, in order; the last one repeats.
    script: Mutex<HashMap<String, VecDeque<Answer>>>,
    received: Mutex<Vec<Received>>,
    /// Idempotency keys approved: a resend gets the first approval back.
    approved: Mutex<HashSet<String>>,
    /// Idempotency keys declined, with the code: what a lookup tells.
    declined: Mutex<HashMap<String, &'static str>>,
    /// Idempotency keys of approved charges refunded since.
    refunded: Mutex<HashSet<String>>,
    /// The order `paymentGateway` values this adapter charges; `None`: all.
    charges_for: Option<&'static str>,
}

impl ScriptedGateway {
    pub fn new(clock: Arc<ManualClock>) -> ScriptedGateway {
        ScriptedGateway {
            clock,
            script: Mutex::default(),
            received: Mutex::default(),
            approved: Mutex::default(),
            declined: Mutex::default(),
            refunded: Mutex::default(),
            charges_for: None,
        }
    }

    /// Charges only orders whose `paymentGateway` is `gateway` (as the Toss
    /// adapter charges only `TOSS`).
    pub fn only_for(mut self, gateway: &'static str) -> ScriptedGateway {
        self.charges_for = Some(gateway);
        self
    }

    /// Answers for `billing_key`, in order; the last repeats.
    pub fn script(&self, billing_key: &str, answers: &[Answer]) {
        self.script
            .lock()
            .unwrap()
            .insert(billing_key.to_owned(), answers.iter().cloned().collect());
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Distinct approved charges: what the customer's statement shows.
    pub fn approved_count(&self) -> usize {
        self.approved.lock().unwrap().len()
    }

    fn next_answer(&self, key: &str) -> Answer {
        let mut script = self.script.lock().unwrap();
        match script.get_mut(key) {
            Some(q) if q.len() > 1 => q.pop_front().unwrap(),
            Some(q) => q.front().cloned().unwrap_or(Answer::Approve),
            None => Answer::Approve,
        }
    }
}

impl PaymentGateway for ScriptedGateway {
    fn charge(&self, req: ChargeRequest) -> BoxFuture<'_, Result<Receipt, ChargeError>> {
        Box::pin(async move {
            let receipt = Receipt {
                gateway_ref: format!("pg_{}", req.idempotency_key),
            };
            if self.approved.lock().unwrap().contains(&req.idempotency_key) {
                // A resend of an approved charge: the first answer again.
                return Ok(receipt);
            }
            let answer = self.next_answer(&req.billing_key);
            match answer {
                Answer::Hang => return std::future::pending().await,
                Answer::ApproveAfterMs(ms) => {
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await
                }
                _ => {}
            }
            let approved = matches!(
                answer,
                Answer::Approve | Answer::ApprovedThenLost | Answer::ApproveAfterMs(_)
            );
            self.received.lock().unwrap().push(Received {
                at_ms: self.clock.now_ms(),
                billing_key: req.billing_key.clone(),
                idempotency_key: req.idempotency_key.clone(),
                order_name: req.order_name.clone(),
                approved,
            });
            if approved {
                self.approved
                    .lock()
                    .unwrap()
                    .insert(req.idempotency_key.clone());
            }
            if let Answer::Decline(code) | Answer::DeclinedThenLost(code) = answer {
                self.declined
                    .lock()
                    .unwrap()
                    .insert(req.idempotency_key.clone(), code);
            }
            match answer {
                Answer::Approve | Answer::ApproveAfterMs(_) => Ok(receipt),
                Answer::Decline(code) => Err(ChargeError::Declined {
                    code: code.to_owned(),
                    reason: "카드사에서 거절했어요".to_owned(),
                }),
                Answer::Lost
                | Answer::ApprovedThenLost
                | Answer::DeclinedThenLost(_)
                | Answer::Hang => Err(ChargeError::Unavailable("scripted: no answer".to_owned())),
            }
        })
    }

    /// The card window approves at once: straight back to our return URL
    /// with an auth key, as the PG's window would.
    fn lookup(&self, idempotency_key: String) -> BoxFuture<'_, Result<Lookup, ChargeError>> {
        Box::pin(async move {
            let approved = self.approved.lock().unwrap().contains(&idempotency_key);
            let declined = self.declined.lock().unwrap().get(&idempotency_key).copied();
            Ok(match (approved, declined) {
                (true, _) => Lookup::Charged(Receipt {
                    gateway_ref: format!("pg_{idempotency_key}"),
                }),
                (false, Some(code)) => Lookup::Failed {
                    code: code.to_owned(),
                    reason: "카드사 거절".to_owned(),
                },
                (false, None) => Lookup::NotFound,
            })
        })
    }

    fn billing_auth(&self, req: &BillingAuthRequest) -> BillingAuthLaunch {
        BillingAuthLaunch::Redirect(format!(
            "{}&authKey=card1&customerKey={}",
            req.success_url, req.customer_key
        ))
    }

    fn issue_billing_key(
        &self,
        auth_key: String,
        _customer_key: String,
    ) -> BoxFuture<'_, Result<IssuedKey, ChargeError>> {
        Box::pin(async move {
            Ok(IssuedKey {
                billing_key: format!("new_{auth_key}"),
                payment_info: "새카드 5555*".to_owned(),
            })
        })
    }

    fn kind(&self) -> AdapterKind {
        AdapterKind::Sandbox
    }

    fn refund(
        &self,
        _gateway_ref: String,
        idempotency_key: String,
        _amount: i64,
        _reason: String,
    ) -> BoxFuture<'_, Result<(), ChargeError>> {
        Box::pin(async move {
            if self.approved.lock().unwrap().contains(&idempotency_key) {
                self.refunded.lock().unwrap().insert(idempotency_key);
                Ok(())
            } else {
                Err(ChargeError::Declined {
                    code: "NOT_FOUND_PAYMENT".into(),
                    reason: "결제를 찾을 수 없어요".into(),
                })
            }
        })
    }

    fn can_charge(&self, payment_gateway: &str) -> bool {
        self.charges_for.is_none_or(|g| g == payment_gateway)
    }
}
