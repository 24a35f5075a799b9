//! The messages the recovery page posts to the partner's page (design section 4).
//!
//! One definition, two readers:
//! - the page and the server use serde (feature `serde`): a message serializes
//!   to StepPay's flat shape (`action` + flat fields) plus our envelope fields;
//! - the partner listener reads the fields straight off the JS object through
//!   [`Fields`], so serde never enters its size budget.
//!
//! Both paths go through [`PageMessage::read`] and [`PageMessage::write`], so the
//! validation rules cannot drift apart.

// `no_std` (with `alloc`): the partner listener links this crate into its
// size-budgeted WASM, where std's formatting and panic machinery would cost
// more than the rules themselves.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

use alloc::borrow::ToOwned;
use alloc::string::String;

mod fields;
mod origin;
#[cfg(feature = "serde")]
mod serde_impl;
#[cfg(feature = "webhook")]
pub mod webhook;

pub use fields::{Fields, Value};
pub use origin::is_exact_origin;

/// Value of the `protocol` field that marks an enveloped Rebound message.
pub const PROTOCOL_NAME: &str = "rebound";
/// The envelope version this crate writes and accepts. New optional fields may
/// be added within a version; anything else needs a new version.
pub const PROTOCOL_VERSION: u32 = 1;
/// Longest text accepted in any single field, in UTF-8 bytes. Real values are
/// short (tokens are 43 bytes, dates 19, a Korean decline reason a few dozen);
/// the cap bounds what a hostile frame can make us copy. Bytes, not
/// characters: counting is free and links no Unicode code in the listener.
pub const MAX_FIELD_BYTES: usize = 1024;
/// Largest iframe height (CSS px) a `resize` message may ask for.
pub const MAX_HEIGHT: u32 = 10_000;

/// What happened on the page, with StepPay's field names for each action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The failed payment was paid. `order_id` is the partner's order id.
    PaymentComplete {
        payment_info: String,
        payment_date: String,
        token: String,
        order_id: String,
    },
    PaymentFailed {
        reason: String,
        token: String,
    },
    /// `selected_date` is `YYYY-MM-DD`.
    ChangeDate {
        order_id: String,
        selected_date: String,
    },
    ChangeMethod {
        token: String,
        order_id: String,
    },
    /// Go back to the partner's site. The target is symbolic, never a URL, so a
    /// message can never steer the partner page to an attacker's address.
    Redirect {
        target: RedirectTarget,
    },
    /// The page has loaded and its messages can be trusted to arrive.
    Ready,
    /// The page's content height in CSS pixels.
    Resize {
        height: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectTarget {
    Home,
}

impl RedirectTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            RedirectTarget::Home => "home",
        }
    }
}

impl Action {
    /// The `action` field's value.
    pub fn name(&self) -> &'static str {
        match self {
            Action::PaymentComplete { .. } => "payment-complete",
            Action::PaymentFailed { .. } => "payment-failed",
            Action::ChangeDate { .. } => "change-date",
            Action::ChangeMethod { .. } => "change-method",
            Action::Redirect { .. } => "redirect",
            Action::Ready => "ready",
            Action::Resize { .. } => "resize",
        }
    }
}

/// Our additions around StepPay's flat message. Absent on legacy messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub message_id: String,
    /// The nonce from the iframe URL, so a listener can tell its own iframe's
    /// messages from another embed's on the same page.
    pub embed_id: Option<String>,
    /// RFC 3339 time the page created the message.
    pub sent_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageMessage {
    pub action: Action,
    /// `None` for a StepPay-style message without our envelope.
    pub envelope: Option<Envelope>,
}

