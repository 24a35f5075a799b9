//! Console accounts and their sessions (`domain::account` has the rules).

use sqlx::FromRow;

use super::{Store, StoreError};
use crate::domain::account::{Email, Role, session_alive};
use crate::domain::settings::{Setting, SettingChange};
use crate::domain::token::TokenHash;

/// A console account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleUser {
    pub id: i64,
    pub email: String,
    pub role: Role,
    /// The Argon2id PHC string.
    pub password_hash: String,
    /// Turned off by an operator: no sign-in, no session.
    pub disabled: bool,
}

#[derive(FromRow)]
struct UserRow {
    id: i64,
    email: String,
    partner_id: Option<i64>,
    partner_role: Option<String>,
    password_hash: String,
    disabled_at: Option<i64>,
}

impl TryFrom<UserRow> for ConsoleUser {
    type Error = StoreError;

    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        Ok(ConsoleUser {
            id: r.id,
            email: r.email,
            role: Role::from_stored(r.partner_id, r.partner_role.as_deref())?,
            password_hash: r.password_hash,
            disabled: r.disabled_at.is_some(),
        })
    }
}

#[derive(FromRow)]
struct SessionRow {
    created_at: i64,
    last_seen_at: i64,
    #[sqlx(flatten)]
    user: UserRow,
}

const USER_COLUMNS: &str =
    "u.id, u.email, u.partner_id, u.partner_role, u.password_hash, u.disabled_at";

/// A partner user as the settings history names it.
fn user_value(user: &ConsoleUser) -> String {
    match user.role {
        Role::Operator => user.email.clone(),
        Role::Partner(_, role) => format!("{} ({})", user.email, role.word()),
    }
}

/// A session's last use is written at most this often; the idle expiry
/// (hours) cannot tell the difference.
const SESSION_TOUCH_MS: i64 = 60_000;

