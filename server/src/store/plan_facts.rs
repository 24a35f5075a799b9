//! What the retry planner and the charge gates read about cases, gathered
//! for a whole batch in three statements inside the caller's transaction:
//! the cases with their orders, partners and scenarios; their charges; and
//! each current key's attempts in 30 days. The planner (`replan`) and the
//! claim (`claim_charges`) read the same facts, so a charge is gated by the
//! very rules that planned it.

use std::collections::HashMap;

use chrono::NaiveDate;
use sqlx::{Any, FromRow, Transaction};

use super::StoreError;
use super::cases::stored_scenario;
use crate::domain::case::{CaseStatus, ChargeSource, ChargeStatus};
use crate::domain::decline::{CodeSource, Decline, DeclineClass, Wait, classify};
use crate::domain::experiment::ArmKind;
use crate::domain::gateway_account::{Adapter, AdapterKind, CustomerKeyRule, Route, route};
use crate::domain::retry::{self, Attempt, Blocked, RetryFacts, RetryPolicy};
use crate::domain::scenario::Scenario;

/// One case, as the planner and the gates see it.
#[derive(Debug, Clone)]
pub struct CaseFacts {
    pub status: CaseStatus,
    pub failed_at_ms: i64,
    /// The partner's decline of the renewal, while the case still holds the
    /// key it was declined with.
    pub initial_decline: Option<Decline>,
    pub chosen_date: Option<NaiveDate>,
    pub ended: bool,
    pub has_billing_key: bool,
    /// The order's `paymentGateway`.
    pub payment_gateway: String,
    /// The partner's own account for that PG, if it has one.
    pub own_adapter: Option<Adapter>,
    /// The customer key the order names for its billing key (the
    /// partner's `customerKey`, or ours for a key Rebound issued).
    pub order_customer_key: Option<String>,
    pub partner_customer_id: String,
    /// The PG refused the partner's credentials on several cases.
    pub gateway_problem: bool,
    /// The scenario version the case opened with.
    pub scenario: Scenario,
    /// The partner's current scenario has silent retries on: turning them
    /// off stops every case's retries at once, not only new cases'.
    pub partner_retries_on: bool,
    /// The case's charges, oldest first, each at the moment it last reached
    /// the PG (a charge resent after an outage counts on the day it went).
    pub attempts: Vec<Attempt>,
    /// Charges of the current key in the last 30 days, on any case.
    pub key_attempts_30d: i64,
    /// Today's charges people asked for on this case (page, card change,
    /// console).
    pub customer_today: i64,
    /// When charges of the current key reached the PG for other cases in
    /// the last 30 days.
    pub key_charged_at: Vec<i64>,
    /// The case's minute in the retry hour.
    pub spread_ms: i64,
    /// The case is in an experiment's holdout: Rebound starts nothing by
    /// itself, so no silent retries; a date the customer chose is still
    /// charged.
    pub holdout: bool,
}

impl CaseFacts {
    /// The case's retry policy, off when the partner has turned retries off
    /// since the case opened.
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            enabled: self.scenario.retries.enabled && self.partner_retries_on,
            ladder_days: if self.holdout {
                Vec::new()
            } else {
                self.scenario.retries.ladder_days.clone()
            },
            ..self.scenario.retries.clone()
        }
    }

    pub fn retry_facts(&self, now_ms: i64) -> RetryFacts<'_> {
        RetryFacts {
            failed_at_ms: self.failed_at_ms,
            now_ms,
            attempts: &self.attempts,
            initial_decline: self.initial_decline,
            key_attempts_30d: self.key_attempts_30d,
            chosen_date: self.chosen_date,
            key_charged_at: &self.key_charged_at,
            spread_ms: self.spread_ms,
        }
    }

    /// Which account charges the case, with which customer key
    /// (`gateway_account::route`), given the order's customer key.
    pub fn route(
        &self,
        server_wide: ServerWide<'_>,
        order_customer_key: Option<&str>,
    ) -> Result<Route, Blocked> {
        route(
            self.own_adapter,
            server_wide(&self.payment_gateway),
            self.has_billing_key,
            order_customer_key,
            &self.partner_customer_id,
        )
    }

    /// The gates a charge from `source` passes now (`retry::gate`), with
    /// the partner's and the account's on top; the route the charge takes.
    pub fn gate(
        &self,
        source: ChargeSource,
        now_ms: i64,
        server_wide: ServerWide<'_>,
    ) -> Result<Route, Blocked> {
        if self.gateway_problem {
            return Err(Blocked::GatewayProblem);
        }
        let adapter = self.route(server_wide, self.order_customer_key.as_deref());
        if let Err(Blocked::NoAdapter) = adapter {
            return Err(Blocked::NoAdapter);
        }
        retry::gate(
            &self.policy(),
            &self.retry_facts(now_ms),
            source,
            self.has_billing_key,
            self.customer_today,
        )?;
        adapter
    }
}

