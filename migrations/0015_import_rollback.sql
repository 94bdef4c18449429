-- An import whose events are not invoiced yet can be rolled back: its events
-- are removed (their ids too, so the fixed file imports again) and the import
-- stays in the history, marked with when and how many events went.
ALTER TABLE imports ADD COLUMN rolled_back_at TEXT;
ALTER TABLE imports ADD COLUMN rolled_back_events INTEGER;
