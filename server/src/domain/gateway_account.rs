//! Which gateway account charges a case, and with which customer key.
//!
//! A billing key works only with the merchant account that issued it, so
//! each partner registers its own accounts, one per `paymentGateway` of its
//! orders (Toss directly, or PortOne V2 for NICE, KCP, KG Inicis and the
//! rest). The server-wide gateway (`REBOUND_GATEWAY`: the sandbox or one Toss
//! account) stands in for partners without an account of their own, as it
//! did before accounts existed. A Toss key also needs the `customerKey` it
//! was issued under: never guessed, it comes from the order, or from the
//! rule the account names.

use super::retry::Blocked;

crate::domain::case::stored_enum!(
    /// What speaks to a PG (`gateway_accounts.kind`).
    AdapterKind, "gateway kind" {
        /// No money moves (the demo, tests); the server-wide gateway only.
        Sandbox => "SANDBOX",
        Toss => "TOSS",
        PortOne => "PORTONE",
    }
);

impl AdapterKind {
    /// The kinds a partner's account can be, as the CLI and the console
    /// spell them (`toss`, `portone`); the sandbox is no account.
    pub fn parse_account(text: &str) -> Result<AdapterKind, String> {
        match AdapterKind::parse(&text.trim().to_ascii_uppercase()) {
            Ok(AdapterKind::Sandbox) | Err(_) => Err(format!(
                "unknown account kind {:?}: toss or portone",
                text.trim()
            )),
            Ok(kind) => Ok(kind),
        }
    }

    /// Toss charges a key only with the customer key it was issued under;
    /// PortOne's billing key stands alone.
    pub fn needs_customer_key(self) -> bool {
        self == AdapterKind::Toss
    }

    /// The orders' `paymentGateway` values an account of this kind can
    /// charge: Toss's own API only Toss's keys; PortOne's the PGs it
    /// reaches (a key of any of them, issued through the partner's PortOne
    /// store).
    pub fn reaches(self, payment_gateway: &str) -> bool {
        match self {
            AdapterKind::Sandbox => true,
            AdapterKind::Toss => payment_gateway == "TOSS",
            AdapterKind::PortOne => PORTONE_PGS.contains(&payment_gateway),
        }
    }
}

/// StepPay's gateway names that PortOne V2 reaches (`domain::order::PAYMENT_GATEWAYS`).
pub const PORTONE_PGS: &[&str] = &[
    "NICE", "NICE_V2", "KCP", "KG", "TOSS", "KAKAO", "NAVER", "DANAL", "KSNET", "WELCOME",
    "EXIMBAY",
];

crate::domain::case::stored_enum!(
    /// What an account charges a Toss key with when the order names no
    /// customer key (`gateway_accounts.customer_keys`).
    #[derive(Default)]
    CustomerKeyRule, "customer key rule" {
        /// Only the order's `customerKey`; without it the key is not charged.
        #[default]
        OrderOnly => "ORDER_ONLY",
        /// The customer's `partnerCustomerId`: many merchants issue Toss
        /// keys under their own customer id.
        PartnerCustomerId => "PARTNER_CUSTOMER_ID",
    }
);

impl CustomerKeyRule {
    /// The stored text, or the CLI's and settings' spelling
    /// (`order-only`, `partner-customer-id`).
    pub fn from_setting(text: &str) -> Result<CustomerKeyRule, String> {
        CustomerKeyRule::parse(&text.trim().to_ascii_uppercase().replace('-', "_")).map_err(|_| {
            format!(
                "unknown customer key rule {:?}: order-only or partner-customer-id",
                text.trim()
            )
        })
    }
}

/// What is not secret about an account (`gateway_accounts.settings`,
/// JSON): shown in the console and the CLI, unlike the API secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountSettings {
    /// Toss's client key, for its card window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,
    /// PortOne's store id (`store-...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    /// PortOne's channel key of the PG, for its card window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_key: Option<String>,
    /// The PG's API base; its public one when absent (tests point it at a
    /// fake).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base: Option<String>,
}

