-- When a charge last went to the PG (its claim, or a resend under its own
-- key): the day a card was charged on. attempted_at also moves when the
-- resolver only looks a charge up, so it cannot tell.
ALTER TABLE charges ADD COLUMN sent_at BIGINT;
UPDATE charges SET sent_at = COALESCE(attempted_at, created_at);
