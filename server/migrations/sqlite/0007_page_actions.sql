-- What the recovery page's actions record on a case: the date the customer
-- chose for the next payment, how often they asked to be reminded later, and
-- when they registered a new payment method.
ALTER TABLE recovery_cases ADD COLUMN selected_date TEXT;
ALTER TABLE recovery_cases ADD COLUMN remind_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE recovery_cases ADD COLUMN method_changed_at BIGINT;
-- The PG's customer key the order's billing key was issued under (Toss's
-- customerKey); a charge must send the same one.
ALTER TABLE orders ADD COLUMN billing_customer_key TEXT;
-- How far ahead a customer may move the payment date.
ALTER TABLE partners ADD COLUMN change_date_window_days BIGINT NOT NULL DEFAULT 14;
-- When a pending charge was last sent to the PG. A charge whose outcome is
-- unknown (timeout, crash) is retried with the same idempotency key once
-- this is old enough, so the PG answers with the first result.
ALTER TABLE charges ADD COLUMN attempted_at BIGINT;
-- What a charge sent to the PG, so a resend (unknown outcome) repeats it
-- exactly, whatever the order says by then.
ALTER TABLE charges ADD COLUMN billing_key TEXT;
ALTER TABLE charges ADD COLUMN customer_key TEXT;
ALTER TABLE charges ADD COLUMN order_name TEXT;
