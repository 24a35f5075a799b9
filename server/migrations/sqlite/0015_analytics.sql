-- Recovery analytics (issue 15). Figures are kept per partner and Korean
-- day (day = (ms + 9 h) / 24 h: days since 1970-01-01 KST) in
-- analytics_days, as the JSON of domain::analytics::DayFigures: the cases
-- that opened that day (a cohort) and the notices created that day. A
-- period's figures are the sum of its days, so no request reads every case.
CREATE TABLE analytics_days (
    partner_id BIGINT NOT NULL REFERENCES partners (id),
    day BIGINT NOT NULL,
    figures TEXT NOT NULL,
    computed_at BIGINT NOT NULL,
    PRIMARY KEY (partner_id, day)
);
-- Which days changed since their figures were computed. Triggers append a
-- row in the transaction of every change a figure depends on, so no code
-- path can forget; the store recomputes those days and deletes exactly the
-- rows it read. Append-only: concurrent writers never wait on each other.
CREATE TABLE analytics_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    partner_id BIGINT NOT NULL,
    day BIGINT NOT NULL
);
CREATE INDEX analytics_changes_partner ON analytics_changes (partner_id, id);
-- A day's cases and notices are read by these.
CREATE INDEX recovery_cases_partner_opened ON recovery_cases (partner_id, opened_at);
CREATE INDEX events_partner_created ON events (partner_id, created_at);
-- The case a notice is about (NULL for partner-wide ones, and for notices
-- older than this column): the console's case timeline lists them.
ALTER TABLE events ADD COLUMN case_id BIGINT;
CREATE INDEX events_case ON events (case_id) WHERE case_id IS NOT NULL;
-- How an unrecovered case ended: PAUSE or CANCEL (the scenario's end
-- action, or CANCEL by the partner). NULL while open or once recovered.
ALTER TABLE recovery_cases ADD COLUMN end_action TEXT;
UPDATE recovery_cases SET end_action = CASE
    WHEN status = 'CANCELED' OR retry_stop = 'SUBSCRIPTION_CANCELED' THEN 'CANCEL'
    ELSE 'PAUSE' END
  WHERE status IN ('ENDED', 'CANCELED');

-- dialect-specific: begin (the triggers)
CREATE TRIGGER analytics_case_opened AFTER INSERT ON recovery_cases BEGIN
    INSERT INTO analytics_changes (partner_id, day)
    VALUES (NEW.partner_id, (NEW.opened_at + 32400000) / 86400000);
END;
CREATE TRIGGER analytics_case_changed AFTER UPDATE OF status, end_action ON recovery_cases
WHEN OLD.status IS NOT NEW.status OR OLD.end_action IS NOT NEW.end_action BEGIN
    INSERT INTO analytics_changes (partner_id, day)
    VALUES (NEW.partner_id, (NEW.opened_at + 32400000) / 86400000);
END;
CREATE TRIGGER analytics_stage_added AFTER INSERT ON stage_sends BEGIN
    INSERT INTO analytics_changes (partner_id, day)
    SELECT partner_id, (opened_at + 32400000) / 86400000 FROM recovery_cases WHERE id = NEW.case_id;
END;
CREATE TRIGGER analytics_stage_changed AFTER UPDATE OF status ON stage_sends
WHEN OLD.status IS NOT NEW.status BEGIN
    INSERT INTO analytics_changes (partner_id, day)
    SELECT partner_id, (opened_at + 32400000) / 86400000 FROM recovery_cases WHERE id = NEW.case_id;
END;
CREATE TRIGGER analytics_order_amount AFTER UPDATE OF amount ON orders
WHEN OLD.amount IS NOT NEW.amount BEGIN
    INSERT INTO analytics_changes (partner_id, day)
    SELECT partner_id, (opened_at + 32400000) / 86400000 FROM recovery_cases WHERE order_id = NEW.id;
END;
CREATE TRIGGER analytics_event_added AFTER INSERT ON events BEGIN
    INSERT INTO analytics_changes (partner_id, day)
    VALUES (NEW.partner_id, (NEW.created_at + 32400000) / 86400000);
END;
CREATE TRIGGER analytics_event_changed AFTER UPDATE OF status, attempts ON events
WHEN OLD.status IS NOT NEW.status OR OLD.attempts IS NOT NEW.attempts BEGIN
    INSERT INTO analytics_changes (partner_id, day)
    VALUES (NEW.partner_id, (NEW.created_at + 32400000) / 86400000);
END;

-- Every day that already has cases or notices starts uncomputed.
-- dialect-specific: end

INSERT INTO analytics_changes (partner_id, day)
SELECT DISTINCT partner_id, (opened_at + 32400000) / 86400000 FROM recovery_cases;
INSERT INTO analytics_changes (partner_id, day)
SELECT DISTINCT partner_id, (created_at + 32400000) / 86400000 FROM events;
