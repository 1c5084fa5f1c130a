-- The size of indexed volumes and snapshots, counted against the global gigabytes quota.
ALTER TABLE volume_index ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
