-- How often the customer moved the payment date on the page; the
-- scenario's changeDateLimit caps it, as remindLimit caps remind_count.
ALTER TABLE recovery_cases ADD COLUMN date_change_count BIGINT NOT NULL DEFAULT 0;
