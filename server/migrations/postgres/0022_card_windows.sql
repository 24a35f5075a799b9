-- Card windows opened outside the partner's iframe (domain/card_window.rs):
-- the card page is opened top-level with a signed ticket; this row is
-- where the iframe learns what became of it. The row is the window's own
-- state only: the new key and the charge live on the order and charges.
CREATE TABLE card_windows (
    -- The ticket's window id (128 random bits, hex).
    id TEXT PRIMARY KEY,
    case_id BIGINT NOT NULL REFERENCES recovery_cases (id),
    -- OPEN, COMPLETING, PAID, DECLINED, CANCELED, FAILED, SETTLED.
    status TEXT NOT NULL,
    -- The page notice to show with SETTLED (app::model::Notice codes).
    notice TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX card_windows_case ON card_windows (case_id);
