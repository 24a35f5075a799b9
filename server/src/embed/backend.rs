//! The page's backend: resolves tokens, checks origins, decides which page
//! and messages a case calls for, and carries out the page's actions
//! (charge once, register a new card, change the date, remind later).

use app::backend::{BoxFuture, RecoveryBackend};
use app::copy::Lang;
use app::model::{
    CardWindowLink, CaseState, EmbedRequest, LinkParams, Notice, Outbox, PageError, PageKind,
    PageRequest, PageView, Payability, RecoveryView,
};
use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use protocol::{Action, Envelope, PageMessage, RedirectTarget};

use crate::charging::{Charged, Charger, Settled};
use crate::clock::{SharedClock, kst, kst_text};
use crate::domain::card_window::CardTicket;
use crate::domain::case::{ChargeSource, PageState};
use crate::domain::gateway_account::{Adapter, Route, route};
use crate::domain::retry::Blocked;
use crate::domain::token::{new_id, redact};
use crate::gateway::{BillingAuthLaunch, BillingAuthRequest, Gateways, SharedGateway};
use crate::store::{CaseRecord, CaseStatus, Store, StoreError};

/// What a pay attempt came to; the action handler turns it into a redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayResult {
    Paid,
    /// The card was declined; the case stays open. The reason is on the case.
    Declined,
    /// The PG's answer is unknown; the case stays PAYING and the same charge
    /// is resent on the next attempt.
    Unavailable,
    /// Another attempt is in flight, or the case was closed.
    Busy,
    /// Not now, or not with this card (the gates every charge passes);
    /// nothing was sent. The notice says what to do.
    Refused(Notice),
}

/// Why a date change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateRefusal {
    /// Not `YYYY-MM-DD`, or outside the partner's window.
    OutOfWindow,
    /// Moved as often as the scenario allows (`changeDateLimit`).
    Limit,
    Closed,
}

#[derive(Clone)]
pub struct StoreBackend {
    pub store: Store,
    pub gateways: Gateways,
    pub clock: SharedClock,
    /// Our public base URL; the PG's card window returns there.
    pub public_url: String,
    pub settled: Settled,
    /// Signs the card page's tickets (`domain::card_window`).
    pub link_key: crate::domain::token::LinkKey,
}

