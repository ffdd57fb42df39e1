-- agno-run's record of config generations: one row per load or reload a server attempted, with
-- its outcome. `record` is a JSON document: number, time, config hash (secrets removed), files,
-- trigger, and the diagnostics of a load that failed. Not an Agno table: Python Agno neither
-- reads nor needs it, and it is not stamped.
CREATE TABLE IF NOT EXISTS {generations} (
  generation_id VARCHAR NOT NULL,
  number BIGINT,
  loaded BOOLEAN NOT NULL,
  created_at BIGINT NOT NULL,
  record TEXT NOT NULL,
  PRIMARY KEY (generation_id)
);
CREATE INDEX IF NOT EXISTS "idx_{generations_name}_created_at" ON {generations} (created_at);
