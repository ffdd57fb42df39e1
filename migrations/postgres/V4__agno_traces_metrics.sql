-- Agno 3.1.10's traces, spans and daily-metrics tables (postgres dialect), as its PostgresDb
-- creates them, so Python AgentOS lists the traces agno-run writes and agno-run serves the
-- metrics Agno computed. IF NOT EXISTS everywhere: tables Agno already created are adopted.
CREATE TABLE IF NOT EXISTS {traces} (
  trace_id VARCHAR NOT NULL,
  name VARCHAR NOT NULL,
  status VARCHAR NOT NULL,
  start_time VARCHAR NOT NULL,
  end_time VARCHAR NOT NULL,
  duration_ms BIGINT NOT NULL,
  run_id VARCHAR,
  session_id VARCHAR,
  user_id VARCHAR,
  agent_id VARCHAR,
  team_id VARCHAR,
  workflow_id VARCHAR,
  created_at VARCHAR NOT NULL,
  PRIMARY KEY (trace_id)
);
CREATE INDEX IF NOT EXISTS "idx_{traces_name}_agent_id" ON {traces} (agent_id);
CREATE INDEX IF NOT EXISTS "idx_{traces_name}_created_at" ON {traces} (created_at);
CREATE INDEX IF NOT EXISTS "idx_{traces_name}_run_id" ON {traces} (run_id);
CREATE INDEX IF NOT EXISTS "idx_{traces_name}_session_id" ON {traces} (session_id);
CREATE INDEX IF NOT EXISTS "idx_{traces_name}_start_time" ON {traces} (start_time);
CREATE INDEX IF NOT EXISTS "idx_{traces_name}_status" ON {traces} (status);
CREATE INDEX IF NOT EXISTS "idx_{traces_name}_team_id" ON {traces} (team_id);
CREATE INDEX IF NOT EXISTS "idx_{traces_name}_user_id" ON {traces} (user_id);
CREATE INDEX IF NOT EXISTS "idx_{traces_name}_workflow_id" ON {traces} (workflow_id);

CREATE TABLE IF NOT EXISTS {spans} (
  span_id VARCHAR NOT NULL,
  trace_id VARCHAR NOT NULL,
  parent_span_id VARCHAR,
  name VARCHAR NOT NULL,
  span_kind VARCHAR NOT NULL,
  status_code VARCHAR NOT NULL,
  status_message TEXT,
  start_time VARCHAR NOT NULL,
  end_time VARCHAR NOT NULL,
  duration_ms BIGINT NOT NULL,
  attributes JSONB,
  created_at VARCHAR NOT NULL,
  PRIMARY KEY (span_id),
  FOREIGN KEY (trace_id) REFERENCES {traces} (trace_id)
);
CREATE INDEX IF NOT EXISTS "idx_{spans_name}_created_at" ON {spans} (created_at);
CREATE INDEX IF NOT EXISTS "idx_{spans_name}_parent_span_id" ON {spans} (parent_span_id);
CREATE INDEX IF NOT EXISTS "idx_{spans_name}_start_time" ON {spans} (start_time);
CREATE INDEX IF NOT EXISTS "idx_{spans_name}_trace_id" ON {spans} (trace_id);

CREATE TABLE IF NOT EXISTS {metrics} (
  id VARCHAR NOT NULL,
  agent_runs_count BIGINT NOT NULL,
  team_runs_count BIGINT NOT NULL,
  workflow_runs_count BIGINT NOT NULL,
  agent_sessions_count BIGINT NOT NULL,
  team_sessions_count BIGINT NOT NULL,
  workflow_sessions_count BIGINT NOT NULL,
  users_count BIGINT NOT NULL,
  token_metrics JSONB NOT NULL,
  model_metrics JSONB NOT NULL,
  date DATE NOT NULL,
  aggregation_period VARCHAR NOT NULL,
  user_id VARCHAR NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT,
  completed BOOLEAN NOT NULL,
  PRIMARY KEY (id),
  CONSTRAINT "{metrics_name}_uq_metrics_user_date_period" UNIQUE (user_id, date, aggregation_period)
);
CREATE INDEX IF NOT EXISTS "idx_{metrics_name}_aggregation_period" ON {metrics} (aggregation_period);
CREATE INDEX IF NOT EXISTS "idx_{metrics_name}_date" ON {metrics} (date);
CREATE INDEX IF NOT EXISTS "idx_{metrics_name}_user_id" ON {metrics} (user_id);

INSERT INTO {versions} (table_name, version, created_at)
VALUES ('{traces_name}', '3.0.0', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')),
       ('{spans_name}', '3.0.0', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')),
       ('{metrics_name}', '3.0.0', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'))
ON CONFLICT (table_name) DO NOTHING;
