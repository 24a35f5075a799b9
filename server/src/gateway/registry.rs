//! Which adapter a charge goes through: the server-wide gateway
//! (`REBOUND_GATEWAY`), or a partner's own account, built from its stored
//! row on first use with the secret unsealed under the credentials key.
//! Account rows never change (new credentials retire the row and add
//! another), so an adapter built for an id stays right for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{ChargeError, PortOneConfig, PortOneGateway, SharedGateway, TossConfig, TossGateway};
use crate::domain::gateway_account::{Adapter, AdapterKind, CustomerKeyRule};
use crate::sealing::CredentialsKey;
use crate::store::{GatewayAccount, Store};

#[derive(Clone)]
pub struct Gateways {
    server_wide: SharedGateway,
    /// The server-wide Toss account's rule for keys whose order names no
    /// customer key (`REBOUND_TOSS_CUSTOMER_KEYS`).
    server_wide_keys: CustomerKeyRule,
    key: Option<Arc<CredentialsKey>>,
    store: Store,
    built: Arc<Mutex<HashMap<i64, SharedGateway>>>,
}

/// The adapters for an account's kind.
pub fn build_adapter(account: &GatewayAccount, secret: String) -> SharedGateway {
    let s = &account.settings;
    match account.kind {
        AdapterKind::Toss => Arc::new(TossGateway::new(TossConfig {
            secret_key: secret,
            client_key: s.client_key.clone().unwrap_or_default(),
            api_base: s
                .api_base
                .clone()
                .unwrap_or_else(|| super::toss::DEFAULT_API_BASE.to_owned()),
        })),
        AdapterKind::PortOne => Arc::new(PortOneGateway::new(PortOneConfig {
            secret,
            store_id: s.store_id.clone().unwrap_or_default(),
            channel_key: s.channel_key.clone().unwrap_or_default(),
            api_base: s
                .api_base
                .clone()
                .unwrap_or_else(|| super::portone::DEFAULT_API_BASE.to_owned()),
            livemode: account.livemode,
        })),
        // Not an account kind; never stored.
        AdapterKind::Sandbox => Arc::new(super::SandboxGateway::default()),
    }
}

impl Gateways {
    pub fn new(
        server_wide: SharedGateway,
        server_wide_keys: CustomerKeyRule,
        key: Option<Arc<CredentialsKey>>,
        store: Store,
    ) -> Gateways {
        Gateways {
            server_wide,
            server_wide_keys,
            key,
            store,
            built: Arc::default(),
        }
    }

    pub fn server_wide(&self) -> &SharedGateway {
        &self.server_wide
    }

    pub fn credentials_key(&self) -> Option<&CredentialsKey> {
        self.key.as_deref()
    }

    /// The server-wide gateway, if it reaches orders of `payment_gateway`.
    pub fn server_wide_for(&self, payment_gateway: &str) -> Option<Adapter> {
        self.server_wide
            .can_charge(payment_gateway)
            .then(|| Adapter {
                account_id: None,
                kind: self.server_wide.kind(),
                customer_keys: self.server_wide_keys,
            })
    }

    /// The adapter of an account (`None`: the server-wide gateway). An
    /// account that cannot be opened (no credentials key, a secret sealed
    /// under another) is the PG unreachable: the charge stays pending and
    /// the operator is told in the log.
    pub async fn adapter(&self, account_id: Option<i64>) -> Result<SharedGateway, ChargeError> {
        let Some(id) = account_id else {
            return Ok(self.server_wide.clone());
        };
        if let Some(built) = self.built.lock().expect("registry lock").get(&id) {
            return Ok(built.clone());
        }
        let unavailable = |why: &str| {
            tracing::error!(account_id = id, "gateway account unusable: {why}");
            ChargeError::Unavailable(format!("gateway account {id} unusable: {why}"))
        };
        let (account, sealed) = self
            .store
            .gateway_account_sealed(id)
            .await
            .map_err(|_| unavailable("the database did not answer"))?
            .ok_or_else(|| unavailable("no such account"))?;
        let key = self
            .key
            .as_deref()
            .ok_or_else(|| unavailable("REBOUND_CREDENTIALS_KEY_FILE is not set"))?;
        let secret = key
            .open(
                &sealed,
                &crate::store::sealed_for(account.partner_id, &account.payment_gateway),
            )
            .map_err(|_| unavailable("its secret does not open with this credentials key"))?;
        let adapter = build_adapter(&account, secret);
        self.built
            .lock()
            .expect("registry lock")
            .insert(id, adapter.clone());
        Ok(adapter)
    }
}

impl std::fmt::Debug for Gateways {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateways")
            .field("server_wide", &self.server_wide.kind())
            .finish_non_exhaustive()
    }
}

/// Stores a checked account with its secret sealed (the CLI and the
/// console both come here); the partner's account for that PG retires.
pub async fn register_account(
    store: &Store,
    key: &CredentialsKey,
    partner_id: i64,
    account: &crate::domain::gateway_account::CheckedAccount,
    by: &str,
    now_ms: i64,
) -> Result<i64, crate::store::StoreError> {
    let sealed = key.seal(
        &account.secret,
        &crate::store::sealed_for(partner_id, account.payment_gateway),
    );
    store
        .add_gateway_account(
            &crate::store::NewGatewayAccount {
                partner_id,
                payment_gateway: account.payment_gateway,
                kind: account.kind,
                livemode: account.livemode,
                customer_keys: account.customer_keys,
                settings: &account.settings,
                sealed_secret: &sealed,
                by,
            },
            now_ms,
        )
        .await
}
