//! Migrations on PostgreSQL: a dedicated connection (never pooled: a session advisory lock must
//! stay on one backend), `pg_try_advisory_lock` polled until a timeout, the schema created if
//! missing, then refinery with schema-qualified history tables.

use std::time::{Duration, Instant};

use refinery::{Migration, Runner, Target};
use tokio_postgres::Client;

use super::{
    Event, Inspection, MigrateError, Options, Planned, Recorded, Set, Status, assess, compare, from_refinery,
    full_name, history_table, recorded_name, required_columns,
};
use crate::config::{Backend, DatabaseConfig};
use crate::store::postgres::{connect_with_retry, endpoint, parse_url};
use crate::store::sql::quote;

struct Target_<'a> {
    schema: &'a str,
    url: &'a str,
    timeout: f64,
}

fn target(db: &DatabaseConfig) -> Target_<'_> {
    match &db.backend {
        Backend::Postgres { url, schema, connect_timeout, .. } => {
            Target_ { schema, url: url.expose(), timeout: *connect_timeout }
        }
        _ => Target_ { schema: "ai", url: "", timeout: 0.0 },
    }
}

fn sql_err(db: &DatabaseConfig, e: &tokio_postgres::Error) -> MigrateError {
    let message = match e.as_db_error() {
        Some(d) => format!("{}: {}", d.code().code(), d.message()),
        None => e.to_string(),
    };
    MigrateError::Connect { db: db.id.clone(), message }
}

async fn connect(db: &DatabaseConfig) -> Result<(Client, String), MigrateError> {
    let t = target(db);
    let target = parse_url(t.url).map_err(|message| MigrateError::Connect { db: db.id.clone(), message })?;
    let client = connect_with_retry(&target, Duration::from_secs_f64(t.timeout))
        .await
        .map_err(|message| MigrateError::Connect { db: db.id.clone(), message })?;
    Ok((client, format!("postgres {} schema {}", endpoint(&target.config), t.schema)))
}

