-- Refunds of charges flagged NEEDS_REFUND (money moved for an order the
-- partner settled some other way): who asked for it and when it was
-- asked (REFUNDING) or done (REFUNDED).
ALTER TABLE charges ADD COLUMN refund_at BIGINT;
ALTER TABLE charges ADD COLUMN refund_by TEXT;