impl Store {
    /// A new account; `None` when the address already has one.
    pub async fn create_console_user(
        &self,
        email: &Email,
        password_hash: &str,
        role: Role,
        by: &str,
        now_ms: i64,
    ) -> Result<Option<ConsoleUser>, StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        let row: Option<UserRow> = sqlx::query_as(
            "INSERT INTO console_users (email, password_hash, partner_id, partner_role, created_at, \
                                        password_changed_at) \
             VALUES ($1, $2, $3, $5, $4, $4) ON CONFLICT (email) DO NOTHING \
             RETURNING id, email, partner_id, partner_role, password_hash, disabled_at",
        )
        .bind(email.as_str())
        .bind(password_hash)
        .bind(role.partner_id())
        .bind(now_ms)
        .bind(role.stored_role())
        .fetch_optional(&mut *tx)
        .await?;
        let user: Option<ConsoleUser> = row.map(TryInto::try_into).transpose()?;
        if let (Some(user), Some(partner_id)) = (&user, role.partner_id()) {
            let change = SettingChange::of(Setting::User, None, Some(&user_value(user)));
            super::settings::record(&mut tx, partner_id, change.as_slice(), by, now_ms).await?;
        }
        tx.commit().await?;
        Ok(user)
    }

    /// The account that may sign in with this address (a turned-off one
    /// is answered as no account).
    pub async fn console_user_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<ConsoleUser>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM console_users u WHERE u.email = $1 AND u.disabled_at IS NULL"
        ))
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    /// Every account, operators first, then by partner and address.
    pub async fn list_console_users(&self) -> Result<Vec<ConsoleUser>, StoreError> {
        let rows: Vec<UserRow> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM console_users u ORDER BY u.partner_id IS NOT NULL, u.partner_id, u.email"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Starts a session (the caller made the id and keeps it for the
    /// cookie), for the password the caller checked: if it changed
    /// meanwhile (a sign-in checks a password for a while, and a change
    /// ends every session), nothing starts and the answer is false. Also
    /// false for an account turned off.
    pub async fn create_console_session(
        &self,
        user_id: i64,
        id: &TokenHash,
        password_hash: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        let started = sqlx::query(
            "INSERT INTO console_sessions (id_hash, user_id, created_at, last_seen_at) \
             SELECT $1, u.id, $3, $3 FROM console_users u \
             WHERE u.id = $2 AND u.password_hash = $4 AND u.disabled_at IS NULL",
        )
        .bind(&id.0)
        .bind(user_id)
        .bind(now_ms)
        .bind(password_hash)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        Ok(started)
    }

    /// The account a live session belongs to, marking it used now; an
    /// expired session is deleted and answers `None`. Reads alone while
    /// the session was used in the last minute: a page view is no write.
    pub async fn console_session(
        &self,
        id: &TokenHash,
        now_ms: i64,
    ) -> Result<Option<ConsoleUser>, StoreError> {
        let row: Option<SessionRow> = sqlx::query_as(&format!(
            "SELECT s.created_at, s.last_seen_at, {USER_COLUMNS} \
             FROM console_sessions s JOIN console_users u ON u.id = s.user_id WHERE s.id_hash = $1"
        ))
        .bind(&id.0)
        .fetch_optional(&self.pool)
        .await?;
        let Some(SessionRow {
            created_at: created,
            last_seen_at: last_seen,
            user,
        }) = row
        else {
            return Ok(None);
        };
        let disabled_at = user.disabled_at;
        let alive = session_alive(created, last_seen, now_ms) && disabled_at.is_none();
        if !alive || now_ms - last_seen >= SESSION_TOUCH_MS {
            let (mut tx, _write) = self.begin_write().await?;
            let sql = if alive {
                "UPDATE console_sessions SET last_seen_at = $2 WHERE id_hash = $1"
            } else {
                "DELETE FROM console_sessions WHERE id_hash = $1 AND $2 >= 0"
            };
            sqlx::query(sql)
                .bind(&id.0)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        alive.then(|| user.try_into()).transpose()
    }

    /// Keeps a sealed secret for this session's next page (one at a time).
    pub async fn set_console_flash(
        &self,
        session: &TokenHash,
        sealed: &str,
    ) -> Result<(), StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        sqlx::query("UPDATE console_sessions SET flash = $2 WHERE id_hash = $1")
            .bind(&session.0)
            .bind(sealed)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The sealed secret kept for this session, taken: a second look finds
    /// none, so a reload never shows it again.
    pub async fn take_console_flash(
        &self,
        session: &TokenHash,
    ) -> Result<Option<String>, StoreError> {
        // A plain read first: most views of the page have nothing kept, and
        // need no turn at the write gate.
        let (flash,): (Option<String>,) =
            sqlx::query_as("SELECT flash FROM console_sessions WHERE id_hash = $1")
                .bind(&session.0)
                .fetch_optional(&self.pool)
                .await?
                .unwrap_or((None,));
        let Some(flash) = flash else {
            return Ok(None);
        };
        // Taken by whoever clears it: two looks at once show it once.
        let (mut tx, _write) = self.begin_write().await?;
        let taken = sqlx::query(
            "UPDATE console_sessions SET flash = NULL WHERE id_hash = $1 AND flash = $2",
        )
        .bind(&session.0)
        .bind(&flash)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        Ok(taken.then_some(flash))
    }

    /// Sign-out: this session ends.
    pub async fn end_console_session(&self, id: &TokenHash) -> Result<(), StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(&id.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Turns an account off and ends its sessions, in one transaction.
    /// False if it was off already (or is not there).
    pub async fn disable_console_user(
        &self,
        user: &ConsoleUser,
        by: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let change = user.role.partner_id().and_then(|p| {
            Some((
                p,
                SettingChange::of(Setting::User, Some(&user_value(user)), None)?,
            ))
        });
        self.change_account_ending_sessions(
            user.id,
            sqlx::query(
                "UPDATE console_users SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL",
            )
            .bind(user.id)
            .bind(now_ms),
            change.as_ref().map(|(p, c)| (*p, c, by, now_ms)),
        )
        .await
    }

    /// A new password ends every session of the account, in the same
    /// transaction: a stolen session does not outlive the change.
    pub async fn set_console_password(
        &self,
        user_id: i64,
        password_hash: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.change_account_ending_sessions(
            user_id,
            sqlx::query(
                "UPDATE console_users SET password_hash = $2, password_changed_at = $3 WHERE id = $1",
            )
            .bind(user_id)
            .bind(password_hash)
            .bind(now_ms),
            None,
        )
        .await
    }

    /// Runs `update` on the account and ends all its sessions, in one
    /// transaction; whether the update changed the account.
    async fn change_account_ending_sessions<'q>(
        &self,
        user_id: i64,
        update: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
        recorded: Option<(i64, &SettingChange, &str, i64)>,
    ) -> Result<bool, StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        let changed = update.execute(&mut *tx).await?.rows_affected() == 1;
        sqlx::query("DELETE FROM console_sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if let (true, Some((partner_id, change, by, now_ms))) = (changed, recorded) {
            super::settings::record(
                &mut tx,
                partner_id,
                std::slice::from_ref(change),
                by,
                now_ms,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(changed)
    }
}
