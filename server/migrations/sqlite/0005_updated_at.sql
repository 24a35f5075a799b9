-- When replaceIfExists last overwrote a price or an order.
ALTER TABLE prices ADD COLUMN updated_at BIGINT;
ALTER TABLE orders ADD COLUMN updated_at BIGINT;