/// Why a message was not accepted. The listener hands [`Rejection::code`] to the
/// partner's `onDrop` callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    NotAnObject,
    MissingField(&'static str),
    WrongType(&'static str),
    FieldTooLong(&'static str),
    InvalidValue(&'static str),
    UnknownAction,
    UnknownProtocol,
    UnsupportedVersion,
}

impl Rejection {
    /// A short, stable, machine-readable reason, such as
    /// `missing-field:token`. Built without `format!` (size budget).
    pub fn code(&self) -> String {
        let (kind, field) = match self {
            Rejection::NotAnObject => ("not-an-object", None),
            Rejection::MissingField(f) => ("missing-field", Some(*f)),
            Rejection::WrongType(f) => ("wrong-type", Some(*f)),
            Rejection::FieldTooLong(f) => ("field-too-long", Some(*f)),
            Rejection::InvalidValue(f) => ("invalid-value", Some(*f)),
            Rejection::UnknownAction => ("unknown-action", None),
            Rejection::UnknownProtocol => ("unknown-protocol", None),
            Rejection::UnsupportedVersion => ("unsupported-version", None),
        };
        let mut code = kind.to_owned();
        if let Some(f) = field {
            code.push(':');
            code.push_str(f);
        }
        code
    }
}

impl PageMessage {
    /// Parses and validates a message from its flat fields.
    pub fn read(fields: &impl Fields) -> Result<Self, Rejection> {
        let envelope = match fields.get("protocol") {
            None => None,
            Some(Value::Text(p)) if p == PROTOCOL_NAME => Some(read_envelope(fields)?),
            Some(Value::Text(_)) => return Err(Rejection::UnknownProtocol),
            Some(_) => return Err(Rejection::WrongType("protocol")),
        };
        let action = match text(fields, "action")?.as_str() {
            "payment-complete" => Action::PaymentComplete {
                payment_info: text(fields, "paymentInfo")?,
                payment_date: text(fields, "paymentDate")?,
                token: text(fields, "token")?,
                order_id: text(fields, "orderId")?,
            },
            "payment-failed" => Action::PaymentFailed {
                reason: text(fields, "reason")?,
                token: text(fields, "token")?,
            },
            "change-date" => {
                let selected_date = text(fields, "selectedDate")?;
                if !is_iso_date(&selected_date) {
                    return Err(Rejection::InvalidValue("selectedDate"));
                }
                Action::ChangeDate {
                    order_id: text(fields, "orderId")?,
                    selected_date,
                }
            }
            "change-method" => Action::ChangeMethod {
                token: text(fields, "token")?,
                order_id: text(fields, "orderId")?,
            },
            // StepPay's redirect carries no fields; "home" is the only target.
            "redirect" => match optional_text(fields, "target")?.as_deref() {
                None | Some("home") => Action::Redirect {
                    target: RedirectTarget::Home,
                },
                Some(_) => return Err(Rejection::InvalidValue("target")),
            },
            "ready" => Action::Ready,
            "resize" => Action::Resize {
                height: read_height(fields)?,
            },
            _ => return Err(Rejection::UnknownAction),
        };
        Ok(PageMessage { action, envelope })
    }

    /// Emits the message's flat fields in a stable order.
    pub fn write(&self, mut out: impl FnMut(&'static str, Value)) {
        out("action", Value::Text(self.action.name().into()));
        match &self.action {
            Action::PaymentComplete {
                payment_info,
                payment_date,
                token,
                order_id,
            } => {
                out("paymentInfo", Value::Text(payment_info.clone()));
                out("paymentDate", Value::Text(payment_date.clone()));
                out("token", Value::Text(token.clone()));
                out("orderId", Value::Text(order_id.clone()));
            }
            Action::PaymentFailed { reason, token } => {
                out("reason", Value::Text(reason.clone()));
                out("token", Value::Text(token.clone()));
            }
            Action::ChangeDate {
                order_id,
                selected_date,
            } => {
                out("orderId", Value::Text(order_id.clone()));
                out("selectedDate", Value::Text(selected_date.clone()));
            }
            Action::ChangeMethod { token, order_id } => {
                out("token", Value::Text(token.clone()));
                out("orderId", Value::Text(order_id.clone()));
            }
            Action::Redirect { target } => out("target", Value::Text(target.as_str().into())),
            Action::Ready => {}
            Action::Resize { height } => out("height", Value::Number(f64::from(*height))),
        }
        if let Some(env) = &self.envelope {
            out("protocol", Value::Text(PROTOCOL_NAME.into()));
            out("version", Value::Number(f64::from(PROTOCOL_VERSION)));
            out("messageId", Value::Text(env.message_id.clone()));
            if let Some(embed_id) = &env.embed_id {
                out("embedId", Value::Text(embed_id.clone()));
            }
            out("sentAt", Value::Text(env.sent_at.clone()));
        }
    }

    /// The envelope's `embedId`, if any.
    pub fn embed_id(&self) -> Option<&str> {
        self.envelope.as_ref()?.embed_id.as_deref()
    }
}

fn read_envelope(fields: &impl Fields) -> Result<Envelope, Rejection> {
    match fields.get("version") {
        Some(Value::Number(v)) if v == f64::from(PROTOCOL_VERSION) => {}
        Some(Value::Number(_)) => return Err(Rejection::UnsupportedVersion),
        Some(_) => return Err(Rejection::WrongType("version")),
        None => return Err(Rejection::MissingField("version")),
    }
    Ok(Envelope {
        message_id: text(fields, "messageId")?,
        embed_id: optional_text(fields, "embedId")?,
        sent_at: text(fields, "sentAt")?,
    })
}

fn read_height(fields: &impl Fields) -> Result<u32, Rejection> {
    match fields.get("height") {
        Some(Value::Number(h)) if h.is_finite() && h >= 0.0 && h <= f64::from(MAX_HEIGHT) => {
            // Fractional CSS pixels are fine; round up so content is never cut
            // (by hand: `f64::ceil` is not in `core`).
            let whole = h as u32;
            Ok(if f64::from(whole) < h {
                whole + 1
            } else {
                whole
            })
        }
        Some(Value::Number(_)) => Err(Rejection::InvalidValue("height")),
        Some(_) => Err(Rejection::WrongType("height")),
        None => Err(Rejection::MissingField("height")),
    }
}

fn optional_text(fields: &impl Fields, name: &'static str) -> Result<Option<String>, Rejection> {
    match fields.get(name) {
        None => Ok(None),
        Some(Value::Text(s)) if s.len() > MAX_FIELD_BYTES => Err(Rejection::FieldTooLong(name)),
        Some(Value::Text(s)) => Ok(Some(s)),
        Some(_) => Err(Rejection::WrongType(name)),
    }
}

fn text(fields: &impl Fields, name: &'static str) -> Result<String, Rejection> {
    optional_text(fields, name)?.ok_or(Rejection::MissingField(name))
}

fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

#[cfg(test)]
mod tests;
