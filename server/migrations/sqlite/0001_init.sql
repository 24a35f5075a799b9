-- Rebound schema, SQLite flavour. Keep in step with ../postgres/0001_init.sql:
-- same tables, columns and constraints; only id generation differs.
-- Timestamps are Unix milliseconds (BIGINT); money is KRW in integer won.

CREATE TABLE partners (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    business_name TEXT NOT NULL,
    embed_origins TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Hashes of Secret-Tokens; a partner may have an old token in its grace period.
CREATE TABLE partner_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    partner_id BIGINT NOT NULL REFERENCES partners (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);

CREATE TABLE customers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    partner_id BIGINT NOT NULL REFERENCES partners (id),
    partner_customer_id TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    phone TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (partner_id, partner_customer_id)
);

CREATE TABLE products (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    partner_id BIGINT NOT NULL REFERENCES partners (id),
    partner_product_id TEXT NOT NULL,
    name TEXT NOT NULL,
    featured_image_url TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (partner_id, partner_product_id)
);

CREATE TABLE prices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    partner_id BIGINT NOT NULL REFERENCES partners (id),
    partner_price_id TEXT NOT NULL,
    product_id BIGINT NOT NULL REFERENCES products (id),
    name TEXT NOT NULL,
    price BIGINT NOT NULL,
    is_recurring BIGINT NOT NULL,
    recurring_interval TEXT,
    recurring_interval_count BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (partner_id, partner_price_id)
);

CREATE TABLE subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    partner_id BIGINT NOT NULL REFERENCES partners (id),
    partner_subscription_id TEXT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    status TEXT NOT NULL,
    current_period_start BIGINT NOT NULL,
    current_period_end BIGINT NOT NULL,
    recurring_interval TEXT NOT NULL,
    recurring_interval_count BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (partner_id, partner_subscription_id)
);

CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    partner_id BIGINT NOT NULL REFERENCES partners (id),
    partner_order_id TEXT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    subscription_id BIGINT REFERENCES subscriptions (id),
    amount BIGINT NOT NULL,
    amount_returned BIGINT NOT NULL,
    status TEXT NOT NULL,
    payment_gateway TEXT NOT NULL,
    payment_date BIGINT,
    id_key TEXT,
    payment_info TEXT,
    error_code TEXT,
    error_message TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (partner_id, partner_order_id)
);

CREATE TABLE order_items (
    order_id BIGINT NOT NULL REFERENCES orders (id),
    price_id BIGINT NOT NULL REFERENCES prices (id),
    quantity BIGINT NOT NULL,
    PRIMARY KEY (order_id, price_id)
);

-- One open recovery case per failed order; the link token is stored hashed.
CREATE TABLE recovery_cases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    partner_id BIGINT NOT NULL REFERENCES partners (id),
    order_id BIGINT NOT NULL REFERENCES orders (id),
    subscription_id BIGINT REFERENCES subscriptions (id),
    token_hash TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    failed_at BIGINT NOT NULL,
    failure_code TEXT,
    failure_reason TEXT,
    next_stage_at BIGINT,
    opened_at BIGINT NOT NULL,
    closed_at BIGINT
);
CREATE INDEX recovery_cases_order ON recovery_cases (order_id);

-- Every charge attempt; the unique key is what makes a charge happen once.
CREATE TABLE charges (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id BIGINT NOT NULL REFERENCES recovery_cases (id),
    idempotency_key TEXT NOT NULL UNIQUE,
    amount BIGINT NOT NULL,
    status TEXT NOT NULL,
    gateway_ref TEXT,
    failure_reason TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX charges_case ON charges (case_id);
