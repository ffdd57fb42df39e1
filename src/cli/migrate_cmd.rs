//! `agno-run migrate`: apply, dry-run and status, with progress per migration.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use super::report::{self, Format, RenderOptions};
use super::{
    EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, MigrateArgs, StatusFormat, load_options, terminal_width, write_out,
};
use crate::config::{Config, DatabaseConfig, ServerFlags};
use crate::migrate::{self, Event, MigrateError, Options, Set, history_table};

/// Runs the command and returns the exit code.
pub(super) fn run(mut args: MigrateArgs) -> u8 {
    let status = take_status(&mut args.paths);
    if args.paths.is_empty() {
        say!("error: give the config files or folders to migrate");
        return EXIT_USAGE;
    }
    let loaded = crate::config::load(&args.paths, &load_options(args.no_env, ServerFlags::default(), false));
    let Some(config) = loaded.config else {
        let opts = RenderOptions { color: std::io::stderr().is_terminal(), width: terminal_width() };
        say_part!("{}", report::render(&[&loaded.report], Format::Human, &opts));
        say_part!("{}", report::summary(&loaded.report, None, false));
        return EXIT_CONFIG;
    };
    let dbs = match select(&config, args.db.as_deref()) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            say!("error: cannot start the async runtime: {e}");
            return EXIT_FAILURE;
        }
    };
    runtime.block_on(async {
        if status {
            show_status(&dbs, args.format, args.check).await
        } else if args.dry_run {
            dry_run(&dbs).await
        } else {
            apply(&dbs, args.lock_timeout).await
        }
    })
}

/// `status` as the first or last word selects the status action.
fn take_status(paths: &mut Vec<PathBuf>) -> bool {
    let is_word = |p: &PathBuf| p.as_os_str() == "status" && !p.exists();
    if paths.first().is_some_and(is_word) {
        paths.remove(0);
        true
    } else if paths.len() > 1 && paths.last().is_some_and(is_word) {
        paths.pop();
        true
    } else {
        false
    }
}

fn select<'a>(config: &'a Config, only: Option<&str>) -> Result<Vec<&'a DatabaseConfig>, u8> {
    match only {
        None => Ok(config.databases.values().collect()),
        Some(id) => match config.databases.get(id) {
            Some(db) => Ok(vec![db]),
            None => {
                let known: Vec<&str> = config.databases.keys().map(String::as_str).collect();
                say!("error: no database `{id}` in the config; databases: {}", known.join(", "));
                Err(EXIT_USAGE)
            }
        },
    }
}

fn describe(db: &DatabaseConfig) -> String {
    match &db.backend {
        crate::config::Backend::Sqlite { path } => format!("sqlite {}", path.display()),
        crate::config::Backend::Postgres { url, schema, .. } => {
            format!("postgres {} schema {schema}", crate::config::redact_url(url.expose()))
        }
        crate::config::Backend::Memory => "memory".into(),
    }
}

fn print_error(e: &MigrateError) {
    say!("error: {e}");
    if let MigrateError::Failed { applied, .. } = e {
        if applied.is_empty() {
            say!("  nothing was applied by this run; the failed migration was rolled back");
        } else {
            say!("  applied before the failure (committed): {}", applied.join(", "));
            say!("  the failed migration was rolled back");
        }
    }
    if let Some(help) = e.help() {
        say!("  help: {help}");
    }
}

async fn apply(dbs: &[&DatabaseConfig], lock_timeout: Duration) -> u8 {
    let options = Options { lock_timeout };
    let mut code = EXIT_OK;
    for db in dbs {
        println!("database `{}` ({})", db.id, describe(db));
        if matches!(db.backend, crate::config::Backend::Memory) {
            println!("  in memory: nothing to migrate");
            continue;
        }
        let mut progress = |e: Event| match e {
            Event::Waiting => println!("  waiting for another migrator of this database..."),
            Event::Applying(m) => println!("  applying {} ({}) ...", m.name, set_name(m.set)),
            Event::Applied(m, d) => println!("  applied {} in {} ms", m.name, d.as_millis()),
        };
        match migrate::apply(db, &options, &mut progress).await {
            Ok(done) if done.is_empty() => println!("  up to date"),
            Ok(done) => println!("  {} migration(s) applied", done.len()),
            Err(e) => {
                print_error(&e);
                code = EXIT_FAILURE;
            }
        }
    }
    code
}

