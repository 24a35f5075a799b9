-- Console accounts (issue 15): operator admins (partner_id NULL) and
-- partner users (scoped to one partner). Passwords as Argon2id PHC strings.
CREATE TABLE console_users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    partner_id BIGINT REFERENCES partners (id),
    created_at BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL
);
-- Sessions by the SHA-256 of their id (the cookie holds the id itself).
CREATE TABLE console_sessions (
    id_hash TEXT NOT NULL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES console_users (id),
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);
