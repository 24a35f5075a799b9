//! Paged lists, newest first, of one partner's records.

use super::{Store, StoreError};

/// The resources that can be listed (a closed set: table names never come
/// from input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    Customers,
    Products,
    Prices,
    Orders,
    Subscriptions,
}

impl Listing {
    fn sql(self) -> (&'static str, &'static str) {
        match self {
            Listing::Customers => (
                "SELECT id FROM customers WHERE partner_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
                "SELECT COUNT(*) FROM customers WHERE partner_id = $1",
            ),
            Listing::Products => (
                "SELECT id FROM products WHERE partner_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
                "SELECT COUNT(*) FROM products WHERE partner_id = $1",
            ),
            Listing::Prices => (
                "SELECT id FROM prices WHERE partner_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
                "SELECT COUNT(*) FROM prices WHERE partner_id = $1",
            ),
            Listing::Orders => (
                "SELECT id FROM orders WHERE partner_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
                "SELECT COUNT(*) FROM orders WHERE partner_id = $1",
            ),
            Listing::Subscriptions => (
                "SELECT id FROM subscriptions WHERE partner_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
                "SELECT COUNT(*) FROM subscriptions WHERE partner_id = $1",
            ),
        }
    }
}

impl Store {
    /// One page of ids (newest first: ids only grow) and the total count.
    pub async fn page_ids(
        &self,
        listing: Listing,
        partner_id: i64,
        page: i64,
        size: i64,
    ) -> Result<(Vec<i64>, i64), StoreError> {
        let (page_sql, count_sql) = listing.sql();
        let ids: Vec<(i64,)> = sqlx::query_as(page_sql)
            .bind(partner_id)
            .bind(size)
            .bind(page * size)
            .fetch_all(&self.pool)
            .await?;
        let (total,): (i64,) = sqlx::query_as(count_sql)
            .bind(partner_id)
            .fetch_one(&self.pool)
            .await?;
        Ok((ids.into_iter().map(|(id,)| id).collect(), total))
    }
}
