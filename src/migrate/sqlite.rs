//! Migrations on SQLite: a lock file beside the database makes a second migrator wait; each
//! migration and its history row commit together (refinery's transaction per migration).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use refinery::{Migration, Runner, Target};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::{
    Event, Inspection, MigrateError, Options, Planned, Recorded, Set, Status, assess, compare, from_refinery,
    full_name, history_table, recorded_name, required_columns,
};
use crate::config::DatabaseConfig;
use crate::store::sql::quote;

fn connect_err(db: &DatabaseConfig, path: &Path, e: impl std::fmt::Display) -> MigrateError {
    let text = e.to_string();
    let hint = if text.contains("readonly") || text.contains("read-only") || text.contains("Permission denied") {
        " (the file or its folder is read-only: agno-run needs to write the database, its -wal file and a lock file)"
    } else if text.contains("not a database") {
        " (the file is not an SQLite database, or it is corrupt)"
    } else {
        ""
    };
    MigrateError::Connect { db: db.id.clone(), message: format!("{}: {text}{hint}", path.display()) }
}

/// The lock file of a database: `<file>.migrate.lock` beside it.
pub(crate) fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".migrate.lock");
    path.with_file_name(name)
}

/// The migration lock of one SQLite file: an exclusive `flock` on `<db>.migrate.lock`, removed
/// when released, so nothing is left beside the database (or in a config folder under git).
struct Lock {
    file: File,
    path: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed while still held: a waiter that opened this file finds, once it gets the
        // lock, that the path no longer names it, and starts again on a new file.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// Whether `file` is still the file at `path` (not removed or replaced by a former holder).
fn still_at(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}

fn lock(db: &DatabaseConfig, path: &Path, timeout: Duration, waiting: &dyn Fn()) -> Result<Lock, MigrateError> {
    let lock_file = lock_path(path);
    let start = Instant::now();
    let mut told = false;
    loop {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_file)
            .map_err(|e| connect_err(db, &lock_file, e))?;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < timeout => {
                    if !told {
                        waiting();
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(MigrateError::Locked {
                        db: db.id.clone(),
                        holder: String::new(),
                        waited: start.elapsed(),
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(connect_err(db, &lock_file, e)),
            }
        }
        if still_at(&file, &lock_file) {
            return Ok(Lock { file, path: lock_file });
        }
    }
}

fn table_exists(c: &Connection, table: &str) -> rusqlite::Result<bool> {
    Ok(c.query_row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", [table], |_| Ok(()))
        .optional()?
        .is_some())
}

fn read_history(c: &Connection, table: &str, set: Set) -> rusqlite::Result<Vec<Recorded>> {
    if !table_exists(c, table)? {
        return Ok(Vec::new());
    }
    let mut stmt =
        c.prepare(&format!("SELECT version, name, applied_on, checksum FROM {} ORDER BY version", quote(table)))?;
    let rows = stmt.query_map([], |r| {
        let version: i32 = r.get(0)?;
        let name: String = r.get(1)?;
        Ok(Recorded { set, version, name: full_name(version, &name), applied_on: r.get(2)?, checksum: r.get(3)? })
    })?;
    rows.collect()
}

fn columns(c: &Connection, table: &str) -> rusqlite::Result<Option<Vec<(String, String)>>> {
    if !table_exists(c, table)? {
        return Ok(None);
    }
    let mut stmt = c.prepare(&format!("PRAGMA table_info({})", quote(table)))?;
    let cols = stmt
        .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?.unwrap_or_default())))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(cols))
}

/// Everything `assess` needs to know of the database.
fn inspect(db: &DatabaseConfig, c: &Connection) -> rusqlite::Result<Inspection> {
    let mut found = Inspection::default();
    let built_in_table = history_table(&db.tables, Set::BuiltIn);
    let user_table = history_table(&db.tables, Set::User);
    found.history = read_history(c, &built_in_table, Set::BuiltIn)?;
    found.history.extend(read_history(c, &user_table, Set::User)?);
    found.tables_present = table_exists(c, &db.tables.sessions)?;
    for (table, _) in required_columns(&db.tables) {
        if let Some(cols) = columns(c, &table)? {
            found.columns.insert(table.clone(), cols);
        }
        if table_exists(c, &db.tables.versions)? {
            let sql = format!("SELECT version FROM {} WHERE table_name = ?1", quote(&db.tables.versions));
            if let Some(v) = c.query_row(&sql, [&table], |r| r.get::<_, String>(0)).optional()? {
                found.stamps.insert(table, v);
            }
        }
    }
    let mut stmt = c.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?;
    let tables = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
    for t in tables.into_iter().filter(|t| *t != built_in_table && *t != user_table) {
        let cols = columns(c, &t)?.unwrap_or_default();
        if ["version", "name", "applied_on", "checksum"].iter().all(|k| cols.iter().any(|c| c.0 == *k)) {
            let sql = format!("SELECT 1 FROM {} WHERE name = ?1", quote(&t));
            if c.query_row(&sql, [recorded_name(super::BUILT_IN[0].0)], |_| Ok(())).optional()?.is_some() {
                found.other_history = Some(t);
                break;
            }
        }
    }
    Ok(found)
}

