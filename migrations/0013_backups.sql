-- How many automatic backups (taken before every migration and every
-- finalize run, in the `<workspace>.backups` folder) are kept; 0 takes none.
ALTER TABLE workspace_settings ADD COLUMN backups_keep INTEGER NOT NULL DEFAULT 10
    CHECK (backups_keep BETWEEN 0 AND 1000);
