-- Agno 3.x sessions, runs, memories and schema-versions tables (PostgreSQL dialect), as
-- Agno 3.1.10's PostgresDb creates them (JSONB, schema-qualified), so Python Agno and agno-run share one database.
-- Placeholders in braces are the configured identifiers, validated and quoted by agno-run.
-- IF NOT EXISTS everywhere: an existing Agno 3.x database is adopted, not recreated.
CREATE TABLE IF NOT EXISTS {versions} (
  table_name VARCHAR NOT NULL,
  version VARCHAR NOT NULL,
  created_at VARCHAR NOT NULL,
  updated_at VARCHAR,
  PRIMARY KEY (table_name)
);
CREATE INDEX IF NOT EXISTS "idx_{versions_name}_created_at" ON {versions} (created_at);

CREATE TABLE IF NOT EXISTS {sessions} (
  session_id VARCHAR NOT NULL,
  session_type VARCHAR NOT NULL,
  agent_id VARCHAR,
  team_id VARCHAR,
  workflow_id VARCHAR,
  user_id VARCHAR,
  session_data JSONB,
  agent_data JSONB,
  team_data JSONB,
  workflow_data JSONB,
  metadata JSONB,
  summary JSONB,
  created_at BIGINT NOT NULL,
  updated_at BIGINT,
  PRIMARY KEY (session_id)
);
CREATE INDEX IF NOT EXISTS "idx_{sessions_name}_created_at" ON {sessions} (created_at);
CREATE INDEX IF NOT EXISTS "idx_{sessions_name}_session_type" ON {sessions} (session_type);

CREATE TABLE IF NOT EXISTS {runs} (
  run_id VARCHAR NOT NULL,
  session_id VARCHAR NOT NULL,
  run_type VARCHAR NOT NULL,
  agent_id VARCHAR,
  team_id VARCHAR,
  workflow_id VARCHAR,
  user_id VARCHAR,
  parent_run_id VARCHAR,
  status VARCHAR,
  run_index BIGINT,
  run_data JSONB NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT,
  PRIMARY KEY (run_id),
  FOREIGN KEY (session_id) REFERENCES {sessions} (session_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_{runs_name}_agent_id" ON {runs} (agent_id);
CREATE INDEX IF NOT EXISTS "idx_{runs_name}_created_at" ON {runs} (created_at);
CREATE INDEX IF NOT EXISTS "idx_{runs_name}_run_type" ON {runs} (run_type);
CREATE INDEX IF NOT EXISTS "idx_{runs_name}_session_id" ON {runs} (session_id);
CREATE INDEX IF NOT EXISTS "idx_{runs_name}_session_id_run_index" ON {runs} (session_id, run_index);
CREATE INDEX IF NOT EXISTS "idx_{runs_name}_status" ON {runs} (status);
CREATE INDEX IF NOT EXISTS "idx_{runs_name}_team_id" ON {runs} (team_id);
CREATE INDEX IF NOT EXISTS "idx_{runs_name}_user_id" ON {runs} (user_id);
CREATE INDEX IF NOT EXISTS "idx_{runs_name}_workflow_id" ON {runs} (workflow_id);

CREATE TABLE IF NOT EXISTS {memories} (
  memory_id VARCHAR NOT NULL,
  memory JSONB NOT NULL,
  input TEXT,
  agent_id VARCHAR,
  team_id VARCHAR,
  user_id VARCHAR,
  topics JSONB,
  feedback TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT,
  PRIMARY KEY (memory_id)
);
CREATE INDEX IF NOT EXISTS "idx_{memories_name}_created_at" ON {memories} (created_at);
CREATE INDEX IF NOT EXISTS "idx_{memories_name}_updated_at" ON {memories} (updated_at);
CREATE INDEX IF NOT EXISTS "idx_{memories_name}_user_id" ON {memories} (user_id);

-- Stamp each table with Agno's schema version, as Agno does for the tables it creates; a
-- table that is already stamped (adopted from Python Agno) keeps its stamp.
INSERT INTO {versions} (table_name, version, created_at)
VALUES ('{sessions_name}', '3.0.0', to_char(now() AT TIME ZONE 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.US')),
       ('{runs_name}', '3.0.0', to_char(now() AT TIME ZONE 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.US')),
       ('{memories_name}', '3.0.0', to_char(now() AT TIME ZONE 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.US'))
ON CONFLICT (table_name) DO NOTHING;
