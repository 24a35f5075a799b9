-- StepCover's optional subscription fields.
ALTER TABLE subscriptions ADD COLUMN trial_start BIGINT;
ALTER TABLE subscriptions ADD COLUMN trial_end BIGINT;
ALTER TABLE subscriptions ADD COLUMN cancel_at_period_end BIGINT NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN initial_order_id BIGINT REFERENCES orders (id);
ALTER TABLE subscriptions ADD COLUMN updated_at BIGINT;
