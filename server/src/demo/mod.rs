//! The demo: a partner ("Rebound Demo Shop") with one failed order, and that
//! partner's own recovery page on a second origin, embedding ours the way a
//! real partner does. `make run` starts both.

use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;

use crate::clock::Clock;
use crate::domain::origin::{AllowedOrigins, Origin};
use crate::domain::token::{TokenHash, new_recovery_token, new_secret_token};
use crate::store::{FailedOrderSeed, PartnerRecord, Store, StoreError};

pub const DEMO_PARTNER: &str = "demo";

/// Whether an existing demo partner gets a new Secret-Token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// Each `make run` prints a working token (the previous one is not
    /// kept anywhere to print again).
    Renew,
    /// `seed-demo` beside a running demo: the token its banner printed
    /// keeps working.
    Keep,
}

/// The demo partner, created on first use, and its Secret-Token when it
/// is new (created, or renewed).
/// The demo's console operator.
pub const DEMO_CONSOLE_EMAIL: &str = "demo@rebound.local";

/// The demo's console operator with a new password at each start (printed
/// in the banner, like the demo token): `--demo` only, never production.
pub async fn ensure_console_operator(store: &Store, now_ms: i64) -> Result<String, StoreError> {
    use crate::domain::account::{Email, NewPassword, Role};
    let password = format!("demo-{}", crate::domain::token::new_id());
    let hash = NewPassword::parse(&password)
        .map_err(|_| StoreError::Integrity("the demo password is too short"))?
        .hash();
    let email = Email::parse(DEMO_CONSOLE_EMAIL)
        .map_err(|_| StoreError::Integrity("the demo address does not parse"))?;
    match store.console_user_by_email(&email).await? {
        Some(user) => {
            store.set_console_password(user.id, &hash, now_ms).await?;
        }
        None => {
            store
                .create_console_user(&email, &hash, Role::Operator, "demo", now_ms)
                .await?;
        }
    }
    Ok(password)
}

pub async fn ensure_partner(
    store: &Store,
    clock: &dyn Clock,
    origins: &AllowedOrigins,
    renew: Token,
) -> Result<(PartnerRecord, Option<String>), StoreError> {
    let token = new_secret_token();
    let hash = TokenHash::of(&token);
    let now = clock.now().timestamp_millis();
    match store.partner_by_name(DEMO_PARTNER).await? {
        Some(p) if renew == Token::Keep => Ok((p, None)),
        Some(p) => {
            store.replace_partner_tokens(p.id, &hash, now).await?;
            Ok((p, Some(token)))
        }
        None => {
            let p = store
                .create_partner(DEMO_PARTNER, "Rebound 데모 상점", origins, &hash, now)
                .await?;
            Ok((p, Some(token)))
        }
    }
}

/// A seeded demo order: the link token and the partner's order id.
pub struct SeededOrder {
    pub token: String,
    pub partner_order_id: String,
}

/// Seeds one failed order with a sandbox billing key that pays successfully.
pub async fn seed_case(
    store: &Store,
    clock: &dyn Clock,
    partner: &PartnerRecord,
    id_key: &str,
) -> Result<SeededOrder, StoreError> {
    let token = new_recovery_token();
    let now = clock.now().timestamp_millis();
    // Each demo customer gets their own copy of a sandbox test card, as
    // each real customer has their own billing key (a per-key retry budget
    // counts one customer's tries, not every demo's).
    let id_key = if id_key.starts_with("sandbox_") {
        format!("{id_key}.{}", &crate::domain::token::new_id()[..8])
    } else {
        id_key.to_owned()
    };
    let id_key = id_key.as_str();
    // Unique even for two seeds in the same millisecond (the e2e tests seed fast).
    let order_id = format!("demo-{now}-{}", &crate::domain::token::new_id()[..8]);
    store
        .seed_failed_order(
            partner.id,
            &FailedOrderSeed {
                partner_customer_id: "demo-customer",
                customer_name: "김길동",
                customer_phone: "01012345678",
                product_name: "프리미엄 멤버십 1개월",
                // Served from public/ by this server.
                product_image_url: Some("/demo-product.svg"),
                amount: 10_000,
                partner_order_id: &order_id,
                id_key,
                payment_info: "신한카드 1234*",
                failure_reason: "한도초과",
                failed_at_ms: now,
                token: &TokenHash::of(&token),
                payment_gateway: "UNKNOWN",
            },
        )
        .await?;
    Ok(SeededOrder {
        token,
        partner_order_id: order_id,
    })
}

