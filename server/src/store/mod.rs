//! Storage: one repository layer over SQLite (default) and PostgreSQL.
//!
//! Queries go through sqlx's `Any` driver with `$n` placeholders, which both
//! databases accept, so there is one set of queries and the same behaviour on
//! both. Schema differences (auto-increment ids) live only in the two migration
//! directories. Values are kept to types both drivers share: i64 for ids, money
//! and timestamps (Unix milliseconds), text for the rest.

/// SQL: the id of the case a recovery token opens, whether it is the case's
/// first token (its hash `$1`) or a stage message's link (case `$2`, stage
/// `$3`, and its hash `$1`); bind them with `token_binds`. Every token
/// lookup goes through this, so none forgets the stage links.
macro_rules! case_id_by_token {
    () => {
        "(SELECT id FROM recovery_cases WHERE token_hash = $1 \
          UNION ALL SELECT case_id FROM case_links WHERE case_id = $2 AND stage = $3 \
          AND token_hash = $1 LIMIT 1)"
    };
}

/// `($1, $2, $3)` of `case_id_by_token!`: a first token matches no link
/// (there is no case or stage 0).
pub(crate) fn token_binds(key: &TokenKey) -> (&str, i64, i64) {
    match key {
        TokenKey::First(hash) => (&hash.0, 0, 0),
        TokenKey::Stage {
            case_id,
            stage,
            hash,
        } => (&hash.0, *case_id, *stage),
    }
}

/// SQL: the partner's (`$1`) current scenario, which a new case pins.
macro_rules! current_scenario_id {
    () => {
        "(SELECT s.id FROM scenarios s WHERE s.partner_id = $1 ORDER BY s.version DESC LIMIT 1)"
    };
}

mod accounts;
mod analytics;
mod card_windows;
mod case_views;
mod cases;
mod charges;
mod console_actions;
mod customers;
mod engine;
mod events;
mod experiments;
mod gateway_accounts;
mod idempotency;
mod lifecycle;
mod orders;
mod pages;
mod partners;
mod plan_facts;
mod prices;
mod products;
mod refunds;
mod resends;
mod seed;
mod settings;
mod subscriptions;
mod upsert;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::domain::token::TokenKey;

