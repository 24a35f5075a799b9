-- At most one open case per order: two concurrent POST /recovery calls (or a
-- failed order and a recovery call) must not open two payable cases.
CREATE UNIQUE INDEX recovery_cases_one_open ON recovery_cases (order_id) WHERE status IN ('OPEN', 'PAYING');