/// The server-wide gateway's answer for an order's `paymentGateway`
/// (`Gateways::server_wide_for`).
pub type ServerWide<'a> = &'a (dyn Fn(&str) -> Option<Adapter> + Sync);

#[derive(FromRow)]
struct CaseRow {
    id: i64,
    partner_id: i64,
    status: String,
    failed_at: i64,
    failure_code: Option<String>,
    selected_date: Option<String>,
    method_changed_at: Option<i64>,
    ended_at: Option<i64>,
    id_key: Option<String>,
    payment_gateway: String,
    billing_customer_key: Option<String>,
    partner_customer_id: String,
    account_id: Option<i64>,
    account_kind: Option<AdapterKind>,
    account_keys: Option<CustomerKeyRule>,
    gateway_problem: i64,
    scenario_id: Option<i64>,
    definition: Option<String>,
    holdout: i64,
}

#[derive(FromRow)]
struct ChargeRow {
    case_id: i64,
    reached_at: i64,
    created_at: i64,
    source: String,
    status: String,
    decline_code: Option<String>,
    decline_class: Option<String>,
    billing_key: Option<String>,
}

/// What a stored decline class and code say about waiting. The class is
/// the gateway's verdict; the code refines a soft one.
fn stored_decline(class: Option<&str>, code: Option<&str>) -> Result<Decline, StoreError> {
    Ok(match class.map(DeclineClass::parse).transpose()? {
        Some(DeclineClass::Soft) => match code.map(|c| classify(CodeSource::Partner, c)) {
            Some(Decline::Soft(wait)) => Decline::Soft(wait),
            _ => Decline::Soft(Wait::Soon),
        },
        Some(DeclineClass::Hard) => Decline::Hard,
        Some(DeclineClass::Setup) => Decline::Setup,
        Some(DeclineClass::Unknown) | None => Decline::Unknown,
    })
}