impl AccountSettings {
    /// Its ids as the console and the settings history name them (`store
    /// ...`, `channel ...`, `client key ...`): none of them is a secret.
    pub fn ids(&self) -> Vec<String> {
        [
            self.store_id.as_deref().map(|v| format!("store {v}")),
            self.channel_key.as_deref().map(|v| format!("channel {v}")),
            self.client_key
                .as_deref()
                .map(|v| format!("client key {v}")),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// What the kind needs before it can charge and issue keys.
    pub fn check(&self, kind: AdapterKind) -> Result<(), String> {
        let missing = |what: &str| Err(format!("a {} account needs {what}", kind.as_str()));
        match kind {
            AdapterKind::Toss if self.client_key.is_none() => missing("a client key"),
            AdapterKind::PortOne if self.store_id.is_none() => missing("a store id"),
            AdapterKind::PortOne if self.channel_key.is_none() => missing("a channel key"),
            AdapterKind::Sandbox => Err("the sandbox is no account".into()),
            // The secret travels to it: https only (plain http only to this
            // machine, where a test's fake listens).
            _ if self
                .api_base
                .as_deref()
                .is_some_and(|b| !super::origin::is_partner_url(b)) =>
            {
                Err("the API base must be an https URL (plain http only to this machine)".into())
            }
            _ => Ok(()),
        }
    }
}

/// Whether a test or live key was given where the PG says which it is by
/// its prefix (`test_sk_`/`live_sk_` at Toss); PortOne's secrets do not
/// say, so the operator does (`--live`).
pub fn secret_livemode(kind: AdapterKind, secret: &str) -> Option<bool> {
    match kind {
        AdapterKind::Toss if secret.starts_with("live_") => Some(true),
        AdapterKind::Toss if secret.starts_with("test_") => Some(false),
        _ => None,
    }
}

/// A new account as the operator or the partner gives it (the CLI, the
/// console's write-only form), checked.
#[derive(Debug, Clone)]
pub struct AccountInput<'a> {
    pub payment_gateway: &'a str,
    pub kind: &'a str,
    pub secret: &'a str,
    /// Whether it moves real money, where the secret does not say.
    pub live: Option<bool>,
    pub customer_keys: Option<&'a str>,
    pub settings: AccountSettings,
}

/// An account ready to store (its secret still in clear: seal it).
#[derive(Clone, PartialEq, Eq)]
pub struct CheckedAccount {
    pub payment_gateway: &'static str,
    pub kind: AdapterKind,
    pub secret: String,
    pub livemode: bool,
    pub customer_keys: CustomerKeyRule,
    pub settings: AccountSettings,
}

/// Never the secret in logs.
impl std::fmt::Debug for CheckedAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedAccount")
            .field("payment_gateway", &self.payment_gateway)
            .field("kind", &self.kind)
            .field("livemode", &self.livemode)
            .finish_non_exhaustive()
    }
}

