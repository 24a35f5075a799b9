//! `GET /api/v1/cover/{resource}?page=&size=`: paged lists, newest first.

use axum::Json;
use axum::extract::State;

use super::json::ApiQuery;
use serde::{Deserialize, Serialize};

use super::customers::CustomerDto;
use super::orders::OrderDto;
use super::prices::PriceDto;
use super::products::ProductDto;
use super::{ApiError, AuthPartner};
use crate::state::AppState;
use crate::store::{Listing, StoreError};

pub const MAX_PAGE_SIZE: i64 = 100;

/// Raw query values, parsed here so a bad one is named like a bad body field.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Zero-based, default 0.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 1000000)]
    page: Option<String>,
    /// 1 to 100, default 20.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    size: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    content: Vec<T>,
    /// Zero-based, as in StepPay's API.
    page: i64,
    size: i64,
    total_elements: i64,
    total_pages: i64,
}

fn parse(q: &PageQuery) -> Result<(i64, i64), ApiError> {
    let page = match q.page.as_deref() {
        None => 0,
        Some(p) => p
            .parse::<i64>()
            .ok()
            .filter(|p| (0..=1_000_000).contains(p))
            .ok_or_else(|| ApiError::invalid("page", "must be a whole number from 0"))?,
    };
    let size = match q.size.as_deref() {
        None => 20,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|s| (1..=MAX_PAGE_SIZE).contains(s))
            .ok_or_else(|| {
                ApiError::invalid("size", format!("must be between 1 and {MAX_PAGE_SIZE}"))
            })?,
    };
    Ok((page, size))
}

/// Lists one page, loading each record with the same code as `GET /{id}`.
async fn list<T, F, Fut>(
    state: &AppState,
    partner_id: i64,
    listing: Listing,
    q: &PageQuery,
    load: F,
) -> Result<Json<Page<T>>, ApiError>
where
    F: Fn(i64) -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, ApiError>>,
{
    let (page, size) = parse(q)?;
    let (ids, total) = state
        .store
        .page_ids(listing, partner_id, page, size)
        .await?;
    let mut content = Vec::with_capacity(ids.len());
    for id in ids {
        content.push(
            load(id)
                .await?
                .ok_or(StoreError::Integrity("a listed record vanished"))?,
        );
    }
    Ok(Json(Page {
        content,
        page,
        size,
        total_elements: total,
        total_pages: (total + size - 1) / size,
    }))
}

#[utoipa::path(get, path = "/api/v1/cover/customer", operation_id = "listCustomers", params(PageQuery), responses((status = 200, body = Page<CustomerDto>), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn customers(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<CustomerDto>>, ApiError> {
    let (state, partner_id) = (&state, partner.id);
    list(state, partner_id, Listing::Customers, &q, |id| async move {
        Ok(state.store.customer(partner_id, id).await?.map(Into::into))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/cover/product", operation_id = "listProducts", params(PageQuery), responses((status = 200, body = Page<ProductDto>), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn products(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<ProductDto>>, ApiError> {
    let (state, partner_id) = (&state, partner.id);
    list(state, partner_id, Listing::Products, &q, |id| async move {
        Ok(state.store.product(partner_id, id).await?.map(Into::into))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/cover/price", operation_id = "listPrices", params(PageQuery), responses((status = 200, body = Page<PriceDto>), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn prices(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<PriceDto>>, ApiError> {
    let (state, partner_id) = (&state, partner.id);
    list(state, partner_id, Listing::Prices, &q, |id| async move {
        match state.store.price(partner_id, id).await? {
            Some(p) => Ok(Some(PriceDto::load(&state.store, partner_id, p).await?)),
            None => Ok(None),
        }
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/cover/order", operation_id = "listOrders", params(PageQuery), responses((status = 200, body = Page<OrderDto>), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn orders(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<OrderDto>>, ApiError> {
    let (state, partner_id) = (&state, partner.id);
    list(state, partner_id, Listing::Orders, &q, |id| async move {
        Ok(state
            .store
            .order_view(partner_id, id)
            .await?
            .map(Into::into))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/cover/subscription", operation_id = "listSubscriptions", params(PageQuery), responses((status = 200, body = Page<super::subscriptions::SubscriptionDto>), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn subscriptions(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<super::subscriptions::SubscriptionDto>>, ApiError> {
    let (state, partner_id) = (&state, partner.id);
    list(
        state,
        partner_id,
        Listing::Subscriptions,
        &q,
        |id| async move { super::subscriptions::load(state, partner_id, id).await },
    )
    .await
}
