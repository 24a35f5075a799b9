-- A case counts in the Korean day its payment failed (recovery_cases.failed_at:
-- the order's paymentDate when the partner gave one), not the day Rebound
-- heard of it: a failure reported late, or imported, lands on its own day.
-- The analytics triggers now log a case's change under its failure day.
CREATE INDEX recovery_cases_partner_failed ON recovery_cases (partner_id, failed_at);

-- dialect-specific: begin (the triggers)
DROP TRIGGER analytics_case_opened;
DROP TRIGGER analytics_case_changed;
DROP TRIGGER analytics_stage_added;
DROP TRIGGER analytics_stage_changed;
DROP TRIGGER analytics_order_amount;
CREATE TRIGGER analytics_case_opened AFTER INSERT ON recovery_cases BEGIN
    INSERT INTO analytics_changes (partner_id, day)
    VALUES (NEW.partner_id, (NEW.failed_at + 32400000) / 86400000);
END;
CREATE TRIGGER analytics_case_changed AFTER UPDATE OF status, end_action ON recovery_cases
WHEN OLD.status IS NOT NEW.status OR OLD.end_action IS NOT NEW.end_action BEGIN
    INSERT INTO analytics_changes (partner_id, day)
    VALUES (NEW.partner_id, (NEW.failed_at + 32400000) / 86400000);
END;
CREATE TRIGGER analytics_stage_added AFTER INSERT ON stage_sends BEGIN
    INSERT INTO analytics_changes (partner_id, day)
    SELECT partner_id, (failed_at + 32400000) / 86400000 FROM recovery_cases WHERE id = NEW.case_id;
END;
CREATE TRIGGER analytics_stage_changed AFTER UPDATE OF status ON stage_sends
WHEN OLD.status IS NOT NEW.status BEGIN
    INSERT INTO analytics_changes (partner_id, day)
    SELECT partner_id, (failed_at + 32400000) / 86400000 FROM recovery_cases WHERE id = NEW.case_id;
END;
CREATE TRIGGER analytics_order_amount AFTER UPDATE OF amount ON orders
WHEN OLD.amount IS NOT NEW.amount BEGIN
    INSERT INTO analytics_changes (partner_id, day)
    SELECT partner_id, (failed_at + 32400000) / 86400000 FROM recovery_cases WHERE order_id = NEW.id;
END;
-- dialect-specific: end

-- Every day a case opened or failed on is computed again.
INSERT INTO analytics_changes (partner_id, day)
SELECT DISTINCT partner_id, (failed_at + 32400000) / 86400000 FROM recovery_cases;
INSERT INTO analytics_changes (partner_id, day)
SELECT DISTINCT partner_id, (opened_at + 32400000) / 86400000 FROM recovery_cases;