impl AccountInput<'_> {
    pub fn check(self) -> Result<CheckedAccount, Vec<super::FieldError>> {
        use super::FieldError;
        let mut p = super::Problems::default();
        let pg = p.check(
            super::order::PAYMENT_GATEWAYS
                .iter()
                .find(|g| **g == self.payment_gateway.trim())
                .copied()
                .ok_or_else(|| {
                    FieldError::new("paymentGateway", "must be one of StepPay's gateway names")
                }),
        );
        let kind =
            p.check(AdapterKind::parse_account(self.kind).map_err(|m| FieldError::new("kind", m)));
        let secret = self.secret.trim();
        p.check(
            if secret.is_empty() || secret.len() > 512 || secret.chars().any(char::is_control) {
                Err(FieldError::new(
                    "secret",
                    "is required: the PG's API secret",
                ))
            } else {
                Ok(())
            },
        );
        let customer_keys = p.check(match self.customer_keys {
            None => Ok(CustomerKeyRule::OrderOnly),
            Some(k) => {
                CustomerKeyRule::from_setting(k).map_err(|m| FieldError::new("customerKeys", m))
            }
        });
        let mut settings = self.settings;
        for value in [
            &mut settings.client_key,
            &mut settings.store_id,
            &mut settings.channel_key,
            &mut settings.api_base,
        ] {
            *value = value
                .take()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty());
        }
        if let Some(base) = &settings.api_base {
            p.check(match url_origin_ok(base) {
                true => Ok(()),
                false => Err(FieldError::new(
                    "apiBase",
                    "must be an http(s) URL without a path",
                )),
            });
        }
        let (Some(pg), Some(kind), Some(customer_keys)) = (pg, kind, customer_keys) else {
            return Err(p.fields().to_vec());
        };
        if !kind.reaches(pg) {
            p.check::<()>(Err(FieldError::new(
                "paymentGateway",
                format!("a {} account does not reach {pg}", kind.as_str()),
            )));
        }
        p.check(
            settings
                .check(kind)
                .map_err(|m| FieldError::new("settings", m)),
        );
        let livemode = match (secret_livemode(kind, secret), self.live) {
            (Some(said), Some(asked)) if said != asked => {
                p.check::<()>(Err(FieldError::new(
                    "live",
                    "the secret says the other mode (test_ or live_)",
                )));
                said
            }
            (Some(said), _) => said,
            (None, Some(asked)) => asked,
            (None, None) => {
                p.check::<()>(Err(FieldError::new(
                    "live",
                    "say whether the account moves real money (PortOne's secrets do not tell)",
                )));
                false
            }
        };
        p.into_result()?;
        Ok(CheckedAccount {
            payment_gateway: pg,
            kind,
            secret: secret.to_owned(),
            livemode,
            customer_keys,
            settings,
        })
    }
}

/// `http(s)://host[:port]` (an optional trailing slash).
fn url_origin_ok(base: &str) -> bool {
    let rest = base
        .strip_prefix("https://")
        .or_else(|| base.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.trim_end_matches('/');
        !host.is_empty() && !host.contains(['/', '?', '#', '@', ' '])
    })
}

/// A gateway that could charge a case: a partner's account (with its id),
/// or the server-wide one (`account_id` None).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adapter {
    pub account_id: Option<i64>,
    pub kind: AdapterKind,
    pub customer_keys: CustomerKeyRule,
}

/// How a case is charged: through which account, with which customer key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub account_id: Option<i64>,
    pub kind: AdapterKind,
    /// The customer key sent with the charge (Toss needs one).
    pub customer_key: Option<String>,
}

/// Picks the gateway for an order: the partner's own account for its
/// `paymentGateway` first, else the server-wide gateway if it reaches that
/// PG; none is `NoAdapter`. A Toss key is charged only with a customer key
/// the order names (a key Rebound issued keeps its own), or the account's
/// rule gives; otherwise `NoCustomerKey`. Without a billing key there is
/// nothing to send a customer key with: the route stands and the gates
/// answer for the key.
pub fn route(
    own: Option<Adapter>,
    server_wide: Option<Adapter>,
    has_billing_key: bool,
    order_customer_key: Option<&str>,
    partner_customer_id: &str,
) -> Result<Route, Blocked> {
    let adapter = own.or(server_wide).ok_or(Blocked::NoAdapter)?;
    let named = order_customer_key
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned);
    let customer_key = match (named, adapter.customer_keys) {
        (Some(k), _) => Some(k),
        (None, CustomerKeyRule::PartnerCustomerId) => {
            Some(partner_customer_id.trim().to_owned()).filter(|k| !k.is_empty())
        }
        (None, CustomerKeyRule::OrderOnly) => None,
    };
    if adapter.kind.needs_customer_key() && has_billing_key && customer_key.is_none() {
        return Err(Blocked::NoCustomerKey);
    }
    Ok(Route {
        account_id: adapter.account_id,
        kind: adapter.kind,
        customer_key,
    })
}