/// Default origins of the demo partner site.
pub fn default_origins(demo_port: u16) -> AllowedOrigins {
    AllowedOrigins::new(
        [
            format!("http://localhost:{demo_port}"),
            format!("http://127.0.0.1:{demo_port}"),
        ]
        .iter()
        .filter_map(|o| Origin::parse(o).ok())
        .collect(),
    )
}

/// The partner guide; the demo pages embed its snippets verbatim, so the
/// e2e tests run exactly what partners are told to write.
const GUIDE: &str = include_str!("../../../docs/partner-guide.md");

/// The guide's fenced block tagged `tag` (```` ```html tag ````).
pub fn guide_snippet(tag: &str) -> Option<&'static str> {
    let open = format!("```html {tag}\n");
    let start = GUIDE.find(&open)? + open.len();
    let len = GUIDE[start..].find("```")?;
    Some(&GUIDE[start..start + len])
}

/// What the demo partner's backend received from the listener (endpoints mode).
#[derive(Clone, Default)]
struct Received(std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>);

/// The CSRF token the demo's endpoints page carries and its backend checks.
const DEMO_CSRF: &str = "demo-csrf-token";

#[derive(Clone)]
struct SiteState {
    host: String,
    received: Received,
}

/// The partner's site: `/?token=...` embeds the recovery page with the guide's
/// callbacks snippet, `/endpoints?token=...` with its endpoints snippet, and
/// `/recovery/{intent}` plays the partner backend those endpoints call.
pub fn site_router(host: String) -> Router {
    Router::new()
        .route("/", get(callbacks_page))
        .route("/endpoints", get(endpoints_page))
        .route("/recovery/log", get(backend_log))
        .route("/recovery/{intent}", axum::routing::post(backend_endpoint))
        .with_state(SiteState {
            host,
            received: Received::default(),
        })
}

fn render(host: &str, mode: &str, tag: &str) -> Html<String> {
    let snippet = guide_snippet(tag)
        .unwrap_or_default()
        .replace("https://HOST", host)
        .replace("CSRF_TOKEN", DEMO_CSRF);
    Html(
        include_str!("partner.html")
            .replace("{{MODE}}", mode)
            .replace("{{SNIPPET}}", &snippet),
    )
}

async fn callbacks_page(State(s): State<SiteState>) -> Html<String> {
    render(&s.host, "callbacks", "rebound-embed-callbacks")
}

async fn endpoints_page(State(s): State<SiteState>) -> Html<String> {
    render(&s.host, "endpoints", "rebound-embed-endpoints")
}

/// Records the call; a partner would now confirm with the API (or the signed
/// notification) before acting. Without the CSRF header the call is refused.
async fn backend_endpoint(
    State(s): State<SiteState>,
    axum::extract::Path(intent): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> axum::http::StatusCode {
    if headers.get("x-csrf-token").and_then(|v| v.to_str().ok()) != Some(DEMO_CSRF) {
        return axum::http::StatusCode::FORBIDDEN;
    }
    let entry = serde_json::json!({ "endpoint": intent, "body": body });
    s.received.0.lock().expect("demo log").push(entry);
    axum::http::StatusCode::NO_CONTENT
}

async fn backend_log(State(s): State<SiteState>) -> axum::Json<Vec<serde_json::Value>> {
    axum::Json(s.received.0.lock().expect("demo log").clone())
}

#[cfg(test)]
mod tests {
    use super::guide_snippet;

    #[test]
    fn the_guide_has_both_snippets() {
        for tag in ["rebound-embed-callbacks", "rebound-embed-endpoints"] {
            let s = guide_snippet(tag).unwrap_or_default();
            assert!(s.contains("https://HOST/sdk/embed.js"), "{tag}");
        }
        assert!(guide_snippet("no-such").is_none());
    }
}
