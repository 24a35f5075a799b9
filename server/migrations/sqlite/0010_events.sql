-- Server-to-server notices (design section 7). Each row is written in the
-- same transaction as the change it reports, so a crash never loses one;
-- the delivery worker sends due rows and records every attempt.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    partner_id BIGINT NOT NULL REFERENCES partners (id),
    -- Standard Webhooks' webhook-id: the same on every retry.
    webhook_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    tid TEXT NOT NULL,
    subscription_id BIGINT,
    -- Per subscription, from 1; 0 for events without a subscription.
    sequence BIGINT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- PENDING, DELIVERED, FAILED (retries exhausted), DISABLED (the
    -- endpoint answered 410), NO_ENDPOINT (the partner has no URL).
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    lease_until BIGINT,
    delivered_at BIGINT
);
CREATE INDEX events_due ON events (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX events_partner ON events (partner_id, id);

-- Every delivery attempt, for the delivery log.
CREATE TABLE event_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id BIGINT NOT NULL REFERENCES events (id),
    attempted_at BIGINT NOT NULL,
    -- HTTP status, or NULL when no answer came (timeout, refused).
    status_code BIGINT,
    ok BIGINT NOT NULL,
    error TEXT,
    response_excerpt TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX event_attempts_event ON event_attempts (event_id);

ALTER TABLE subscriptions ADD COLUMN event_seq BIGINT NOT NULL DEFAULT 0;

-- The notice signing secret (whsec_...). A signing key must be readable to
-- sign, so unlike tokens it cannot be stored hashed. During a rotation the
-- previous one also signs until previous_until.
ALTER TABLE partners ADD COLUMN webhook_secret TEXT;
ALTER TABLE partners ADD COLUMN webhook_secret_previous TEXT;
ALTER TABLE partners ADD COLUMN webhook_previous_until BIGINT;
-- Set when the endpoint answered 410 Gone; setting a URL again clears it.
ALTER TABLE partners ADD COLUMN notify_disabled_at BIGINT;