/// A partner-sent `customerKey` as Toss accepts one: 2 to 300 characters of
/// letters, digits and `-_=.@`.
pub fn valid_customer_key(key: &str) -> bool {
    (2..=300).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_=.@".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accounts_api_base_is_https_or_this_machine() {
        let with = |base: &str| {
            AccountSettings {
                store_id: Some("store-1".into()),
                channel_key: Some("ch".into()),
                api_base: Some(base.into()),
                ..Default::default()
            }
            .check(AdapterKind::PortOne)
        };
        assert!(with("https://api.portone.io").is_ok());
        assert!(with("http://127.0.0.1:9100").is_ok(), "a test's fake");
        for bad in [
            "http://api.portone.io",
            "http://localhost.evil.example",
            "file:///etc",
        ] {
            assert!(with(bad).unwrap_err().contains("https"), "{bad}");
        }
    }

    fn account(kind: AdapterKind, rule: CustomerKeyRule) -> Adapter {
        Adapter {
            account_id: Some(7),
            kind,
            customer_keys: rule,
        }
    }

    fn server_wide(kind: AdapterKind) -> Adapter {
        Adapter {
            account_id: None,
            kind,
            customer_keys: CustomerKeyRule::OrderOnly,
        }
    }

    #[test]
    fn the_partners_own_account_comes_before_the_server_wide_gateway() {
        let r = route(
            Some(account(AdapterKind::PortOne, CustomerKeyRule::OrderOnly)),
            Some(server_wide(AdapterKind::Toss)),
            true,
            None,
            "u-1",
        )
        .unwrap();
        assert_eq!(r.account_id, Some(7));
        assert_eq!(r.kind, AdapterKind::PortOne);
        let r = route(
            None,
            Some(server_wide(AdapterKind::Sandbox)),
            true,
            None,
            "u-1",
        )
        .unwrap();
        assert_eq!((r.account_id, r.kind), (None, AdapterKind::Sandbox));
        assert_eq!(
            route(None, None, true, Some("ck"), "u-1"),
            Err(Blocked::NoAdapter)
        );
    }

    #[test]
    fn a_toss_key_is_never_charged_with_a_guessed_customer_key() {
        let toss = |rule| Some(account(AdapterKind::Toss, rule));
        assert_eq!(
            route(toss(CustomerKeyRule::OrderOnly), None, true, None, "u-1"),
            Err(Blocked::NoCustomerKey)
        );
        assert_eq!(
            route(
                toss(CustomerKeyRule::OrderOnly),
                None,
                true,
                Some("  "),
                "u-1"
            ),
            Err(Blocked::NoCustomerKey),
            "a blank key is no key"
        );
        let named = route(
            toss(CustomerKeyRule::PartnerCustomerId),
            None,
            true,
            Some("ck_9"),
            "u-1",
        )
        .unwrap();
        assert_eq!(
            named.customer_key.as_deref(),
            Some("ck_9"),
            "the order's key wins over the rule"
        );
        let by_rule = route(
            toss(CustomerKeyRule::PartnerCustomerId),
            None,
            true,
            None,
            "u-1",
        )
        .unwrap();
        assert_eq!(by_rule.customer_key.as_deref(), Some("u-1"));
        // The server-wide Toss account follows the same rule.
        assert_eq!(
            route(
                None,
                Some(server_wide(AdapterKind::Toss)),
                true,
                None,
                "u-1"
            ),
            Err(Blocked::NoCustomerKey)
        );
    }

    #[test]
    fn only_toss_needs_a_customer_key_and_no_key_is_the_gates_business() {
        for kind in [AdapterKind::PortOne, AdapterKind::Sandbox] {
            let r = route(
                Some(account(kind, CustomerKeyRule::OrderOnly)),
                None,
                true,
                None,
                "u-1",
            )
            .unwrap();
            assert_eq!(r.customer_key, None, "{kind:?}");
        }
        assert!(
            route(
                Some(account(AdapterKind::Toss, CustomerKeyRule::OrderOnly)),
                None,
                false,
                None,
                "u-1"
            )
            .is_ok(),
            "without a billing key the gates say NoBillingKey"
        );
    }

    #[test]
    fn each_kind_reaches_its_pgs() {
        assert!(AdapterKind::Toss.reaches("TOSS"));
        assert!(!AdapterKind::Toss.reaches("NICE"));
        for pg in ["NICE", "KCP", "KG", "KAKAO", "NAVER", "TOSS"] {
            assert!(AdapterKind::PortOne.reaches(pg), "{pg}");
        }
        assert!(!AdapterKind::PortOne.reaches("UNKNOWN"));
        for pg in crate::domain::order::PAYMENT_GATEWAYS {
            if AdapterKind::PortOne.reaches(pg) || *pg == "UNKNOWN" {
                continue;
            }
            // Every StepPay name PortOne does not list is named here on
            // purpose, so a new one is a decision, not an accident.
            assert!(
                [
                    "JT",
                    "GOOGLE",
                    "BANKPAY",
                    "BLUEWALNUT",
                    "SETTLE",
                    "DAOUDATA",
                    "STRIPE",
                    "PAYPLE",
                    "PAYPLE_GLOBAL"
                ]
                .contains(pg),
                "decide whether PortOne reaches {pg}"
            );
        }
    }

    #[test]
    fn stored_texts_read_back() {
        for kind in [AdapterKind::Toss, AdapterKind::PortOne] {
            assert_eq!(AdapterKind::parse_account(kind.as_str()), Ok(kind));
        }
        assert!(AdapterKind::parse_account("sandbox").is_err());
        for rule in CustomerKeyRule::ALL {
            assert_eq!(CustomerKeyRule::from_setting(rule.as_str()), Ok(*rule));
        }
        assert_eq!(
            CustomerKeyRule::from_setting("partner-customer-id"),
            Ok(CustomerKeyRule::PartnerCustomerId)
        );
    }

    #[test]
    fn an_account_is_checked_before_it_is_stored() {
        let input = |pg, kind, secret, live| AccountInput {
            payment_gateway: pg,
            kind,
            secret,
            live,
            customer_keys: None,
            settings: AccountSettings {
                client_key: Some("test_ck_1".into()),
                store_id: Some("store-1".into()),
                channel_key: Some("channel-1".into()),
                api_base: None,
            },
        };
        let toss = input("TOSS", "toss", "live_sk_1", None).check().unwrap();
        assert!(toss.livemode, "a live_ key is live");
        assert_eq!(toss.customer_keys, CustomerKeyRule::OrderOnly);
        let fields = |r: Result<CheckedAccount, Vec<crate::domain::FieldError>>| {
            r.unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            fields(input("TOSS", "toss", "test_sk_1", Some(true)).check()),
            ["live"]
        );
        assert_eq!(
            fields(input("NICE", "toss", "test_sk_1", None).check()),
            ["paymentGateway"]
        );
        assert_eq!(
            fields(input("NICE", "portone", "s3cret", None).check()),
            ["live"]
        );
        assert!(
            input("NICE", "portone", "s3cret", Some(false))
                .check()
                .is_ok()
        );
        assert_eq!(
            fields(input("NOPE", "paypal", " ", None).check()),
            ["paymentGateway", "kind", "secret"]
        );
        let mut no_store = input("KCP", "portone", "s", Some(true));
        no_store.settings.store_id = Some("  ".into());
        assert_eq!(fields(no_store.check()), ["settings"]);
        let mut bad_base = input("KCP", "portone", "s", Some(true));
        bad_base.settings.api_base = Some("https://x/y".into());
        assert_eq!(fields(bad_base.check()), ["apiBase"]);
        assert!(
            !format!(
                "{:?}",
                input("KCP", "portone", "s3cret-x", Some(true))
                    .check()
                    .unwrap()
            )
            .contains("s3cret-x")
        );
    }

    #[test]
    fn customer_keys_are_what_toss_accepts() {
        assert!(valid_customer_key("user_1@shop.kr"));
        assert!(valid_customer_key("a-b=c.d"));
        assert!(!valid_customer_key("a"));
        assert!(!valid_customer_key("has space"));
        assert!(!valid_customer_key(&"x".repeat(301)));
        assert!(!valid_customer_key("키"));
    }
}