/// The facts of each of `case_ids` (missing ids are left out).
pub(super) async fn case_facts(
    tx: &mut Transaction<'_, Any>,
    case_ids: &[i64],
    now_ms: i64,
) -> Result<HashMap<i64, CaseFacts>, StoreError> {
    let mut out = HashMap::with_capacity(case_ids.len());
    for chunk in case_ids.chunks(super::IDS_PER_STATEMENT) {
        let ids = super::id_list(chunk);
        let cases: Vec<CaseRow> = sqlx::query_as(&format!(
            "SELECT c.id, c.partner_id, c.status, c.failed_at, c.failure_code, c.selected_date, c.method_changed_at, \
                    c.ended_at, o.id_key, o.payment_gateway, o.billing_customer_key, cu.partner_customer_id, \
                    ga.id AS account_id, ga.kind AS account_kind, ga.customer_keys AS account_keys, \
                    CAST(CASE WHEN p.gateway_problem IS NULL THEN 0 ELSE 1 END AS BIGINT) AS gateway_problem, \
                    c.scenario_id, s.definition, \
                    CAST(CASE WHEN xa.kind = '{holdout}' THEN 1 ELSE 0 END AS BIGINT) AS holdout \
             FROM recovery_cases c JOIN orders o ON o.id = c.order_id \
             JOIN customers cu ON cu.id = o.customer_id \
             JOIN partners p ON p.id = c.partner_id \
             LEFT JOIN gateway_accounts ga ON ga.partner_id = c.partner_id \
                  AND ga.payment_gateway = o.payment_gateway AND ga.retired_at IS NULL \
             LEFT JOIN scenarios s ON s.id = c.scenario_id \
             LEFT JOIN experiment_arms xa ON xa.experiment_id = c.experiment_id \
                  AND xa.position = c.experiment_arm \
             WHERE c.id IN ({ids})",
            holdout = ArmKind::Holdout.as_str()
        ))
        .persistent(false)
        .fetch_all(&mut **tx)
        .await?;
        let charges: Vec<ChargeRow> = sqlx::query_as(&format!(
            "SELECT case_id, COALESCE(sent_at, created_at) AS reached_at, created_at, source, status, \
                    decline_code, decline_class, billing_key \
             FROM charges WHERE case_id IN ({ids}) ORDER BY case_id, id"
        ))
        .persistent(false)
        .fetch_all(&mut **tx)
        .await?;
        // Every charge of each case's current key in 30 days, on any case:
        // the key's budget, and the days it was charged on.
        let on_key: Vec<(i64, i64, i64)> = sqlx::query_as(&format!(
            "SELECT c.id, ch.case_id, COALESCE(ch.sent_at, ch.created_at) \
             FROM recovery_cases c JOIN orders o ON o.id = c.order_id \
             JOIN charges ch ON ch.billing_key = o.id_key AND ch.created_at > $1 \
             WHERE c.id IN ({ids})"
        ))
        .persistent(false)
        .bind(now_ms - retry::BUDGET_WINDOW_MS)
        .fetch_all(&mut **tx)
        .await?;
        let mut budgets: HashMap<i64, i64> = HashMap::new();
        let mut elsewhere: HashMap<i64, Vec<i64>> = HashMap::new();
        for (case_id, charged_case, reached_at) in on_key {
            *budgets.entry(case_id).or_default() += 1;
            if charged_case != case_id {
                elsewhere.entry(case_id).or_default().push(reached_at);
            }
        }
        // Each partner's current retry switch, read once per partner.
        let mut partners: Vec<i64> = cases.iter().map(|c| c.partner_id).collect();
        partners.sort_unstable();
        partners.dedup();
        let current: Vec<(i64, String)> = if partners.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as(&format!(
            "SELECT s.partner_id, s.definition FROM scenarios s \
             WHERE s.partner_id IN ({}) \
               AND s.version = (SELECT MAX(v.version) FROM scenarios v WHERE v.partner_id = s.partner_id)",
            super::id_list(&partners)
        ))
            .persistent(false)
            .fetch_all(&mut **tx)
            .await?
        };
        let mut retries_on: HashMap<i64, bool> = HashMap::with_capacity(current.len());
        for (partner, definition) in current {
            retries_on.insert(partner, stored_scenario(Some(&definition))?.retries.enabled);
        }
        let mut by_case: HashMap<i64, Vec<ChargeRow>> = HashMap::new();
        for ch in charges {
            by_case.entry(ch.case_id).or_default().push(ch);
        }
        let today = retry::day_start(now_ms);
        // A batch's cases share a few scenario versions: each parsed once.
        let mut scenarios: HashMap<Option<i64>, Scenario> = HashMap::new();
        for c in cases {
            let scenario = match scenarios.get(&c.scenario_id) {
                Some(s) => s.clone(),
                None => {
                    let s = stored_scenario(c.definition.as_deref())?;
                    scenarios.insert(c.scenario_id, s.clone());
                    s
                }
            };
            let mut attempts = Vec::new();
            let mut customer_today = 0;
            for ch in by_case.remove(&c.id).unwrap_or_default() {
                let source = ChargeSource::parse(&ch.source)?;
                let decline = match ChargeStatus::parse(&ch.status)? {
                    ChargeStatus::Failed => Some(stored_decline(
                        ch.decline_class.as_deref(),
                        ch.decline_code.as_deref(),
                    )?),
                    _ => None,
                };
                if !source.is_silent() && ch.created_at >= today {
                    customer_today += 1;
                }
                attempts.push(Attempt {
                    at_ms: ch.reached_at,
                    source,
                    decline,
                    current_key: ch.billing_key.is_some() && ch.billing_key == c.id_key,
                });
            }
            out.insert(
                c.id,
                CaseFacts {
                    status: CaseStatus::parse(&c.status)?,
                    failed_at_ms: c.failed_at,
                    // The partner's decline was about the key it declined.
                    initial_decline: match c.method_changed_at {
                        None => c
                            .failure_code
                            .as_deref()
                            .map(|code| classify(CodeSource::Partner, code)),
                        Some(_) => None,
                    },
                    chosen_date: c
                        .selected_date
                        .as_deref()
                        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()),
                    ended: c.ended_at.is_some(),
                    has_billing_key: c.id_key.is_some(),
                    payment_gateway: c.payment_gateway,
                    own_adapter: match (c.account_id, c.account_kind) {
                        (Some(id), Some(kind)) => Some(Adapter {
                            account_id: Some(id),
                            kind,
                            customer_keys: c.account_keys.unwrap_or_default(),
                        }),
                        _ => None,
                    },
                    order_customer_key: c.billing_customer_key,
                    partner_customer_id: c.partner_customer_id,
                    gateway_problem: c.gateway_problem != 0,
                    scenario,
                    // No version stored: the built-in default, retries on.
                    partner_retries_on: retries_on.get(&c.partner_id).copied().unwrap_or(true),
                    attempts,
                    key_attempts_30d: budgets.get(&c.id).copied().unwrap_or(0),
                    customer_today,
                    key_charged_at: elsewhere.remove(&c.id).unwrap_or_default(),
                    spread_ms: retry::slot_spread_ms(c.id),
                    holdout: c.holdout != 0,
                },
            );
        }
    }
    Ok(out)
}
