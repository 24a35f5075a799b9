-- How many times a worker began sending the stage. Above one, an earlier
-- try may have reached the provider before its worker died, so the provider
-- adapter looks for that message before sending again.
ALTER TABLE stage_sends ADD COLUMN started BIGINT NOT NULL DEFAULT 0;
-- The engine instance (process) that began the latest try: with several
-- servers on one database, who sent what.
ALTER TABLE stage_sends ADD COLUMN worker TEXT;

-- The change-date window moved into the scenario (0008); this copy was
-- never read after that.
ALTER TABLE partners DROP COLUMN change_date_window_days;
