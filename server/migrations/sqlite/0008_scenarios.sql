-- Recovery scenarios, per partner and versioned: a case keeps the version it
-- opened with (scenario_id); editing adds a version for new cases only.
-- No row for a partner means the built-in default.
CREATE TABLE scenarios (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    partner_id BIGINT NOT NULL REFERENCES partners (id),
    version BIGINT NOT NULL,
    -- JSON: {"stages":[{"afterHours":0,"channel":"ALIMTALK"},...],"endAction":"PAUSE",...}
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (partner_id, version)
);
ALTER TABLE recovery_cases ADD COLUMN scenario_id BIGINT REFERENCES scenarios (id);
-- The stage next_stage_at is for (1-based); past the last, the end action.
ALTER TABLE recovery_cases ADD COLUMN next_stage BIGINT NOT NULL DEFAULT 1;
-- A worker's lease on a due case: others skip it until it expires.
ALTER TABLE recovery_cases ADD COLUMN lease_until BIGINT;
CREATE INDEX recovery_cases_due ON recovery_cases (next_stage_at) WHERE status = 'OPEN';

-- The send ledger: one row per (case, stage), so a stage is sent at most
-- once whatever the crashes and instances. dedupe_key is what the message
-- provider deduplicates on.
CREATE TABLE stage_sends (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id BIGINT NOT NULL REFERENCES recovery_cases (id),
    stage BIGINT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    provider_ref TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    UNIQUE (case_id, stage)
);

-- The outbox message provider (the default): every message, viewable on the
-- dev page. dedupe_key makes a resend after a crash a no-op.
CREATE TABLE outbox_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key TEXT NOT NULL UNIQUE,
    partner_id BIGINT NOT NULL,
    case_id BIGINT NOT NULL,
    stage BIGINT NOT NULL,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    body TEXT NOT NULL,
    link TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Each stage's message carries its own link token (hashes only, like the
-- case's first token); any of them opens the case.
CREATE TABLE case_links (
    token_hash TEXT NOT NULL PRIMARY KEY,
    case_id BIGINT NOT NULL REFERENCES recovery_cases (id),
    stage BIGINT NOT NULL
);

-- Server-wide secrets generated at first start (the link-token key).
CREATE TABLE server_secrets (
    name TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

-- The partner's own recovery page, where message links point (?token= is
-- appended). When unset, the first registered origin's root.
ALTER TABLE partners ADD COLUMN recovery_page_url TEXT;