/// The advisory-lock key of a database's schema: 64 bits of a stable hash.
fn lock_key(schema: &str) -> i64 {
    // FNV-1a: stable across processes and versions, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("agno-run:migrate:{schema}").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

async fn lock(
    db: &DatabaseConfig,
    c: &Client,
    key: i64,
    timeout: Duration,
    send: &mut (dyn FnMut(Event) + Send),
) -> Result<(), MigrateError> {
    let start = Instant::now();
    let mut told = false;
    loop {
        let got: bool = c
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| sql_err(db, &e))?;
        if got {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            let holder = c
                .query_opt(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 \
                     AND ((classid::bigint << 32) | objid::bigint) = $1",
                    &[&key],
                )
                .await
                .ok()
                .flatten()
                .and_then(|r| r.try_get::<_, i32>(0).ok())
                .map(|pid| format!(" (PostgreSQL backend pid {pid})"))
                .unwrap_or_default();
            return Err(MigrateError::Locked { db: db.id.clone(), holder, waited: start.elapsed() });
        }
        if !told {
            send(Event::Waiting);
            told = true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn table_exists(c: &Client, schema: &str, table: &str) -> Result<bool, tokio_postgres::Error> {
    Ok(c.query_opt(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2",
        &[&schema, &table],
    )
    .await?
    .is_some())
}

async fn read_history(c: &Client, schema: &str, table: &str, set: Set) -> Result<Vec<Recorded>, tokio_postgres::Error> {
    if !table_exists(c, schema, table).await? {
        return Ok(Vec::new());
    }
    let sql =
        format!("SELECT version, name, applied_on, checksum FROM {}.{} ORDER BY version", quote(schema), quote(table));
    let rows = c.query(&sql, &[]).await?;
    rows.iter()
        .map(|r| {
            let version: i32 = r.try_get(0)?;
            let name: String = r.try_get(1)?;
            Ok(Recorded {
                set,
                version,
                name: full_name(version, &name),
                applied_on: r.try_get(2)?,
                checksum: r.try_get(3)?,
            })
        })
        .collect()
}

/// Everything `assess` needs to know of the schema.
async fn inspect(db: &DatabaseConfig, c: &Client, schema: &str) -> Result<Inspection, tokio_postgres::Error> {
    let mut found = Inspection::default();
    let built_in_table = history_table(&db.tables, Set::BuiltIn);
    let user_table = history_table(&db.tables, Set::User);
    found.history = read_history(c, schema, &built_in_table, Set::BuiltIn).await?;
    found.history.extend(read_history(c, schema, &user_table, Set::User).await?);
    found.tables_present = table_exists(c, schema, &db.tables.sessions).await?;
    let versions = table_exists(c, schema, &db.tables.versions).await?;
    for (table, _) in required_columns(&db.tables) {
        let rows = c
            .query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2",
                &[&schema, &table],
            )
            .await?;
        if !rows.is_empty() {
            let columns = rows
                .iter()
                .map(|r| Ok((r.try_get::<_, String>(0)?, r.try_get::<_, String>(1)?)))
                .collect::<Result<_, tokio_postgres::Error>>()?;
            found.columns.insert(table.clone(), columns);
        }
        if versions {
            let sql =
                format!("SELECT version FROM {}.{} WHERE table_name = $1", quote(schema), quote(&db.tables.versions));
            if let Some(r) = c.query_opt(&sql, &[&table]).await? {
                found.stamps.insert(table.clone(), r.try_get::<_, String>(0)?);
            }
        }
    }
    let candidates = c
        .query(
            "SELECT table_name::text FROM information_schema.columns WHERE table_schema = $1 \
             AND column_name IN ('version', 'name', 'applied_on', 'checksum') GROUP BY table_name HAVING COUNT(*) = 4",
            &[&schema],
        )
        .await?;
    for row in candidates {
        let t: String = row.try_get(0)?;
        if t == built_in_table || t == user_table {
            continue;
        }
        let sql = format!("SELECT 1 FROM {}.{} WHERE name = $1", quote(schema), quote(&t));
        if c.query_opt(&sql, &[&recorded_name(super::BUILT_IN[0].0)]).await?.is_some() {
            found.other_history = Some(t);
            break;
        }
    }
    Ok(found)
}

pub(super) async fn apply(
    db: &DatabaseConfig,
    built_in: Vec<Planned>,
    user: Vec<Planned>,
    options: &Options,
    progress: &mut (dyn FnMut(Event) + Send),
) -> Result<Vec<Planned>, MigrateError> {
    let schema = target(db).schema.to_string();
    let (mut c, _) = connect(db).await?;
    let key = lock_key(&schema);
    lock(db, &c, key, options.lock_timeout, progress).await?;
    let result = apply_locked(db, &mut c, &schema, built_in, user, progress).await;
    // Dropping the connection releases the lock too; unlocking first keeps it short.
    let _ = c.execute("SELECT pg_advisory_unlock($1)", &[&key]).await;
    result
}

async fn apply_locked(
    db: &DatabaseConfig,
    c: &mut Client,
    schema: &str,
    built_in: Vec<Planned>,
    user: Vec<Planned>,
    progress: &mut (dyn FnMut(Event) + Send),
) -> Result<Vec<Planned>, MigrateError> {
    c.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {0}; SET search_path TO {0}", quote(schema)))
        .await
        .map_err(|e| sql_err(db, &e))?;
    let found = inspect(db, c, schema).await.map_err(|e| sql_err(db, &e))?;
    assess(db, &found, &built_in, &user)?;
    let history = found.history;
    let mut done = Vec::new();
    for (set, all) in [(Set::BuiltIn, &built_in), (Set::User, &user)] {
        let migrations: Vec<Migration> = all
            .iter()
            .map(|m| Migration::unapplied(&m.name, &m.sql))
            .collect::<Result<_, _>>()
            .map_err(|e| MigrateError::Files { db: db.id.clone(), message: e.to_string() })?;
        let table = format!("{}.{}", quote(schema), quote(&history_table(&db.tables, set)));
        let pending: Vec<&Planned> =
            all.iter().filter(|m| !history.iter().any(|h| h.set == set && h.version == m.version)).collect();
        for m in pending {
            progress(Event::Applying(m.clone()));
            let start = Instant::now();
            let mut runner = Runner::new(&migrations).set_target(Target::Version(m.version));
            runner.set_migration_table_name(&table);
            if let Err(e) = runner.run_async(c).await {
                let line = failing_line(c, &m.sql).await;
                return Err(from_refinery(db, &e, m, &done).at_line(m, line));
            }
            progress(Event::Applied(m.clone(), start.elapsed()));
            done.push(m.clone());
        }
    }
    Ok(done)
}

/// The line of the statement of `sql` that fails, found by running its statements one by one
/// in a transaction that is then rolled back (see the SQLite twin).
async fn failing_line(c: &Client, sql: &str) -> Option<usize> {
    c.batch_execute("BEGIN").await.ok()?;
    let mut line = None;
    for s in super::statements::split(sql, super::statements::Dialect::Postgres) {
        if c.batch_execute(s.text).await.is_err() {
            line = Some(s.line);
            break;
        }
    }
    let _ = c.batch_execute("ROLLBACK").await;
    line
}

pub(super) async fn status(
    db: &DatabaseConfig,
    built_in: Vec<Planned>,
    user: Vec<Planned>,
) -> Result<Status, MigrateError> {
    let schema = target(db).schema.to_string();
    let (c, target) = connect(db).await?;
    let found = inspect(db, &c, &schema).await.map_err(|e| sql_err(db, &e))?;
    Ok(compare(db, target, found, built_in, user))
}

#[cfg(test)]
mod tests {
    #[test]
    fn lock_keys_are_stable_and_per_schema() {
        assert_eq!(super::lock_key("ai"), super::lock_key("ai"));
        assert_ne!(super::lock_key("ai"), super::lock_key("other"));
    }
}
