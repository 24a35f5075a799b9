//! Declines, by what to do about them. Each gateway's codes map to a class
//! in a table; a code not in the table is `unknown` (a few retries), never
//! guessed from its text. Pure.

use super::case::stored_enum;

stored_enum!(
    /// What a decline says about retrying (`charges.decline_class`).
    DeclineClass, "decline class" {
        /// Retry: the card works, just not now.
        Soft => "soft",
        /// This billing key will never work again: ask for a new card. Also
        /// a key the PG will not charge for us (issued under another
        /// customer key, deleted, foreign): it condemns that key only.
        Hard => "hard",
        /// The PG refused the merchant's credentials: every charge of the
        /// partner would fail. Repeated across cases, the partner's charges
        /// stop and the operator is told.
        Setup => "setup",
        /// Nothing known: a few retries.
        Unknown => "unknown",
    }
);

/// When a soft decline's card is worth trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wait {
    /// Over the limit or out of balance: on the next payday.
    Payday,
    /// The card's daily count is used up: tomorrow.
    NextDay,
    /// The card company is in maintenance: after its night window.
    AfterMaintenance,
    /// A passing failure at the card company or the PG: soon.
    Soon,
}

/// A classified decline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decline {
    Soft(Wait),
    Hard,
    Setup,
    Unknown,
}

impl Decline {
    pub fn class(self) -> DeclineClass {
        match self {
            Decline::Soft(_) => DeclineClass::Soft,
            Decline::Hard => DeclineClass::Hard,
            Decline::Setup => DeclineClass::Setup,
            Decline::Unknown => DeclineClass::Unknown,
        }
    }
}

/// Whose codes a decline carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSource {
    /// Toss Payments' billing API (and the sandbox, which speaks its codes).
    Toss,
    /// The partner's `errorCode` on a failed order: StepPay and Toss-style
    /// codes from the partner's own PG integration, matched without case.
    Partner,
}

/// Toss Payments' billing error codes, as Toss documents them.
const TOSS: &[(&str, Decline)] = &[
    ("INVALID_CARD_EXPIRATION", Decline::Hard),
    ("INVALID_STOPPED_CARD", Decline::Hard),
    ("INVALID_CARD_LOST_OR_STOLEN", Decline::Hard),
    ("INVALID_CARD_NUMBER", Decline::Hard),
    ("NOT_SUPPORTED_CARD_TYPE", Decline::Hard),
    ("INVALID_REJECT_CARD", Decline::Hard),
    // These two condemn one billing key (issued under another customer
    // key, deleted, or not this merchant's): the customer needs a new card;
    // the partner's other customers are fine.
    ("NOT_MATCHES_CUSTOMER_KEY", Decline::Hard),
    ("INVALID_BILL_KEY_REQUEST", Decline::Hard),
    // Our credentials: nothing of the partner's can be charged.
    ("UNAUTHORIZED_KEY", Decline::Setup),
    ("INVALID_API_KEY", Decline::Setup),
    ("REJECT_CARD_PAYMENT", Decline::Soft(Wait::Payday)),
    (
        "EXCEED_MAX_DAILY_PAYMENT_COUNT",
        Decline::Soft(Wait::NextDay),
    ),
    (
        "NOT_AVAILABLE_PAYMENT",
        Decline::Soft(Wait::AfterMaintenance),
    ),
    ("FAILED_CARD_COMPANY_RESPONSE", Decline::Soft(Wait::Soon)),
    ("PROVIDER_ERROR", Decline::Soft(Wait::Soon)),
    ("COMMON_ERROR", Decline::Soft(Wait::Soon)),
    ("REJECT_CARD_COMPANY", Decline::Unknown),
];

