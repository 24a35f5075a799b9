-- Silent retries (issue 13). When the engine next charges the case's saved
-- card by itself (NULL: no retry planned), and why it stopped planning
-- them (domain::retry::Stop). A case whose scenario ran out (ENDED) keeps
-- its retries and stays payable; ended_at marks it while a charge is in
-- flight, so a decline returns it to ENDED, not OPEN.
ALTER TABLE recovery_cases ADD COLUMN next_retry_at BIGINT;
ALTER TABLE recovery_cases ADD COLUMN next_retry_source TEXT;
ALTER TABLE recovery_cases ADD COLUMN retry_stop TEXT;
ALTER TABLE recovery_cases ADD COLUMN ended_at BIGINT;
CREATE INDEX recovery_cases_retry_due ON recovery_cases (next_retry_at) WHERE next_retry_at IS NOT NULL;
UPDATE recovery_cases SET ended_at = closed_at WHERE status = 'ENDED';
-- Attribution: what made each charge (domain::case::ChargeSource), the
-- stage it followed (the last one sent before it), and each decline's code
-- and class (domain::decline).
ALTER TABLE charges ADD COLUMN source TEXT NOT NULL DEFAULT 'page';
ALTER TABLE charges ADD COLUMN stage BIGINT NOT NULL DEFAULT 0;
ALTER TABLE charges ADD COLUMN decline_code TEXT;
ALTER TABLE charges ADD COLUMN decline_class TEXT;
-- The budget counts a billing key's attempts over 30 days, on any case.
CREATE INDEX charges_billing_key ON charges (billing_key, created_at);
-- Unknown outcomes are resolved by a worker once they are a minute old.
CREATE INDEX charges_pending ON charges (attempted_at) WHERE status = 'PENDING';
-- A setup decline (our configuration at the PG is wrong) stops the
-- partner's retries until an operator clears it.
ALTER TABLE partners ADD COLUMN gateway_problem TEXT;
ALTER TABLE partners ADD COLUMN gateway_problem_at BIGINT;