fn run_set(
    db: &DatabaseConfig,
    c: &mut Connection,
    set: Set,
    all: &[Planned],
    pending: &[Planned],
    done: &mut Vec<Planned>,
    send: &dyn Fn(Event),
) -> Result<(), MigrateError> {
    let migrations: Vec<Migration> = all
        .iter()
        .map(|m| Migration::unapplied(&m.name, &m.sql))
        .collect::<Result<_, _>>()
        .map_err(|e| MigrateError::Files { db: db.id.clone(), message: e.to_string() })?;
    let table = quote(&history_table(&db.tables, set));
    for m in pending {
        send(Event::Applying(m.clone()));
        let start = Instant::now();
        let mut runner = Runner::new(&migrations).set_target(Target::Version(m.version));
        runner.set_migration_table_name(&table);
        runner.run(c).map_err(|e| from_refinery(db, &e, m, done).at_line(m, failing_line(c, &m.sql)))?;
        send(Event::Applied(m.clone(), start.elapsed()));
        done.push(m.clone());
    }
    Ok(())
}

/// The line of the statement of `sql` that fails, found by running its statements one by one
/// in a transaction that is then rolled back (the migration's own transaction is rolled back
/// already, so nothing changes).
fn failing_line(c: &Connection, sql: &str) -> Option<usize> {
    c.execute_batch("BEGIN").ok()?;
    let line = super::statements::split(sql, super::statements::Dialect::Sqlite)
        .into_iter()
        .find(|s| c.execute_batch(s.text).is_err())
        .map(|s| s.line);
    let _ = c.execute_batch("ROLLBACK");
    line
}

fn pending_of(list: &[Planned], history: &[Recorded]) -> Vec<Planned> {
    list.iter().filter(|m| !history.iter().any(|h| h.set == m.set && h.version == m.version)).cloned().collect()
}

fn apply_blocking(
    db: &DatabaseConfig,
    path: &Path,
    built_in: Vec<Planned>,
    user: Vec<Planned>,
    options: &Options,
    send: &dyn Fn(Event),
) -> Result<Vec<Planned>, MigrateError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| connect_err(db, parent, e))?;
    }
    let _lock = lock(db, path, options.lock_timeout, &|| send(Event::Waiting))?;
    let mut c = crate::store::sqlite::connect(path, true).map_err(|e| connect_err(db, path, e))?;
    let found = inspect(db, &c).map_err(|e| connect_err(db, path, e))?;
    assess(db, &found, &built_in, &user)?;
    let history = found.history;
    let mut done = Vec::new();
    run_set(db, &mut c, Set::BuiltIn, &built_in, &pending_of(&built_in, &history), &mut done, send)?;
    run_set(db, &mut c, Set::User, &user, &pending_of(&user, &history), &mut done, send)?;
    Ok(done)
}

pub(super) async fn apply(
    db: &DatabaseConfig,
    path: &Path,
    built_in: Vec<Planned>,
    user: Vec<Planned>,
    options: &Options,
    progress: &mut (dyn FnMut(Event) + Send),
) -> Result<Vec<Planned>, MigrateError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (db2, path, options) = (db.clone(), path.to_path_buf(), options.clone());
    let task = tokio::task::spawn_blocking(move || {
        apply_blocking(&db2, &path, built_in, user, &options, &|e| {
            let _ = tx.send(e);
        })
    });
    while let Some(event) = rx.recv().await {
        progress(event);
    }
    task.await.map_err(|e| MigrateError::Connect { db: db.id.clone(), message: e.to_string() })?
}

pub(super) async fn status(
    db: &DatabaseConfig,
    path: &Path,
    built_in: Vec<Planned>,
    user: Vec<Planned>,
) -> Result<Status, MigrateError> {
    let target = format!("sqlite {}", path.display());
    if !path.exists() {
        return Ok(compare(db, format!("{target} (not created yet)"), Inspection::default(), built_in, user));
    }
    let (db2, path2) = (db.clone(), path.to_path_buf());
    let found = tokio::task::spawn_blocking(move || -> Result<_, MigrateError> {
        let c = Connection::open_with_flags(&path2, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| connect_err(&db2, &path2, e))?;
        inspect(&db2, &c).map_err(|e| connect_err(&db2, &path2, e))
    })
    .await
    .map_err(|e| MigrateError::Connect { db: db.id.clone(), message: e.to_string() })??;
    Ok(compare(db, target, found, built_in, user))
}
