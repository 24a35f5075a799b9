//! The card window outside the partner's iframe.
//!
//! No PG documents its card window inside a third party's cross-origin
//! iframe, and card issuers' authentication pages may refuse to be framed.
//! So "register a new card" opens Rebound's own card page top-level (a
//! popup, a new tab, or the whole tab), which runs the PG's window and comes
//! back to Rebound. That page is opened with a [`CardTicket`]: short-lived,
//! signed with the link key, naming one case and one window, so the
//! long-lived recovery token never reaches a top-level address bar, the
//! PG's return URL or its logs, and no cookie is needed. The iframe learns
//! the window's outcome from the server ([`CardWindowStatus`]).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::token::LinkKey;

/// How long a ticket opens the card page and is accepted back from the PG:
/// enough for a card company's app authentication, short enough that an
/// address copied from history is dead.
pub const TICKET_TTL_MS: i64 = 30 * 60_000;

/// A window still completing after this long was cut off (a server died
/// mid-charge): the iframe stops waiting and shows the case as it is; the
/// charge itself is settled by the resolver.
pub const COMPLETING_GIVE_UP_MS: i64 = 2 * 60_000;

/// A window id's shape (`token::new_id`): 32 hex digits. Anything else is
/// no window of ours, and is never looked up.
pub fn is_window_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What opens the card page for one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardTicket {
    pub case_id: i64,
    /// 128 random bits, hex: names the window the iframe waits on.
    pub window_id: String,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketError {
    /// Not a ticket's shape, or not signed with our key.
    Invalid,
    Expired,
}

fn mac(key: &LinkKey, case_id: i64, window_id: &str, expires_ms: i64) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()).expect("HMAC takes any key length");
    // A purpose of its own: a stage link's MAC never verifies as a ticket.
    mac.update(format!("rebound-card-window:{case_id}:{window_id}:{expires_ms}").as_bytes());
    mac
}

impl CardTicket {
    /// A new window for `case_id`, valid from `now_ms` for `TICKET_TTL_MS`.
    pub fn issue(case_id: i64, now_ms: i64) -> CardTicket {
        CardTicket {
            case_id,
            window_id: super::token::new_id(),
            expires_ms: now_ms + TICKET_TTL_MS,
        }
    }

    /// `{case}.{window}.{expires}.{mac}`: URL-safe as it is.
    pub fn sign(&self, key: &LinkKey) -> String {
        let tag = mac(key, self.case_id, &self.window_id, self.expires_ms)
            .finalize()
            .into_bytes();
        format!(
            "{}.{}.{}.{}",
            self.case_id,
            self.window_id,
            self.expires_ms,
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The ticket `text` carries, if our key signed it (compared in
    /// constant time) and it has not expired at `now_ms`.
    pub fn verify(key: &LinkKey, text: &str, now_ms: i64) -> Result<CardTicket, TicketError> {
        let mut parts = text.split('.');
        let (Some(case), Some(window), Some(expires), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(TicketError::Invalid);
        };
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(case) || !digits(expires) || !is_window_id(window) {
            return Err(TicketError::Invalid);
        }
        let (case_id, expires_ms): (i64, i64) = (
            case.parse().map_err(|_| TicketError::Invalid)?,
            expires.parse().map_err(|_| TicketError::Invalid)?,
        );
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TicketError::Invalid)?;
        mac(key, case_id, window, expires_ms)
            .verify_slice(&tag)
            .map_err(|_| TicketError::Invalid)?;
        if now_ms >= expires_ms {
            return Err(TicketError::Expired);
        }
        Ok(CardTicket {
            case_id,
            window_id: window.to_owned(),
            expires_ms,
        })
    }
}

crate::domain::case::stored_enum!(
    /// Where a card window is (`card_windows.status`).
    CardWindowStatus, "card window status" {
        /// The card page opened; the PG's window is up.
        Open => "OPEN",
        /// Back from the PG; the key is being issued and charged.
        Completing => "COMPLETING",
        /// The new card paid.
        Paid => "PAID",
        /// The new card was registered and declined.
        Declined => "DECLINED",
        /// The customer closed the PG's window.
        Canceled => "CANCELED",
        /// The PG did not register the card.
        Failed => "FAILED",
        /// Registered, but not charged now (the outcome is unknown, or the
        /// gates said not now): the page shows the case as it is, with the
        /// stored notice.
        Settled => "SETTLED",
    }
);

/// What the iframe does about a window it waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowOutcome {
    Waiting,
    /// The paid page, which posts `change-method` and `payment-complete`.
    Paid,
    /// The failed page, which posts `change-method` and `payment-failed`.
    Declined,
    /// Back to the card page with why (`auth-canceled`, `auth-failed`).
    MethodAgain {
        canceled: bool,
    },
    /// The main page, with a notice code if one was stored.
    Main,
}

impl CardWindowStatus {
    /// What the iframe shows for a window in this state, `age_ms` after it
    /// last changed; `None` (no row): the card page has not opened yet.
    pub fn outcome(status: Option<CardWindowStatus>, age_ms: i64) -> WindowOutcome {
        match status {
            // A window left open past its ticket cannot finish any more.
            Some(CardWindowStatus::Open) if age_ms >= TICKET_TTL_MS => WindowOutcome::Main,
            None | Some(CardWindowStatus::Open) => WindowOutcome::Waiting,
            Some(CardWindowStatus::Completing) if age_ms < COMPLETING_GIVE_UP_MS => {
                WindowOutcome::Waiting
            }
            Some(CardWindowStatus::Completing) | Some(CardWindowStatus::Settled) => {
                WindowOutcome::Main
            }
            Some(CardWindowStatus::Paid) => WindowOutcome::Paid,
            Some(CardWindowStatus::Declined) => WindowOutcome::Declined,
            Some(CardWindowStatus::Canceled) => WindowOutcome::MethodAgain { canceled: true },
            Some(CardWindowStatus::Failed) => WindowOutcome::MethodAgain { canceled: false },
        }
    }

