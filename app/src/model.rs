//! What the server hands the page. Plain data, serializable so it can travel
//! through server functions and island props.

use protocol::PageMessage;
use serde::{Deserialize, Serialize};

use crate::copy::Lang;

/// What the iframe URL asked for: `?token=&origin=&embedId=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedRequest {
    pub token: String,
    /// The partner page's origin, as the embed snippet put it in the URL.
    /// Optional for StepCover partners that forward only `?token=`.
    pub origin: Option<String>,
    pub embed_id: Option<String>,
    /// The partner page's address, where a card window that took the whole
    /// tab goes back to (`embed.js` passes it); checked by the server.
    pub back: Option<String>,
}

/// The pages of design section 3. Action pages (`Method`, `Date`) show a
/// form; result pages are where the server sends the customer after an
/// action, and post that action's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PageKind {
    Main,
    Method,
    Date,
    Paid,
    Failed,
    DateChanged,
    Reminded,
    Home,
}

impl PageKind {
    pub const ALL: [PageKind; 8] = [
        PageKind::Main,
        PageKind::Method,
        PageKind::Date,
        PageKind::Paid,
        PageKind::Failed,
        PageKind::DateChanged,
        PageKind::Reminded,
        PageKind::Home,
    ];

    /// The page's path; every page shares the query (`token`, `origin`,
    /// `embedId`, `lang`).
    pub fn path(self) -> &'static str {
        match self {
            PageKind::Main => "/embed/recovery",
            PageKind::Method => "/embed/recovery/method",
            PageKind::Date => "/embed/recovery/date",
            PageKind::Paid => "/embed/recovery/paid",
            PageKind::Failed => "/embed/recovery/failed",
            PageKind::DateChanged => "/embed/recovery/date-changed",
            PageKind::Reminded => "/embed/recovery/reminded",
            PageKind::Home => "/embed/recovery/home",
        }
    }
}

/// Form targets: every action is a plain form post, handled by the server
/// and answered with a redirect to a result page, so it works without WASM.
pub mod actions {
    pub const PAY: &str = "/embed/recovery/action/pay";
    /// What became of a card window the page opened (JSON, polled).
    pub const CARD_STATUS: &str = "/embed/recovery/method/status";
    pub const DATE: &str = "/embed/recovery/action/date";
    pub const REMIND: &str = "/embed/recovery/action/remind";
}

/// A short status the server asks a page to show after a redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Notice {
    /// The PG could not be reached; nothing was charged twice, try again.
    Unavailable,
    /// The customer pressed pay too often today (the card networks' rules).
    AttemptLimit,
    /// The card companies' night maintenance (23:30-00:40 KST): later.
    Maintenance,
    /// This card will not be charged again (declined for good, or its
    /// attempts used up): a new card.
    NewCard,
    /// Nothing can be charged here now (the shop's payment setup): the
    /// shop will see to the payment.
    NotPayableHere,
    /// Remind-later was already used the maximum number of times.
    RemindLimit,
    /// The chosen date is outside the allowed window.
    BadDate,
    /// The date was already moved the maximum number of times.
    DateLimit,
    /// The customer closed the card window.
    AuthCanceled,
    /// The card could not be registered.
    AuthFailed,
}

impl Notice {
    pub fn code(self) -> &'static str {
        match self {
            Notice::Unavailable => "unavailable",
            Notice::AttemptLimit => "attempt-limit",
            Notice::Maintenance => "maintenance",
            Notice::NewCard => "new-card",
            Notice::NotPayableHere => "not-payable-here",
            Notice::RemindLimit => "remind-limit",
            Notice::BadDate => "bad-date",
            Notice::DateLimit => "date-limit",
            Notice::AuthCanceled => "auth-canceled",
            Notice::AuthFailed => "auth-failed",
        }
    }

    pub fn from_code(code: &str) -> Option<Notice> {
        [
            Notice::Unavailable,
            Notice::AttemptLimit,
            Notice::Maintenance,
            Notice::NewCard,
            Notice::NotPayableHere,
            Notice::RemindLimit,
            Notice::BadDate,
            Notice::DateLimit,
            Notice::AuthCanceled,
            Notice::AuthFailed,
        ]
        .into_iter()
        .find(|n| n.code() == code)
    }
}

/// One page load: which page, for which iframe URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    pub embed: EmbedRequest,
    pub kind: PageKind,
    /// The customer arrives from registering a new card (`changed=method`):
    /// the result page also posts `change-method`.
    pub method_changed: bool,
    pub lang: Lang,
}