fn set_name(set: Set) -> &'static str {
    match set {
        Set::BuiltIn => "built-in",
        Set::User => "yours",
    }
}

async fn dry_run(dbs: &[&DatabaseConfig]) -> u8 {
    let mut out = String::new();
    let mut code = EXIT_OK;
    for db in dbs {
        match migrate::status(db).await {
            Ok(status) if status.problem.is_some() => {
                if let Some(p) = &status.problem {
                    say!("error: {}", p.message);
                    if let Some(help) = &p.help {
                        say!("  help: {help}");
                    }
                }
                code = EXIT_FAILURE;
            }
            Ok(status) => {
                out.push_str(&format!(
                    "-- database `{}` ({}): {} pending migration(s); nothing is changed by --dry-run\n",
                    db.id,
                    status.target,
                    status.pending.len()
                ));
                if matches!(db.backend, crate::config::Backend::Postgres { .. })
                    && let crate::config::Backend::Postgres { schema, .. } = &db.backend
                    && !status.pending.is_empty()
                {
                    out.push_str(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\";\n"));
                }
                for m in &status.pending {
                    let table = history_table(&db.tables, m.set);
                    out.push_str(&format!("\n-- {} ({})\nBEGIN;\n{}\n", m.name, set_name(m.set), m.sql.trim_end()));
                    out.push_str(&format!(
                        "INSERT INTO \"{table}\" (version, name, applied_on, checksum) VALUES ({}, '{}', <now>, '{}');\nCOMMIT;\n",
                        m.version,
                        migrate::recorded_name(&m.name),
                        m.checksum
                    ));
                }
                out.push('\n');
            }
            Err(e) => {
                print_error(&e);
                code = EXIT_FAILURE;
            }
        }
    }
    let written = write_out(&out);
    if code == EXIT_OK { written } else { code }
}

/// `migrate status`: exits 1 when a database's state is refused (a CI gate), and with `check`
/// also when migrations are pending.
async fn show_status(dbs: &[&DatabaseConfig], format: StatusFormat, check: bool) -> u8 {
    let mut all = Vec::new();
    let mut code = EXIT_OK;
    for db in dbs {
        match migrate::status(db).await {
            Ok(s) => all.push(s),
            Err(e) => {
                print_error(&e);
                code = EXIT_FAILURE;
            }
        }
    }
    let text = match format {
        StatusFormat::Json => format!("{}\n", serde_json::to_string_pretty(&all).unwrap_or_default()),
        StatusFormat::Human => {
            let mut t = String::new();
            for s in &all {
                t.push_str(&format!("database `{}` ({})\n", s.db, s.target));
                if s.applied.is_empty() && s.pending.is_empty() {
                    t.push_str("  nothing to migrate\n");
                }
                for a in &s.applied {
                    let flag = if a.changed { "  CHANGED since applied" } else { "" };
                    t.push_str(&format!(
                        "  applied  {:<32} {:<9} {}  checksum {}{flag}\n",
                        a.name,
                        set_name(a.set),
                        a.applied_on,
                        a.checksum
                    ));
                }
                for p in &s.pending {
                    t.push_str(&format!("  pending  {:<32} {:<9}\n", p.name, set_name(p.set)));
                }
                if let Some(p) = &s.problem {
                    t.push_str(&format!("  REFUSED: {}\n", p.message));
                    if let Some(help) = &p.help {
                        t.push_str(&format!("  help: {help}\n"));
                    }
                }
            }
            t
        }
    };
    let written = write_out(&text);
    if all.iter().any(|s| s.problem.is_some()) {
        say!("error: a database's migrations are refused (see REFUSED above); nothing was changed");
        code = EXIT_FAILURE;
    } else if check && all.iter().any(|s| !s.pending.is_empty()) {
        let pending: usize = all.iter().map(|s| s.pending.len()).sum();
        say!("error: {pending} migration(s) pending (--check); run `agno-run migrate` to apply them");
        code = EXIT_FAILURE;
    }
    if code == EXIT_OK { written } else { code }
}