/// Other spellings partners send for the same things (StepPay passes its
/// PG's code through; some integrations send generic names).
const PARTNER_ALIASES: &[(&str, Decline)] = &[
    ("INSUFFICIENT_FUNDS", Decline::Soft(Wait::Payday)),
    ("EXCEED_LIMIT", Decline::Soft(Wait::Payday)),
    ("EXPIRED_CARD", Decline::Hard),
    ("LOST_CARD", Decline::Hard),
    ("STOLEN_CARD", Decline::Hard),
    ("DO_NOT_HONOR", Decline::Unknown),
];

/// The class of a decline code from `source`.
pub fn classify(source: CodeSource, code: &str) -> Decline {
    let code = code.trim();
    let find = |table: &[(&str, Decline)], code: &str| {
        table.iter().find(|(c, _)| *c == code).map(|(_, d)| *d)
    };
    match source {
        CodeSource::Toss => find(TOSS, code),
        CodeSource::Partner => {
            let upper = code.to_ascii_uppercase();
            find(TOSS, &upper).or_else(|| find(PARTNER_ALIASES, &upper))
        }
    }
    .unwrap_or(Decline::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tosss_codes_by_what_to_do() {
        let c = |code| classify(CodeSource::Toss, code);
        for hard in [
            "INVALID_CARD_EXPIRATION",
            "INVALID_STOPPED_CARD",
            "INVALID_CARD_LOST_OR_STOLEN",
            "INVALID_CARD_NUMBER",
            "NOT_SUPPORTED_CARD_TYPE",
            "INVALID_REJECT_CARD",
            "NOT_MATCHES_CUSTOMER_KEY",
            "INVALID_BILL_KEY_REQUEST",
        ] {
            assert_eq!(
                c(hard),
                Decline::Hard,
                "{hard}: one key is dead, not the partner"
            );
        }
        for setup in ["UNAUTHORIZED_KEY", "INVALID_API_KEY"] {
            assert_eq!(c(setup), Decline::Setup, "{setup}: the credentials");
        }
        assert_eq!(c("REJECT_CARD_PAYMENT"), Decline::Soft(Wait::Payday));
        assert_eq!(
            c("EXCEED_MAX_DAILY_PAYMENT_COUNT"),
            Decline::Soft(Wait::NextDay)
        );
        assert_eq!(
            c("NOT_AVAILABLE_PAYMENT"),
            Decline::Soft(Wait::AfterMaintenance)
        );
        for soon in [
            "FAILED_CARD_COMPANY_RESPONSE",
            "PROVIDER_ERROR",
            "COMMON_ERROR",
        ] {
            assert_eq!(c(soon), Decline::Soft(Wait::Soon), "{soon}");
        }
        assert_eq!(c("REJECT_CARD_COMPANY"), Decline::Unknown);
        assert_eq!(c("SOMETHING_NEW"), Decline::Unknown);
        assert_eq!(
            c("reject_card_payment"),
            Decline::Unknown,
            "Toss's codes are exact"
        );
    }

    #[test]
    fn partner_codes_match_without_case_and_unknown_is_unknown() {
        let c = |code| classify(CodeSource::Partner, code);
        assert_eq!(c("reject_card_payment"), Decline::Soft(Wait::Payday));
        assert_eq!(c(" INSUFFICIENT_FUNDS "), Decline::Soft(Wait::Payday));
        assert_eq!(c("expired_card"), Decline::Hard);
        assert_eq!(c("UNAUTHORIZED_KEY"), Decline::Setup);
        assert_eq!(c("E1234"), Decline::Unknown);
        assert_eq!(c(""), Decline::Unknown);
        assert_eq!(c("카드 한도 초과"), Decline::Unknown, "text is not a code");
    }

    #[test]
    fn classes_are_stored_as_text() {
        assert_eq!(Decline::Soft(Wait::Soon).class().as_str(), "soft");
        assert_eq!(Decline::Hard.class(), DeclineClass::Hard);
        for c in DeclineClass::ALL {
            assert_eq!(DeclineClass::parse(c.as_str()), Ok(*c));
        }
    }
}
