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

/// The demo partner, created on first use. Its Secret-Token is replaced on
/// every call and returned, so each `make run` prints a working token.
pub async fn ensure_partner(
    store: &Store,
    clock: &dyn Clock,
    origins: &AllowedOrigins,
) -> Result<(PartnerRecord, String), StoreError> {
    let token = new_secret_token();
    let hash = TokenHash::of(&token);
    let now = clock.now().timestamp_millis();
    let partner = match store.partner_by_name(DEMO_PARTNER).await? {
        Some(p) => {
            store.replace_partner_tokens(p.id, &hash, now).await?;
            p
        }
        None => {
            store
                .create_partner(DEMO_PARTNER, "Rebound 데모 상점", origins, &hash, now)
                .await?
        }
    };
    Ok((partner, token))
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
    // Unique even for two seeds in the same millisecond (the e2e tests seed fast).
    let order_id = format!("demo-{now}-{}", &crate::domain::token::new_id()[..8]);
    store
        .seed_failed_order(
            partner.id,
            &FailedOrderSeed {
                partner_customer_id: "demo-customer",
                customer_name: "김길동",
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

#[derive(Clone)]
struct SiteState {
    host: String,
}

/// The partner's site: `/?token=...` shows the embedded recovery page and what
/// the listener received.
pub fn site_router(host: String) -> Router {
    Router::new()
        .route("/", get(page))
        .with_state(SiteState { host })
}

async fn page(State(s): State<SiteState>) -> Html<String> {
    Html(include_str!("partner.html").replace("{{HOST}}", &s.host))
}
