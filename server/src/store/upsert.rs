//! The create semantics every partner resource shares: insert unless the
//! partner already has a record with this partner id; then return it, or
//! replace it when the partner asked (`replaceIfExists`).

use sqlx::any::AnyRow;
use sqlx::{AnyPool, FromRow};

use super::StoreError;

/// What a create call did, which decides 201 or 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    Created,
    /// A record with this partner id existed and was returned unchanged.
    Existing,
    /// A record existed and `replaceIfExists` overwrote it.
    Replaced,
}

type Query<'q, R> = sqlx::query::QueryAs<'q, sqlx::Any, R, sqlx::any::AnyArguments<'q>>;

/// Runs a create from its three statements, each returning the record's
/// columns: `INSERT ... ON CONFLICT DO NOTHING RETURNING`, `UPDATE ...
/// RETURNING` and `SELECT`. Each is one atomic statement, so concurrent creates
/// of the same partner id cannot produce duplicates. Only the statements
/// needed are built and run.
pub async fn run<'q, R, I, U, S>(
    pool: &AnyPool,
    replace: bool,
    insert: I,
    update: U,
    select: S,
) -> Result<(R, UpsertOutcome), StoreError>
where
    R: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    I: FnOnce() -> Query<'q, R>,
    U: FnOnce() -> Query<'q, R>,
    S: FnOnce() -> Query<'q, R>,
{
    if let Some(record) = insert().fetch_optional(pool).await? {
        return Ok((record, UpsertOutcome::Created));
    }
    if replace {
        return Ok((update().fetch_one(pool).await?, UpsertOutcome::Replaced));
    }
    Ok((select().fetch_one(pool).await?, UpsertOutcome::Existing))
}
