-- Issue 25: experiments. A partner's new cases split into arms by a
-- stable hash of the experiment, the partner and the order
-- (domain::experiment::bucket); an arm runs a scenario version or is the
-- holdout (no messages, no silent retries). One running experiment per
-- partner; a stopped one keeps its cases and figures.
CREATE TABLE experiments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    partner_id BIGINT NOT NULL REFERENCES partners (id),
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('RUNNING', 'STOPPED')),
    -- Closed cases every arm needs before a verdict (the fixed horizon).
    horizon BIGINT NOT NULL,
    -- Days after its failure a case may recover and count.
    window_days BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    started_by TEXT NOT NULL,
    stopped_at BIGINT
);
CREATE UNIQUE INDEX experiments_one_running ON experiments (partner_id) WHERE status = 'RUNNING';

-- The arms in order (the first scenario arm is the control); shares in
-- basis points. A scenario arm's scenario_id NULL is the built-in default.
CREATE TABLE experiment_arms (
    experiment_id BIGINT NOT NULL REFERENCES experiments (id),
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('SCENARIO', 'HOLDOUT')),
    scenario_id BIGINT REFERENCES scenarios (id),
    share BIGINT NOT NULL,
    PRIMARY KEY (experiment_id, position)
);

-- A case keeps the arm it opened in for good (intention to treat).
ALTER TABLE recovery_cases ADD COLUMN experiment_id BIGINT REFERENCES experiments (id);
ALTER TABLE recovery_cases ADD COLUMN experiment_arm BIGINT;
CREATE INDEX recovery_cases_experiment ON recovery_cases (experiment_id, experiment_arm) WHERE experiment_id IS NOT NULL;
