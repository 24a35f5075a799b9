-- What console users did to cases (issue 15): who, when, what, and how it
-- came out; the case's timeline shows them.
CREATE TABLE console_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id BIGINT NOT NULL REFERENCES recovery_cases (id),
    user_id BIGINT NOT NULL REFERENCES console_users (id),
    action TEXT NOT NULL,
    detail TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX console_actions_case ON console_actions (case_id);
-- A case's messages paused from the console: the stage that was due and
-- when, kept aside (next_stage_at is NULL meanwhile, so the engine skips
-- the case) until they are resumed.
ALTER TABLE recovery_cases ADD COLUMN messages_paused_at BIGINT;
ALTER TABLE recovery_cases ADD COLUMN paused_next_stage_at BIGINT;
