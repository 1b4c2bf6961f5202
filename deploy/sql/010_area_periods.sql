-- 010_area_periods.sql — every prioritisation change of an area, by event time ([L]).
--
-- Cost: two array columns with constant defaults (no table rewrite); instant on a populated
-- database. Rows written before it hold only their latest change (prioritised, since), which
-- casewatchd takes as the area's one change when the arrays are empty.
--
-- The welfare rule (welfare_case_unallocated_in_prioritised_area) asks in which periods a
-- case's area was prioritised, by the events' own times, so its history does not depend on
-- whether the area's partition or the case's was applied first. change_ms[i] is the i-th
-- change's occurred_at, change_hash[i] its event's hash (orders equal times), change_on[i]
-- whether it activated prioritisation; oldest first, at most 256 kept.
ALTER TABLE areas ADD COLUMN change_ms bigint[] NOT NULL DEFAULT '{}',
                  ADD COLUMN change_hash numeric[] NOT NULL DEFAULT '{}',
                  ADD COLUMN change_on boolean[] NOT NULL DEFAULT '{}';
