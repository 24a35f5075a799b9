//! Partners' gateway accounts (`domain::gateway_account`). The API secret is
//! stored sealed (`sealing.rs`) and read back only by the gateway registry,
//! which builds the adapter; no listing carries it.

use sqlx::{Any, FromRow, Transaction};

use super::{Store, StoreError};
use crate::domain::gateway_account::{AccountSettings, AdapterKind, CustomerKeyRule};
use crate::domain::settings::{ROTATED, Setting, SettingChange};

/// An account as the console and the CLI show it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayAccount {
    pub id: i64,
    pub partner_id: i64,
    pub payment_gateway: String,
    pub kind: AdapterKind,
    pub livemode: bool,
    pub customer_keys: CustomerKeyRule,
    pub settings: AccountSettings,
    pub created_at_ms: i64,
    pub created_by: String,
    pub retired_at_ms: Option<i64>,
}

/// A new account (or new credentials for one: the current one retires).
#[derive(Debug, Clone)]
pub struct NewGatewayAccount<'a> {
    pub partner_id: i64,
    pub payment_gateway: &'a str,
    pub kind: AdapterKind,
    pub livemode: bool,
    pub customer_keys: CustomerKeyRule,
    pub settings: &'a AccountSettings,
    /// Sealed for `sealed_for(partner_id, payment_gateway)`.
    pub sealed_secret: &'a str,
    /// Who set it (a console user's e-mail, or `cli`).
    pub by: &'a str,
}

/// What a sealed secret is bound to: a copy on another row does not open.
pub fn sealed_for(partner_id: i64, payment_gateway: &str) -> String {
    format!("gateway-account:{partner_id}:{payment_gateway}")
}

#[derive(FromRow)]
struct AccountRow {
    id: i64,
    partner_id: i64,
    payment_gateway: String,
    kind: AdapterKind,
    livemode: i64,
    customer_keys: CustomerKeyRule,
    settings: String,
    created_at: i64,
    created_by: String,
    retired_at: Option<i64>,
}

const COLUMNS: &str = "id, partner_id, payment_gateway, kind, livemode, customer_keys, settings, \
                       created_at, created_by, retired_at";

impl TryFrom<AccountRow> for GatewayAccount {
    type Error = StoreError;

    fn try_from(r: AccountRow) -> Result<Self, StoreError> {
        Ok(GatewayAccount {
            id: r.id,
            partner_id: r.partner_id,
            payment_gateway: r.payment_gateway,
            kind: r.kind,
            livemode: r.livemode != 0,
            customer_keys: r.customer_keys,
            settings: serde_json::from_str(&r.settings)
                .map_err(|_| StoreError::Integrity("an account's settings are not JSON"))?,
            created_at_ms: r.created_at,
            created_by: r.created_by,
            retired_at_ms: r.retired_at,
        })
    }
}

/// An account as the settings history names it: never its secret.
fn described(
    payment_gateway: &str,
    kind: AdapterKind,
    livemode: bool,
    customer_keys: CustomerKeyRule,
    settings: &AccountSettings,
) -> String {
    [
        payment_gateway.to_owned(),
        kind.as_str().to_owned(),
        if livemode { "live" } else { "test" }.to_owned(),
        format!("customer keys {}", customer_keys.as_str()),
    ]
    .into_iter()
    .chain(settings.ids())
    .collect::<Vec<_>>()
    .join(" · ")
}

/// Retires the partner's current account for the PG, in the caller's
/// transaction; how the history names it, if there was one.
async fn retire(
    tx: &mut Transaction<'_, Any>,
    partner_id: i64,
    payment_gateway: &str,
    now_ms: i64,
) -> Result<Option<String>, StoreError> {
    let row: Option<AccountRow> = sqlx::query_as(&format!(
        "UPDATE gateway_accounts SET retired_at = $3 \
         WHERE partner_id = $1 AND payment_gateway = $2 AND retired_at IS NULL RETURNING {COLUMNS}"
    ))
    .bind(partner_id)
    .bind(payment_gateway)
    .bind(now_ms)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| {
        let a = GatewayAccount::try_from(r)?;
        Ok(described(
            &a.payment_gateway,
            a.kind,
            a.livemode,
            a.customer_keys,
            &a.settings,
        ))
    })
    .transpose()
}

impl Store {
    /// Adds the partner's account for `payment_gateway`, retiring the one
    /// it replaces in the same transaction. Charges already sent through
    /// the old one keep going to it for their lookups and resends.
    pub async fn add_gateway_account(
        &self,
        a: &NewGatewayAccount<'_>,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let settings = serde_json::to_string(a.settings)
            .map_err(|_| StoreError::Integrity("account settings do not serialize"))?;
        let (mut tx, _write) = self.begin_write().await?;
        let replaced = retire(&mut tx, a.partner_id, a.payment_gateway, now_ms).await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO gateway_accounts (partner_id, payment_gateway, kind, livemode, customer_keys, \
                                           settings, credentials, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(a.partner_id)
        .bind(a.payment_gateway)
        .bind(a.kind)
        .bind(i64::from(a.livemode))
        .bind(a.customer_keys)
        .bind(settings)
        .bind(a.sealed_secret)
        .bind(now_ms)
        .bind(a.by)
        .fetch_one(&mut *tx)
        .await?;
        let new = described(
            a.payment_gateway,
            a.kind,
            a.livemode,
            a.customer_keys,
            a.settings,
        );
        let change = SettingChange::of(Setting::GatewayAccount, replaced.as_deref(), Some(&new))
            // The same account again: new credentials, recorded as such.
            .unwrap_or_else(|| SettingChange {
                setting: Setting::GatewayAccount,
                old: replaced,
                new: Some(format!("{new} · {ROTATED}")),
            });
        super::settings::record(&mut tx, a.partner_id, &[change], a.by, now_ms).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Retires the partner's account for `payment_gateway`; its orders go
    /// back to the server-wide gateway, if it reaches that PG. False when
    /// there was none.
    pub async fn retire_gateway_account(
        &self,
        partner_id: i64,
        payment_gateway: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        let Some(retired) = retire(&mut tx, partner_id, payment_gateway, now_ms).await? else {
            return Ok(false);
        };
        let change = SettingChange::of(Setting::GatewayAccount, Some(&retired), None);
        super::settings::record(&mut tx, partner_id, change.as_slice(), by, now_ms).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The partner's current accounts, by PG.
    pub async fn gateway_accounts(
        &self,
        partner_id: i64,
    ) -> Result<Vec<GatewayAccount>, StoreError> {
        let rows: Vec<AccountRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM gateway_accounts \
             WHERE partner_id = $1 AND retired_at IS NULL ORDER BY payment_gateway"
        ))
        .bind(partner_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(GatewayAccount::try_from).collect()
    }

    /// One account, retired or not, with its sealed secret: for the
    /// gateway registry only.
    pub async fn gateway_account_sealed(
        &self,
        id: i64,
    ) -> Result<Option<(GatewayAccount, String)>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT credentials FROM gateway_accounts WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        let Some((sealed,)) = row else {
            return Ok(None);
        };
        let row: AccountRow = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM gateway_accounts WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        Ok(Some((row.try_into()?, sealed)))
    }

    /// Whether any partner has a current account (the server then needs
    /// the credentials key to start).
    pub async fn has_gateway_accounts(&self) -> Result<bool, StoreError> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM gateway_accounts WHERE retired_at IS NULL")
                .fetch_one(&self.pool)
                .await?;
        Ok(n > 0)
    }
}
