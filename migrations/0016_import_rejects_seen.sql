-- An import with rejected rows stays in the console's inbox until someone
-- has looked at it: when that was.
ALTER TABLE imports ADD COLUMN rejects_seen_at TEXT;