    /// Whether the window is over (nothing more will change it).
    pub fn is_final(self) -> bool {
        !matches!(self, CardWindowStatus::Open | CardWindowStatus::Completing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LinkKey {
        LinkKey::parse("rb_lk_cmVib3VuZC10ZXN0LWxpbmsta2V5LTAxMjM0NTY3ODk").unwrap()
    }

    #[test]
    fn a_ticket_verifies_with_its_key_until_it_expires() {
        let t = CardTicket::issue(42, 1_000);
        let text = t.sign(&key());
        assert_eq!(CardTicket::verify(&key(), &text, 1_000), Ok(t.clone()));
        assert_eq!(
            CardTicket::verify(&key(), &text, 1_000 + TICKET_TTL_MS - 1),
            Ok(t)
        );
        assert_eq!(
            CardTicket::verify(&key(), &text, 1_000 + TICKET_TTL_MS),
            Err(TicketError::Expired)
        );
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "{text}"
        );
    }

    #[test]
    fn a_ticket_cannot_be_forged_moved_or_extended() {
        let t = CardTicket::issue(42, 1_000);
        let text = t.sign(&key());
        let other = LinkKey::generate();
        assert_eq!(
            CardTicket::verify(&other, &text, 1_000),
            Err(TicketError::Invalid),
            "another server's key"
        );
        let parts: Vec<&str> = text.split('.').collect();
        let moved = format!("43.{}.{}.{}", parts[1], parts[2], parts[3]);
        let extended = format!("42.{}.{}.{}", parts[1], t.expires_ms + 1, parts[3]);
        for bad in [
            moved.as_str(),
            extended.as_str(),
            "",
            "42",
            "42.x.1.y",
            &format!("{text}.extra"),
            &text[..text.len() - 2],
        ] {
            assert_eq!(
                CardTicket::verify(&key(), bad, 1_000),
                Err(TicketError::Invalid),
                "{bad:?}"
            );
        }
        // A stage link's MAC (another purpose) is no ticket.
        let link = super::super::token::link_token(key().expose(), 42, 1);
        assert_eq!(
            CardTicket::verify(&key(), &link, 1_000),
            Err(TicketError::Invalid)
        );
    }

    #[test]
    fn the_iframe_waits_only_while_the_window_can_still_finish() {
        use CardWindowStatus::*;
        let o = CardWindowStatus::outcome;
        assert_eq!(o(None, 0), WindowOutcome::Waiting, "not opened yet");
        assert_eq!(o(Some(Open), 10 * 60_000), WindowOutcome::Waiting);
        assert_eq!(
            o(Some(Open), TICKET_TTL_MS),
            WindowOutcome::Main,
            "its ticket expired: it cannot finish"
        );
        assert_eq!(o(Some(Completing), 1_000), WindowOutcome::Waiting);
        assert_eq!(
            o(Some(Completing), COMPLETING_GIVE_UP_MS),
            WindowOutcome::Main,
            "a server died mid-charge: show the case as it is"
        );
        assert_eq!(o(Some(Paid), 0), WindowOutcome::Paid);
        assert_eq!(o(Some(Declined), 0), WindowOutcome::Declined);
        assert_eq!(
            o(Some(Canceled), 0),
            WindowOutcome::MethodAgain { canceled: true }
        );
        assert_eq!(
            o(Some(Failed), 0),
            WindowOutcome::MethodAgain { canceled: false }
        );
        assert_eq!(o(Some(Settled), 0), WindowOutcome::Main);
        for s in [Open, Completing] {
            assert!(!s.is_final());
        }
        for s in [Paid, Declined, Canceled, Failed, Settled] {
            assert!(s.is_final());
        }
    }
}
