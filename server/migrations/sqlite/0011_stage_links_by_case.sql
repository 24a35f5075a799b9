-- Stage links are found by case and stage (the token carries both in
-- clear, `{case}.{stage}.{mac}`), then checked against the stored hash.
-- Keyed by the hash alone, every new link went to a random page of a large
-- index: a fifth of the scenario engine's time. Links issued before this
-- migration (no release carried them) stop opening the page.
DROP TABLE case_links;
CREATE TABLE case_links (
    case_id BIGINT NOT NULL REFERENCES recovery_cases (id),
    stage BIGINT NOT NULL,
    token_hash TEXT NOT NULL,
    PRIMARY KEY (case_id, stage)
);
