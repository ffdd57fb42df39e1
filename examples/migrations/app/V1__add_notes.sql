-- A user migration: applied after agno-run's built-in migrations, through the same engine.
-- Never edit it once applied (its checksum is recorded); add V2__....sql instead.
CREATE TABLE IF NOT EXISTS app_notes (id INTEGER PRIMARY KEY, body TEXT);