/// Statuses are read and bound as the enums themselves: a read model
/// carries `CaseStatus`, not text, and stored text that is none of ours is
/// an error (`UnknownText`), never some default. One mapping each way, the
/// enum's own (`stored_enum!`).
macro_rules! stored_text_column {
    ($($t:ty),+ $(,)?) => {$(
        impl sqlx::Type<sqlx::Any> for $t {
            fn type_info() -> sqlx::any::AnyTypeInfo {
                <String as sqlx::Type<sqlx::Any>>::type_info()
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Any> for $t {
            fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <String as sqlx::Decode<'r, sqlx::Any>>::decode(value)?;
                Ok(<$t>::parse(&text)?)
            }
        }

        impl<'q> sqlx::Encode<'q, sqlx::Any> for $t {
            fn encode_by_ref(
                &self,
                buf: &mut <sqlx::Any as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'q, sqlx::Any>>::encode(self.as_str(), buf)
            }
        }
    )+};
}

stored_text_column!(
    crate::domain::case::CaseStatus,
    crate::domain::case::ChargeStatus,
    crate::domain::case::StageStatus,
    crate::domain::case::ChargeSource,
    crate::domain::decline::DeclineClass,
    crate::domain::retry::Stop,
    crate::domain::gateway_account::AdapterKind,
    crate::domain::gateway_account::CustomerKeyRule,
    crate::domain::card_window::CardWindowStatus,
);

/// SQL list of the case statuses `event` may happen in: every conditional
/// update of a case takes its `WHERE status IN (...)` from the state machine.
pub(crate) fn allowing(event: crate::domain::case::CaseEvent) -> String {
    crate::domain::case::sql_list(&crate::domain::case::CaseState::statuses_allowing(event))
}

/// `allowing` for charges.
pub(crate) fn charge_allowing(event: crate::domain::case::ChargeEvent) -> String {
    crate::domain::case::sql_list(&crate::domain::case::ChargeStatus::allowing(event))
}

pub use crate::domain::case::CaseStatus;
pub use accounts::ConsoleUser;
pub use analytics::FoldTurn;
pub use card_windows::CardWindow;
pub use case_views::{CaseDetail, CaseFilter, CaseListRow, TimelineItem};
pub use cases::CaseRecord;
pub use charges::{
    ChargeClaim, ChargeDone, ChargeFailure, ChargeSpec, ChargeStart, DueRetry, StaleCharge,
};
pub use console_actions::ConsoleActionRow;
pub use customers::CustomerRecord;
pub use engine::{DueCase, StageOutcome, StageResult, StageStart, StageState};
pub use events::{AttemptOutcome, AttemptRow, DueEvent, EventRow, NextStep};
pub use experiments::{ArmRow, ExperimentError, ExperimentRow};
pub use gateway_accounts::{GatewayAccount, NewGatewayAccount, sealed_for};
pub use idempotency::KeyState;
pub use lifecycle::{CaseEnd, Recovery, Settlement};
pub use orders::{OrderRefused, OrderRow, OrderView, UnknownRef};
pub use pages::Listing;
pub use partners::PartnerRecord;
pub use prices::PriceRecord;
pub use products::ProductRecord;
pub use refunds::RefundDue;
pub use resends::{
    DueResend, RESEND_EVERY_MS, RESEND_GAP_MS, ResendRequest, ResendResult, ResendTry,
};
pub use seed::{DemoCase, FailedOrderSeed, OutcomeSeed};
pub use settings::SettingsHistoryRow;
pub use subscriptions::SubscriptionRecord;
pub use upsert::UpsertOutcome;

/// Integer ids as a SQL list (`1,2,3`). Only for ids the database gave us:
/// listing integers in the query text is safe, and one query reads a batch.
/// A table workers claim rows of under a lease (`Store::claim_due`). Our
/// own constants, never input: they are written into the SQL.
pub(crate) struct WorkQueue {
    pub table: &'static str,
    /// SQL: which rows wait for work (`status = 'OPEN'`).
    pub waiting: &'static str,
    /// When a row is due (indexed for waiting rows).
    pub due_column: &'static str,
    /// Claims take due rows round-robin across the values of this column
    /// (each partner's oldest first, then each one's second, ...), so one
    /// partner's backlog never fills a batch while another's rows wait.
    pub fair_by: Option<&'static str>,
}

/// A row claimed from a work queue.
pub(crate) trait Leased {
    fn id(&self) -> i64;
}

/// Ids per `IN (...)` list: one statement per batch the engine claims.
pub(crate) const IDS_PER_STATEMENT: usize = 512;

pub(crate) fn id_list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

/// Rows per multi-row statement. More rows save round trips to the
/// database, up to where one statement's work dwarfs its round trip.
pub(crate) const ROWS_PER_STATEMENT: usize = 128;

/// `(p, ..., p[, fixed]), (p, ...), ...` for a multi-row VALUES list of
/// `rows` rows of `cols` parameters; `fixed` is appended to each row as is.
/// SQLite gets anonymous `?`s: sqlx finds a numbered parameter's number
/// with `sqlite3_bind_parameter_name`, which walks the statement's list of
/// named parameters, so binding `$n`s costs the square of their count (a
/// tenth of the engine's time at 32 rows); anonymous ones are not in that
/// list. Postgres only takes `$n`.
pub(crate) fn placeholders(backend: Backend, rows: usize, cols: usize, fixed: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(rows * (cols * 5 + fixed.len() + 3));
    for r in 0..rows {
        if r > 0 {
            out.push(',');
        }
        out.push('(');
        for c in 0..cols {
            if c > 0 {
                out.push(',');
            }
            match backend {
                Backend::Sqlite => out.push('?'),
                Backend::Postgres => {
                    let _ = write!(out, "${}", r * cols + c + 1);
                }
            }
        }
        if !fixed.is_empty() {
            out.push(',');
            out.push_str(fixed);
        }
        out.push(')');
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Stored data broke an invariant the schema cannot express.
    #[error("data integrity: {0}")]
    Integrity(&'static str),
    /// Stored text that is none of ours (a status, a class): never read as
    /// a default.
    #[error("data integrity: {0}")]
    UnknownText(#[from] crate::domain::case::UnknownText),
    #[error("unsupported DATABASE_URL {0:?}: use sqlite://path or postgres://...")]
    UnsupportedUrl(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend of a connection (inside a transaction, where only the
    /// connection is at hand).
    pub(crate) fn of(conn: &sqlx::AnyConnection) -> Backend {
        if conn.backend_name().eq_ignore_ascii_case("sqlite") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer. Writers of this process queue here, woken as
    /// soon as the last one commits, instead of in SQLite's busy handler,
    /// which sleeps in steps of milliseconds: with a batch of concurrent
    /// charges that sleeping was most of their time. (Other processes on
    /// the same file still meet the busy handler.) `None` on Postgres.
    write_gate: Option<Arc<tokio::sync::Semaphore>>,
    /// One analytics fold at a time in this process (`analytics_fold_turn`;
    /// on Postgres an advisory lock also covers other processes).
    fold_gate: Arc<tokio::sync::Mutex<()>>,
    /// Experiments' tallies, each kept a few seconds (`experiment_tallies`).
    experiment_cache: Arc<experiments::TallyCache>,
}

/// A write transaction's turn at the SQLite write gate; held until the
/// transaction ends.
pub(crate) type WriteTurn = Option<tokio::sync::OwnedSemaphorePermit>;

impl Store {
    /// Connects, creating a SQLite file if needed, and runs migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        let url = match backend {
            // Create the file on first start: `make run` needs no setup step.
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the single writer; the busy
                        // timeout makes a second writer wait instead of failing.
                        // A 16 MiB page cache (the default is 2 MiB): the
                        // engine's batches touch index pages all over.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
                             PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                             PRAGMA cache_size = -16384;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
        }
        let write_gate =
            (backend == Backend::Sqlite).then(|| Arc::new(tokio::sync::Semaphore::new(1)));
        Ok(Store {
            pool,
            backend,
            write_gate,
            fold_gate: Arc::new(tokio::sync::Mutex::new(())),
            experiment_cache: Arc::default(),
        })
    }

    /// Claims up to `limit` due rows of a work queue for `lease_ms`, oldest
    /// due first, and reads them with `select` in the same transaction: no
    /// other worker (or instance) takes them until the lease ends. `select`
    /// reads `FROM {due}`, the ids picked: rows `queue.waiting`, due
    /// (`due_column <= now`) and not leased, in the due index's order;
    /// Postgres locks them and skips rows another transaction holds (`FOR
    /// UPDATE SKIP LOCKED`), SQLite has one writer (`BEGIN IMMEDIATE`).
    /// Picking before joining keeps Postgres from joining and sorting the
    /// whole backlog on every claim; reading before leasing hands each row
    /// over once (each row sqlx hands over costs a thread wake-up).
    /// When the longest-waiting due row of a queue fell due (`None`: none
    /// is due): how far behind the workers are, for `/metrics`.
    pub(crate) async fn oldest_due_at(
        &self,
        queue: &WorkQueue,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let WorkQueue {
            table,
            waiting,
            due_column,
            ..
        } = queue;
        let (at,): (Option<i64>,) = sqlx::query_as(&format!(
            "SELECT MIN({due_column}) FROM {table} WHERE {waiting} AND {due_column} <= $1"
        ))
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(at)
    }

    /// Connections in the pool: (open, idle).
    pub fn pool_usage(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    pub(crate) async fn claim_due<R>(
        &self,
        queue: &WorkQueue,
        select: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<R>, StoreError>
    where
        R: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Leased + Send + Unpin,
    {
        let WorkQueue {
            table,
            waiting,
            due_column,
            fair_by,
        } = queue;
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let ready = format!(
            "{waiting} AND {due_column} <= $1 AND (lease_until IS NULL OR lease_until < $1)"
        );
        let due = match fair_by {
            None => format!(
                "(SELECT id FROM {table} WHERE {ready} ORDER BY {due_column} LIMIT $2 {lock}) AS due"
            ),
            // Rank each key's due rows, take rank 1 of every key, then
            // rank 2, ... (Postgres locks the rows picked, not the window,
            // which FOR UPDATE cannot take.)
            Some(key) => format!(
                "(SELECT t.id FROM {table} t JOIN \
                   (SELECT id, ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY {due_column}, id) AS turn \
                    FROM {table} WHERE {ready}) AS ranked ON ranked.id = t.id \
                 WHERE {ready} \
                 ORDER BY ranked.turn, t.{due_column} LIMIT $2 {lock_of_t}) AS due",
                lock_of_t = match self.backend {
                    Backend::Postgres => "FOR UPDATE OF t SKIP LOCKED",
                    Backend::Sqlite => "",
                }
            ),
        };
        let (mut tx, _write) = self.begin_write().await?;
        let rows: Vec<R> = sqlx::query_as(&select.replace("{due}", &due))
            .bind(now_ms)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        if rows.is_empty() {
            return Ok(rows);
        }
        let ids: Vec<i64> = rows.iter().map(Leased::id).collect();
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            sqlx::query(&format!(
                "UPDATE {table} SET lease_until = $1 WHERE id IN ({})",
                id_list(chunk)
            ))
            .persistent(false)
            .bind(now_ms + lease_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(rows)
    }

    /// Starts a transaction that will write. On SQLite it takes the write
    /// lock up front (`BEGIN IMMEDIATE`): a deferred transaction that reads
    /// first and writes later fails with SQLITE_BUSY, not waiting, when
    /// another writer got in between, whatever the busy timeout.
    /// On SQLite the caller first waits its turn at the process's write gate
    /// (keep the returned turn for the transaction's life).
    pub async fn begin_write(
        &self,
    ) -> Result<(sqlx::Transaction<'static, sqlx::Any>, WriteTurn), StoreError> {
        let turn = match &self.write_gate {
            Some(gate) => Some(
                gate.clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| StoreError::Integrity("the write gate closed"))?,
            ),
            None => None,
        };
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok((tx, turn))
    }

    /// A cheap round trip, for `/healthz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    /// The two schemas must stay the same but for how ids are generated;
    /// "same behaviour on both" starts here.
    #[test]
    fn placeholders_number_rows_then_columns() {
        use super::Backend::{Postgres, Sqlite};
        assert_eq!(super::placeholders(Postgres, 2, 2, ""), "($1,$2),($3,$4)");
        assert_eq!(super::placeholders(Postgres, 1, 2, "'X'"), "($1,$2,'X')");
        assert_eq!(
            super::placeholders(Sqlite, 2, 2, "'X'"),
            "(?,?,'X'),(?,?,'X')"
        );
    }

    #[test]
    fn sqlite_and_postgres_migrations_agree() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let names = |db: &str| {
            let mut v: Vec<_> = std::fs::read_dir(format!("{dir}/{db}"))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names("sqlite"), names("postgres"));
        for name in names("sqlite") {
            let normalise = |db: &str| {
                let text = std::fs::read_to_string(format!("{dir}/{db}/{name}")).unwrap();
                // Triggers are written in each dialect's own syntax: a
                // block between these markers is compared by its presence.
                let mut inside = false;
                text.lines()
                    .filter(|l| {
                        if l.starts_with("-- dialect-specific: begin") {
                            inside = true;
                        } else if l.starts_with("-- dialect-specific: end") {
                            inside = false;
                            return true;
                        }
                        !inside
                    })
                    .filter(|l| !l.starts_with("--") || l.starts_with("-- dialect-specific"))
                    .map(|l| {
                        l.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "<ID>")
                            .replace(
                                "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                                "<ID>",
                            )
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(normalise("sqlite"), normalise("postgres"), "{name}");
        }
    }
}