/// An embed id is a nonce the embedding page chose; anything odd is dropped
/// rather than echoed back into messages.
fn clean_embed_id(id: Option<String>) -> Option<String> {
    id.filter(|e| {
        (1..=64).contains(&e.len())
            && e.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The dates a customer may choose: tomorrow through `window_days` from
/// today, in Korean days.
pub fn date_window(now: DateTime<Utc>, window_days: i64) -> (NaiveDate, NaiveDate) {
    let today = now.with_timezone(&kst()).date_naive();
    let first = today + Days::new(1);
    let last = today + Days::new(window_days.clamp(1, 365) as u64);
    (first, last)
}

/// Parses the form's date and checks it against the window.
pub fn parse_selected_date(
    input: &str,
    now: DateTime<Utc>,
    window_days: i64,
) -> Result<NaiveDate, DateRefusal> {
    let date = NaiveDate::parse_from_str(input.trim(), "%Y-%m-%d")
        .map_err(|_| DateRefusal::OutOfWindow)?;
    let (first, last) = date_window(now, window_days);
    if date < first || date > last {
        return Err(DateRefusal::OutOfWindow);
    }
    Ok(date)
}

/// When the next stage is due after a date change: 10:00 Korean time on the
/// chosen day, a civil hour for a message.
fn stage_time_on(date: NaiveDate) -> i64 {
    date.and_hms_opt(10, 0, 0)
        .and_then(|t| kst().from_local_datetime(&t).single())
        .map(|t| t.timestamp_millis())
        .unwrap_or_default()
}

/// Partner-supplied image URLs are shown only over https (or from our own
/// host); anything else (`javascript:`, `data:`, plain http) is left out.
fn is_displayable_image(url: &str) -> bool {
    (url.starts_with("https://") || (url.starts_with('/') && !url.starts_with("//")))
        && !url.contains(['"', '<', '>', ' '])
}

type Resolved = (CaseRecord, String, Option<String>);

impl StoreBackend {
    pub fn of(state: &crate::state::AppState) -> StoreBackend {
        StoreBackend {
            store: state.store.clone(),
            gateways: state.gateways.clone(),
            clock: state.clock.clone(),
            public_url: state.config.public_url.clone(),
            settled: state.settled.clone(),
            link_key: state.config.link_key.clone(),
        }
    }

    /// The account that charges the case and issues its new cards: the
    /// partner's own for the order's PG, else the server-wide gateway if
    /// it reaches that PG.
    fn adapter_of(&self, case: &CaseRecord) -> Option<Adapter> {
        case.own_account
            .map(|(a, _)| a)
            .or_else(|| self.gateways.server_wide_for(&case.payment_gateway))
    }

    fn route_of(&self, case: &CaseRecord) -> Result<Route, Blocked> {
        route(
            case.own_account.map(|(a, _)| a),
            self.gateways.server_wide_for(&case.payment_gateway),
            case.id_key.is_some(),
            case.customer_key.as_deref(),
            &case.partner_customer_id,
        )
    }

    /// Real money moves through the case's account; otherwise the page says
    /// it is in test mode.
    fn livemode(&self, case: &CaseRecord) -> bool {
        match case.own_account {
            Some((_, live)) => live,
            None => self.gateways.server_wide().livemode(),
        }
    }

    /// Whether the page offers paying: not without an account for the
    /// order's PG (the shop handles it), and only a new card when the key
    /// on file cannot be charged from here (no key, or a Toss key whose
    /// customer key nobody named).
    fn payability(&self, case: &CaseRecord) -> Payability {
        match self.route_of(case) {
            Err(Blocked::NoAdapter) => Payability::Elsewhere,
            Err(_) => Payability::NewCardFirst,
            Ok(_) if case.id_key.is_none() => Payability::NewCardFirst,
            Ok(_) => Payability::Here,
        }
    }

    /// The adapter of the case's account, for the card window.
    async fn card_window_of(&self, case: &CaseRecord) -> Option<SharedGateway> {
        let account = self.adapter_of(case)?;
        match self.gateways.adapter(account.account_id).await {
            Ok(adapter) => Some(adapter),
            Err(e) => {
                tracing::error!(error = %e, case_id = case.id, "the case's gateway account is unusable");
                None
            }
        }
    }

    fn unavailable(&self, e: StoreError, token: &str) -> PageError {
        tracing::error!(error = %e, token = %redact(token), "recovery store");
        PageError::Unavailable
    }

    /// The case behind the token and where its messages may go (origin,
    /// embed id).
    pub async fn resolve(&self, req: &EmbedRequest) -> Result<Resolved, PageError> {
        if !super::headers::is_token_shaped(&req.token) {
            return Err(PageError::UnknownToken);
        }
        let case = self
            .store
            .case_by_token(&crate::domain::token::TokenKey::of(&req.token))
            .await
            .map_err(|e| self.unavailable(e, &req.token))?
            .ok_or(PageError::UnknownToken)?;
        let origin = case
            .origins
            .resolve(req.origin.as_deref())
            .ok_or_else(|| {
                tracing::warn!(requested = ?req.origin, token = %redact(&req.token), "embed origin not registered");
                PageError::OriginNotAllowed
            })?
            .as_str()
            .to_owned();
        Ok((case, origin, clean_embed_id(req.embed_id.clone())))
    }

    fn message(&self, action: Action, embed_id: &Option<String>) -> PageMessage {
        PageMessage {
            action,
            envelope: Some(Envelope {
                message_id: new_id(),
                embed_id: embed_id.clone(),
                sent_at: self
                    .clock
                    .now()
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            }),
        }
    }

    /// The page to show for a request: the one asked for when the case's
    /// state bears it out, else the main page. Result pages post the
    /// message of what happened; a URL alone cannot make the page claim
    /// something that did not.
    fn decide(&self, req: &PageRequest, case: &CaseRecord) -> (PageKind, Vec<Action>) {
        let token = req.embed.token.clone();
        // Payable (an ended scenario too) or charging right now.
        let open = matches!(
            case.status.page_state(),
            PageState::Payable | PageState::Charging
        );
        let reschedulable = case.status.can_reschedule();
        let method_changed = req.method_changed && case.method_changed_at_ms.is_some();
        let change_method = || Action::ChangeMethod {
            token: token.clone(),
            order_id: case.partner_order_id.clone(),
        };
        match req.kind {
            // Paid through this page: a case the partner closed some other
            // way shows the main page, which says it is settled.
            PageKind::Paid if case.status == CaseStatus::Recovered && case.paid_here => {
                let complete = Action::PaymentComplete {
                    payment_info: case.payment_info.clone().unwrap_or_default(),
                    payment_date: case
                        .paid_at_ms
                        .map(|ms| kst_text(ms, "%Y-%m-%d %H:%M:%S"))
                        .unwrap_or_default(),
                    token: token.clone(),
                    order_id: case.partner_order_id.clone(),
                };
                let mut actions = Vec::new();
                if method_changed {
                    actions.push(change_method());
                }
                actions.push(complete);
                (PageKind::Paid, actions)
            }
            PageKind::Failed if open && case.last_decline.is_some() => {
                let mut actions = Vec::new();
                if method_changed {
                    actions.push(change_method());
                }
                actions.push(Action::PaymentFailed {
                    reason: case.last_decline.clone().unwrap_or_default(),
                    token: token.clone(),
                });
                (PageKind::Failed, actions)
            }
            PageKind::DateChanged if reschedulable && case.selected_date.is_some() => (
                PageKind::DateChanged,
                vec![Action::ChangeDate {
                    order_id: case.partner_order_id.clone(),
                    selected_date: case.selected_date.clone().unwrap_or_default(),
                }],
            ),
            PageKind::Reminded if reschedulable && case.remind_count > 0 => {
                (PageKind::Reminded, vec![])
            }
            PageKind::Method if open => (req.kind, vec![]),
            PageKind::Date if reschedulable => (req.kind, vec![]),
            PageKind::Home => (
                PageKind::Home,
                vec![Action::Redirect {
                    target: RedirectTarget::Home,
                }],
            ),
            _ => (PageKind::Main, vec![]),
        }
    }

    async fn load_page(&self, req: PageRequest) -> Result<PageView, PageError> {
        let (case, origin, embed_id) = self.resolve(&req.embed).await?;
        let (kind, actions) = self.decide(&req, &case);
        let mut messages = vec![self.message(Action::Ready, &embed_id)];
        messages.extend(actions.into_iter().map(|a| self.message(a, &embed_id)));
        let state = match case.status.page_state() {
            PageState::Payable | PageState::Charging => CaseState::Open,
            PageState::Recovered => CaseState::Recovered {
                paid_at: case
                    .paid_at_ms
                    .map(|ms| kst_text(ms, "%Y-%m-%d %H:%M"))
                    .unwrap_or_default(),
            },
            PageState::Closed => CaseState::Closed,
        };
        let (date_min, date_max) =
            date_window(self.clock.now(), case.scenario.change_date_window_days);
        let (test_mode, pay) = (!self.livemode(&case), self.payability(&case));
        let back = case.origins.way_back(req.embed.back.as_deref());
        // The card page's address, minted where the button is shown: a new
        // window each time the page is shown, valid for a while.
        let card_window = (kind == PageKind::Method && pay != Payability::Elsewhere).then(|| {
            let ticket = CardTicket::issue(case.id, self.clock.now().timestamp_millis());
            let mut pairs = vec![("t", ticket.sign(&self.link_key))];
            if req.lang == Lang::En {
                pairs.push(("lang", "en".to_owned()));
            }
            if let Some(b) = &back {
                pairs.push(("back", b.clone()));
            }
            let url = format!(
                "{}?{}",
                super::card::CARD_PAGE,
                serde_urlencoded::to_string(&pairs).unwrap_or_default()
            );
            CardWindowLink {
                url,
                window_id: ticket.window_id,
            }
        });
        let view = RecoveryView {
            business_name: case.business_name,
            customer_name: crate::domain::customer::masked_name(&case.customer_name),
            phone_last4: crate::domain::customer::phone_last4(&case.customer_phone),
            product_name: case.product_name,
            product_image_url: case.product_image_url.filter(|u| is_displayable_image(u)),
            amount: case.amount,
            failed_at: kst_text(case.failed_at_ms, "%Y-%m-%d %H:%M"),
            failure_reason: case.failure_reason,
            payment_info: case.payment_info,
            state,
            test_mode,
            pay,
            remind_left: (case.scenario.remind_limit - case.remind_count).max(0) as u32,
            date_changes_left: (case.scenario.change_date_limit - case.date_change_count).max(0)
                as u32,
            can_reschedule: case.status.can_reschedule(),
            date_min: date_min.to_string(),
            date_max: date_max.to_string(),
            selected_date: case.selected_date,
            last_decline: case.last_decline,
            card_window,
        };
        Ok(PageView {
            kind,
            view,
            link: LinkParams {
                token: req.embed.token,
                origin: origin.clone(),
                embed_id: embed_id.clone(),
                lang: req.lang,
                back,
            },
            outbox: Outbox {
                origin,
                embed_id,
                messages,
            },
        })
    }

    fn charger(&self) -> Charger {
        Charger {
            store: self.store.clone(),
            gateways: self.gateways.clone(),
            clock: self.clock.clone(),
            settled: self.settled.clone(),
        }
    }

    /// Charges the case's amount with the order's billing key, once however
    /// many requests arrive (`Charger`: the first claims the case, the rest
    /// see it busy or paid).
    pub async fn pay(&self, req: &EmbedRequest) -> Result<PayResult, PageError> {
        self.pay_as(req, ChargeSource::Page).await
    }

    async fn pay_as(
        &self,
        req: &EmbedRequest,
        source: ChargeSource,
    ) -> Result<PayResult, PageError> {
        let (case, _, _) = self.resolve(req).await?;
        self.pay_case(&case, source).await
    }

    /// Charges a case already read (by token or by a card window's ticket).
    async fn pay_case(
        &self,
        case: &CaseRecord,
        source: ChargeSource,
    ) -> Result<PayResult, PageError> {
        match case.status.page_state() {
            PageState::Payable | PageState::Charging => {}
            PageState::Recovered => return Ok(PayResult::Paid),
            PageState::Closed => return Err(PageError::AlreadyClosed),
        }
        let charged = self.charger().charge(case.id, source).await.map_err(|e| {
            tracing::error!(error = %e, case_id = case.id, "charging from the page");
            PageError::Unavailable
        })?;
        Ok(match charged {
            Charged::Paid => PayResult::Paid,
            Charged::Declined(_) => PayResult::Declined,
            Charged::Unknown => PayResult::Unavailable,
            Charged::Busy(CaseStatus::Recovered) => PayResult::Paid,
            Charged::Busy(CaseStatus::Canceled) | Charged::ClosedMeanwhile => {
                return Err(PageError::AlreadyClosed);
            }
            Charged::Busy(_) => PayResult::Busy,
            Charged::Blocked(blocked) => match blocked {
                Blocked::DailyLimit { .. } => PayResult::Refused(Notice::AttemptLimit),
                Blocked::NightWindow { .. } => PayResult::Refused(Notice::Maintenance),
                Blocked::HardDecline
                | Blocked::Budget
                | Blocked::NoBillingKey
                | Blocked::NoCustomerKey => PayResult::Refused(Notice::NewCard),
                Blocked::NoAdapter | Blocked::GatewayProblem => {
                    PayResult::Refused(Notice::NotPayableHere)
                }
                // Only silent retries are planned again.
                Blocked::Replanned(_) => PayResult::Busy,
            },
        })
    }

    /// The card page's launch of the PG's window for the case a ticket
    /// names: the window returns to our card routes with the ticket, never
    /// with the recovery token. `None`: no account here issues cards for
    /// the order's PG.
    pub async fn launch_card_window(
        &self,
        case: &CaseRecord,
        return_query: &str,
    ) -> Option<BillingAuthLaunch> {
        let window = self.card_window_of(case).await?;
        let base = self.public_url.trim_end_matches('/');
        Some(
            window.billing_auth(&BillingAuthRequest {
                customer_key: case
                    .customer_key
                    .clone()
                    .unwrap_or_else(|| format!("rb_c_{}", new_id())),
                customer_name: crate::domain::customer::masked_name(&case.customer_name),
                success_url: format!("{base}{}?{return_query}", super::card::CARD_RETURN),
                fail_url: format!("{base}{}?{return_query}", super::card::CARD_CANCEL),
            }),
        )
    }

    /// The card window came back with an auth key (Toss) or the new key
    /// itself (PortOne, the sandbox): issue or read back the billing key,
    /// store it on the order (the partner reads it with
    /// `GET /order/{token}/idKey`), then charge it once. `Err(())`: the PG
    /// did not register the card.
    pub async fn complete_card_window(
        &self,
        case: &CaseRecord,
        auth_key: String,
        customer_key: Option<String>,
    ) -> Result<Result<PayResult, ()>, PageError> {
        match case.status.page_state() {
            PageState::Payable | PageState::Charging => {}
            PageState::Recovered => return Ok(Ok(PayResult::Paid)),
            PageState::Closed => return Err(PageError::AlreadyClosed),
        }
        let Some(window) = self.card_window_of(case).await else {
            return Ok(Ok(PayResult::Refused(Notice::NotPayableHere)));
        };
        // Toss issues a key under the customer key its window was opened
        // with; PortOne's key stands alone.
        let customer_key = customer_key.filter(|k| !k.is_empty());
        let issued = match window
            .issue_billing_key(auth_key, customer_key.clone().unwrap_or_default())
            .await
        {
            Ok(issued) => issued,
            Err(e) => {
                tracing::info!(error = %e, case_id = case.id, "billing key not issued");
                return Ok(Err(()));
            }
        };
        let now = self.clock.now().timestamp_millis();
        let stored = self
            .store
            .replace_billing_key(
                case.id,
                &issued.billing_key,
                customer_key.as_deref(),
                &issued.payment_info,
                now,
            )
            .await
            .map_err(|e| {
                tracing::error!(error = %e, case_id = case.id, "storing a new card");
                PageError::Unavailable
            })?;
        if !stored {
            return Ok(Ok(PayResult::Busy));
        }
        tracing::info!(case_id = case.id, "payment method changed");
        self.pay_case(case, ChargeSource::MethodChange)
            .await
            .map(Ok)
    }

    pub async fn change_date(
        &self,
        req: &EmbedRequest,
        selected: &str,
    ) -> Result<Result<(), DateRefusal>, PageError> {
        let (case, _, _) = self.resolve(req).await?;
        if !case.status.can_reschedule() {
            return Ok(Err(DateRefusal::Closed));
        }
        if case.date_change_count >= case.scenario.change_date_limit {
            return Ok(Err(DateRefusal::Limit));
        }
        let date = match parse_selected_date(
            selected,
            self.clock.now(),
            case.scenario.change_date_window_days,
        ) {
            Ok(d) => d,
            Err(r) => return Ok(Err(r)),
        };
        let changed = self
            .store
            .change_date(
                case.id,
                &date.to_string(),
                case.scenario.change_date_limit,
                stage_time_on(date),
                self.clock.now().timestamp_millis(),
            )
            .await
            .map_err(|e| self.unavailable(e, &req.token))?;
        Ok(if changed {
            Ok(())
        } else {
            Err(DateRefusal::Closed)
        })
    }

    /// Postpones the next stage by a day; false once the limit is reached.
    pub async fn remind_later(&self, req: &EmbedRequest) -> Result<bool, PageError> {
        let (case, _, _) = self.resolve(req).await?;
        let now = self.clock.now().timestamp_millis();
        let next = now + 24 * 3600 * 1000;
        self.store
            .remind_later(case.id, case.scenario.remind_limit, next, now)
            .await
            .map_err(|e| self.unavailable(e, &req.token))
    }
}

impl RecoveryBackend for StoreBackend {
    fn load(&self, req: PageRequest) -> BoxFuture<'_, Result<PageView, PageError>> {
        Box::pin(self.load_page(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embed_ids_are_short_safe_nonces() {
        assert_eq!(
            clean_embed_id(Some("a1-B_2".into())).as_deref(),
            Some("a1-B_2")
        );
        assert_eq!(clean_embed_id(Some(String::new())), None);
        assert_eq!(clean_embed_id(Some("<script>".into())), None);
        assert_eq!(clean_embed_id(Some("x".repeat(65))), None);
        assert_eq!(clean_embed_id(None), None);
    }

    #[test]
    fn only_https_or_own_images_are_shown() {
        assert!(is_displayable_image("https://cdn.example.com/a.png"));
        assert!(is_displayable_image("/demo-product.svg"));
        for bad in [
            "http://cdn.example.com/a.png",
            "javascript:alert(1)",
            "data:image/png;base64,x",
            "//evil.example/a.png",
            "",
        ] {
            assert!(!is_displayable_image(bad), "{bad}");
        }
    }

    #[test]
    fn times_are_shown_in_kst() {
        // 2026-11-22T04:05:00Z is 13:05 in Seoul.
        let ms = Utc
            .with_ymd_and_hms(2026, 11, 22, 4, 5, 0)
            .unwrap()
            .timestamp_millis();
        assert_eq!(kst_text(ms, "%Y-%m-%d %H:%M"), "2026-11-22 13:05");
    }

    #[test]
    fn the_date_window_is_tomorrow_to_the_partners_limit_in_korean_days() {
        // 2026-11-22 16:00 UTC is already 2026-11-23 01:00 in Seoul.
        let late = Utc.with_ymd_and_hms(2026, 11, 22, 16, 0, 0).unwrap();
        let (first, last) = date_window(late, 14);
        assert_eq!(first.to_string(), "2026-11-24");
        assert_eq!(last.to_string(), "2026-12-07");
        assert!(parse_selected_date("2026-11-24", late, 14).is_ok());
        assert!(parse_selected_date(" 2026-12-07 ", late, 14).is_ok());
        for bad in [
            "2026-11-23",
            "2026-12-08",
            "2026-13-01",
            "tomorrow",
            "",
            "2026-11-30T00:00",
        ] {
            assert_eq!(
                parse_selected_date(bad, late, 14),
                Err(DateRefusal::OutOfWindow),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_changed_date_is_due_at_ten_in_seoul() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        assert_eq!(
            kst_text(stage_time_on(d), "%Y-%m-%d %H:%M"),
            "2026-11-30 10:00"
        );
    }
}
