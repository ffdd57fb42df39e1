-- agno-run's table of runner processes (PostgreSQL dialect). Every RUNNING run names its runner
-- in run_data.runner; each runner heartbeats here once per interval, whatever the number of runs
-- it has in flight. A run whose runner is gone is ended as ERROR by the next agno-run process.
-- Not an Agno table: Python Agno neither reads nor needs it, and it is not stamped.
CREATE TABLE IF NOT EXISTS {runners} (
  runner_id VARCHAR NOT NULL,
  host VARCHAR NOT NULL,
  host_key VARCHAR,
  pid BIGINT NOT NULL,
  process_start BIGINT,
  started_at BIGINT NOT NULL,
  heartbeat_at BIGINT NOT NULL,
  version VARCHAR NOT NULL,
  PRIMARY KEY (runner_id)
);