/// The parameters every link and form on the page carries forward. Built by
/// the server after it checked the origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkParams {
    pub token: String,
    pub origin: String,
    pub embed_id: Option<String>,
    pub lang: Lang,
    /// The partner page's address, on one of its registered origins.
    pub back: Option<String>,
}

impl LinkParams {
    /// `(name, value)` pairs, for query strings and hidden form fields.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let mut pairs = vec![
            ("token".to_owned(), self.token.clone()),
            ("origin".to_owned(), self.origin.clone()),
        ];
        if let Some(e) = &self.embed_id {
            pairs.push(("embedId".to_owned(), e.clone()));
        }
        if self.lang != Lang::Ko {
            pairs.push(("lang".to_owned(), self.lang.code().to_owned()));
        }
        if let Some(b) = &self.back {
            pairs.push(("back".to_owned(), b.clone()));
        }
        pairs
    }

    pub fn href(&self, path: &str) -> String {
        let query: Vec<String> = self
            .pairs()
            .into_iter()
            .map(|(k, v)| format!("{k}={}", crate::links::encode(&v)))
            .collect();
        format!("{path}?{}", query.join("&"))
    }
}

/// What the page can do about the payment itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payability {
    /// Pay now, or register another card and pay with it.
    Here,
    /// The card on file cannot be charged from here (the PG would refuse
    /// it): only a new card will pay.
    NewCardFirst,
    /// No gateway account here reaches the order's PG: the shop handles
    /// the payment; the page offers what still works (date, reminder, home).
    Elsewhere,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaseState {
    /// The payment is still outstanding.
    Open,
    /// Paid; `paid_at` is display text in Korean time.
    Recovered { paid_at: String },
    /// Canceled or otherwise closed without payment.
    Closed,
}

/// Where the page's messages go and what it posts on load. Only ever built
/// by the server after it matched the requested origin against the
/// partner's registered origins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outbox {
    pub origin: String,
    pub embed_id: Option<String>,
    pub messages: Vec<PageMessage>,
}

impl Outbox {
    /// As the `#rb-outbox` element's text: JSON with `<`, `>` and `&`
    /// escaped, so no value can end the script element.
    pub fn to_script_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|_| "null".into())
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryView {
    pub business_name: String,
    /// The customer's name, masked (`김*동`).
    pub customer_name: String,
    /// The last four digits of the customer's phone.
    pub phone_last4: String,
    pub product_name: String,
    /// The product's featured image: an https URL or a path on our host.
    pub product_image_url: Option<String>,
    /// Won (KRW has no minor unit).
    pub amount: i64,
    /// `YYYY-MM-DD HH:MM` in Korean time.
    pub failed_at: String,
    pub failure_reason: Option<String>,
    pub payment_info: Option<String>,
    pub state: CaseState,
    /// True when payments go to the sandbox gateway or a test account.
    pub test_mode: bool,
    /// Whether the page offers paying, and how.
    pub pay: Payability,
    /// How many more times "remind me later" may be used.
    pub remind_left: u32,
    /// How many more times the payment date may be moved.
    pub date_changes_left: u32,
    /// Date changes and reminders apply while messages still go out; after
    /// the scenario ended the case is only payable.
    pub can_reschedule: bool,
    /// The change-date window, `YYYY-MM-DD`, inclusive.
    pub date_min: String,
    pub date_max: String,
    pub selected_date: Option<String>,
    /// Why the latest charge was declined, if it was.
    pub last_decline: Option<String>,
    /// Where "register a new card" opens the card page, top-level (the
    /// method page only).
    pub card_window: Option<CardWindowLink>,
}

/// The card page outside the iframe: its address (with a short-lived
/// signed ticket) and the window id the iframe asks the server about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardWindowLink {
    pub url: String,
    pub window_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageView {
    /// The page to show: the one asked for, unless the case's state says
    /// otherwise (a result page for something that did not happen shows the
    /// main page instead).
    pub kind: PageKind,
    pub view: RecoveryView,
    pub link: LinkParams,
    pub outbox: Outbox,
}

/// Why a page cannot be shown. Each has its own clear page; none is a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PageError {
    /// No case has this token (mistyped, forged or very old link).
    UnknownToken,
    /// The iframe's claimed parent origin is not one the partner registered.
    OriginNotAllowed,
    /// The case is already closed (paid, canceled): nothing to do here.
    AlreadyClosed,
    /// Something on our side failed; the customer may try again.
    Unavailable,
}
