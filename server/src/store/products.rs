//! Products, unique per partner by the partner's own id.

use sqlx::FromRow;

use super::upsert::{self, UpsertOutcome};
use super::{Store, StoreError};
use crate::domain::product::NewProduct;

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ProductRecord {
    pub id: i64,
    pub name: String,
    pub featured_image_url: Option<String>,
    pub partner_product_id: String,
}

impl Store {
    pub async fn upsert_product(
        &self,
        partner_id: i64,
        p: &NewProduct,
        replace: bool,
        now_ms: i64,
    ) -> Result<(ProductRecord, UpsertOutcome), StoreError> {
        upsert::run(
            &self.pool,
            replace,
            || {
                sqlx::query_as(
                    "INSERT INTO products (partner_id, partner_product_id, name, featured_image_url, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (partner_id, partner_product_id) DO NOTHING \
                     RETURNING id, name, featured_image_url, partner_product_id",
                )
                .bind(partner_id)
                .bind(&p.partner_product_id)
                .bind(&p.name)
                .bind(&p.featured_image_url)
                .bind(now_ms)
            },
            || {
                sqlx::query_as(
                    "UPDATE products SET name = $3, featured_image_url = $4 \
                     WHERE partner_id = $1 AND partner_product_id = $2 \
                     RETURNING id, name, featured_image_url, partner_product_id",
                )
                .bind(partner_id)
                .bind(&p.partner_product_id)
                .bind(&p.name)
                .bind(&p.featured_image_url)
            },
            || {
                sqlx::query_as(
                    "SELECT id, name, featured_image_url, partner_product_id FROM products \
                     WHERE partner_id = $1 AND partner_product_id = $2",
                )
                .bind(partner_id)
                .bind(&p.partner_product_id)
            },
        )
        .await
    }

    /// A product by our id, only if it belongs to the partner.
    pub async fn product(
        &self,
        partner_id: i64,
        id: i64,
    ) -> Result<Option<ProductRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, name, featured_image_url, partner_product_id FROM products \
             WHERE partner_id = $1 AND id = $2",
        )
        .bind(partner_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }
}
