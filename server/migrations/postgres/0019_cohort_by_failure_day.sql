-- A case counts in the Korean day its payment failed (recovery_cases.failed_at:
-- the order's paymentDate when the partner gave one), not the day Rebound
-- heard of it: a failure reported late, or imported, lands on its own day.
-- The analytics triggers now log a case's change under its failure day.
CREATE INDEX recovery_cases_partner_failed ON recovery_cases (partner_id, failed_at);

-- dialect-specific: begin (the triggers)
CREATE OR REPLACE FUNCTION analytics_case_changed() RETURNS trigger AS $$
BEGIN
    INSERT INTO analytics_changes (partner_id, day)
    VALUES (NEW.partner_id, (NEW.failed_at + 32400000) / 86400000);
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION analytics_stage_changed() RETURNS trigger AS $$
BEGIN
    INSERT INTO analytics_changes (partner_id, day)
    SELECT partner_id, (failed_at + 32400000) / 86400000 FROM recovery_cases WHERE id = NEW.case_id;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION analytics_order_amount() RETURNS trigger AS $$
BEGIN
    INSERT INTO analytics_changes (partner_id, day)
    SELECT partner_id, (failed_at + 32400000) / 86400000 FROM recovery_cases WHERE order_id = NEW.id;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
-- dialect-specific: end

-- Every day a case opened or failed on is computed again.
INSERT INTO analytics_changes (partner_id, day)
SELECT DISTINCT partner_id, (failed_at + 32400000) / 86400000 FROM recovery_cases;
INSERT INTO analytics_changes (partner_id, day)
SELECT DISTINCT partner_id, (opened_at + 32400000) / 86400000 FROM recovery_cases;
