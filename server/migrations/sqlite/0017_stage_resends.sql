-- A case's current stage sent again from the console (issue 15): the engine
-- sends each row once, with a dedupe key of its own, under the same lease
-- and retry rules as the stage itself. At most one waits per case, so a
-- double click asks once.
CREATE TABLE stage_resends (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id BIGINT NOT NULL REFERENCES recovery_cases (id),
    stage BIGINT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    requested_by BIGINT NOT NULL REFERENCES console_users (id),
    created_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    lease_until BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    started BIGINT NOT NULL DEFAULT 0,
    worker TEXT,
    last_error TEXT,
    provider_ref TEXT,
    sent_at BIGINT
);
CREATE INDEX stage_resends_case ON stage_resends (case_id);
CREATE INDEX stage_resends_due ON stage_resends (due_at) WHERE status = 'SENDING';
CREATE UNIQUE INDEX stage_resends_one_waiting ON stage_resends (case_id) WHERE status = 'SENDING';

-- dialect-specific: begin
-- Resent messages count among the messages of the day their case opened.
CREATE TRIGGER analytics_resend_added AFTER INSERT ON stage_resends BEGIN
    INSERT INTO analytics_changes (partner_id, day)
    SELECT partner_id, (opened_at + 32400000) / 86400000 FROM recovery_cases WHERE id = NEW.case_id;
END;
CREATE TRIGGER analytics_resend_changed AFTER UPDATE OF status ON stage_resends
WHEN OLD.status IS NOT NEW.status BEGIN
    INSERT INTO analytics_changes (partner_id, day)
    SELECT partner_id, (opened_at + 32400000) / 86400000 FROM recovery_cases WHERE id = NEW.case_id;
END;
-- dialect-specific: end
