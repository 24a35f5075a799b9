-- A partner's own gateway accounts: a billing key works only with the
-- merchant account that issued it, so each partner's orders of one
-- paymentGateway are charged through that partner's account for it.
-- Changing an account's credentials retires the row and adds a new one:
-- charges name the account they were sent through, and their resends and
-- lookups go to that same account (the PG keeps the idempotency key there).
CREATE TABLE gateway_accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    partner_id BIGINT NOT NULL REFERENCES partners (id),
    -- The orders' paymentGateway this account charges (StepPay's names).
    payment_gateway TEXT NOT NULL,
    -- TOSS or PORTONE.
    kind TEXT NOT NULL,
    -- 1 when charges move real money (a live key), 0 for a test account.
    livemode BIGINT NOT NULL,
    -- What a Toss key is charged with when the order names no customer
    -- key: ORDER_ONLY (nothing) or PARTNER_CUSTOMER_ID.
    customer_keys TEXT NOT NULL,
    -- What is not secret, as JSON: the client key, PortOne's store id and
    -- channel key, the API base, the customer key rule.
    settings TEXT NOT NULL,
    -- The API secret, sealed (sealing.rs) under the credentials key, which
    -- is never in the database.
    credentials TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    retired_at BIGINT
);
CREATE UNIQUE INDEX gateway_accounts_current
    ON gateway_accounts (partner_id, payment_gateway) WHERE retired_at IS NULL;

-- The account a charge went through (NULL: the server-wide gateway).
ALTER TABLE charges ADD COLUMN gateway_account_id BIGINT REFERENCES gateway_accounts (id);
