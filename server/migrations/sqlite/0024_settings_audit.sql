-- Issue 24, item 1: partner roles, a settings history, notices to a
-- replaced notify URL, and secrets shown once after a redirect.

-- ADMIN changes the partner's settings and users; MEMBER reads and acts
-- on cases. Operators (partner_id NULL) have none. Partner users made
-- before roles could change settings: they stay admins.
ALTER TABLE console_users ADD COLUMN partner_role TEXT
    CHECK (partner_role IN ('ADMIN', 'MEMBER'));
UPDATE console_users SET partner_role = 'ADMIN' WHERE partner_id IS NOT NULL;

-- Every change to what can redirect customers or money: who, when, what,
-- the value before and after (secrets: only that they were rotated).
CREATE TABLE settings_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    partner_id BIGINT NOT NULL REFERENCES partners (id),
    changed_at BIGINT NOT NULL,
    changed_by TEXT NOT NULL,
    setting TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT
);
CREATE INDEX settings_changes_partner ON settings_changes (partner_id, id);

-- A notice for another URL than the partner's current one: the
-- settings.changed notice also goes to the notify URL it replaced.
ALTER TABLE events ADD COLUMN endpoint TEXT;

-- A secret to show once on the next page (post-redirect-get), sealed
-- under a key derived from the session id, which only the cookie holds.
ALTER TABLE console_sessions ADD COLUMN flash TEXT;
