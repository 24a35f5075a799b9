-- Responses to requests sent with an Idempotency-Key, replayed for retries.
-- status 0 marks a request still in flight.
CREATE TABLE idempotency_keys (
    partner_id BIGINT NOT NULL REFERENCES partners (id),
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status BIGINT NOT NULL,
    response_body TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (partner_id, idempotency_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
