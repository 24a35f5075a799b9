-- An account an operator turned off (someone left): it cannot sign in and
-- its sessions are gone. Kept, not deleted: the case timelines name it.
ALTER TABLE console_users ADD COLUMN disabled_at BIGINT;
