//! `agno-run memories`: list, show, add, update, delete and clear stored user memories.
//!
//! Every change is scoped by one user: `add` writes for `--user` (Agno's `default` without one),
//! `update` and `delete` with `--user` touch only that user's memories (another user's is not
//! found), and `clear` needs `--user`: it never clears every user's memories.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE, generation, load_or_report, open_store, tokio_runtime, write_out};
use crate::memory::{DEFAULT_USER, MAX_MEMORY_BYTES, MAX_TOPIC_BYTES, MAX_TOPICS};
use crate::store::{Memory, MemoryQuery, Store, StoreError};

/// Options of `memories`.
#[derive(Debug, Args)]
pub struct MemoriesArgs {
    /// Config files or folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
    /// The database (default: the first agent's, else the only one).
    #[arg(long, global = true)]
    pub db: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = MemoriesFormat::Human)]
    pub format: MemoriesFormat,
    /// The user: `add` writes for them (default: `default`); `list` lists only theirs; `show`,
    /// `update` and `delete` find only theirs (without --user: anyone's); `clear` needs it.
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// Do not migrate the databases first.
    #[arg(long, global = true)]
    pub no_migrate: bool,
}

/// Output format of `memories`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MemoriesFormat {
    /// Readable text.
    Human,
    /// JSON: `list` gives `{data, meta: {page, limit, total_pages, total_count}}`; `show`, `add`
    /// and `update` the stored row.
    Json,
}

/// A `memories` action.
#[derive(Debug, Subcommand)]
pub enum Action {
    /// Memories, newest first: id, user, topics, last update and the start of the text.
    #[command(
        after_help = "Examples:\n  agno-run memories configs/app.yaml list\n  agno-run memories configs/app.yaml list --user alice --topic food --search tea\n  agno-run memories configs/app.yaml list --limit 50 --page 2 --format json"
    )]
    List {
        /// Only memories with this topic.
        #[arg(long)]
        topic: Option<String>,
        /// Only memories whose text contains this (case-insensitive).
        #[arg(long)]
        search: Option<String>,
        /// Page size (1 to 1000).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// 1-based page.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        page: u32,
    },
    /// One memory, with every column.
    #[command(
        after_help = "Examples:\n  agno-run memories configs/app.yaml show MEMORY_ID\n  agno-run memories configs/app.yaml show MEMORY_ID --user alice --format json"
    )]
    Show {
        /// Memory id.
        id: String,
    },
    /// Create a memory for --user (default: `default`) and print its id.
    #[command(
        after_help = "Examples:\n  agno-run memories configs/app.yaml add \"Prefers green tea\" --user alice --topic food\n  agno-run memories configs/app.yaml add \"Works in UTC\" --format json"
    )]
    Add {
        /// The memory's text.
        text: String,
        /// A topic (repeat for more).
        #[arg(long = "topic")]
        topics: Vec<String>,
    },
    /// Change a memory's text or topics; its user never changes.
    #[command(
        after_help = "Examples:\n  agno-run memories configs/app.yaml update MEMORY_ID --text \"Prefers black tea\" --user alice\n  agno-run memories configs/app.yaml update MEMORY_ID --topic food --topic mornings\n  agno-run memories configs/app.yaml update MEMORY_ID --no-topics"
    )]
    Update {
        /// Memory id.
        id: String,
        /// The new text.
        #[arg(long)]
        text: Option<String>,
        /// The new topics, replacing the old ones (repeat for more).
        #[arg(long = "topic", conflicts_with = "no_topics")]
        topics: Vec<String>,
        /// Remove every topic.
        #[arg(long)]
        no_topics: bool,
    },
    /// Delete memories (with --user, only that user's).
    #[command(
        after_help = "Examples:\n  agno-run memories configs/app.yaml delete MEMORY_ID\n  agno-run memories configs/app.yaml delete MEMORY_ID MEMORY_ID --user alice"
    )]
    Delete {
        /// Memory ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Delete every memory of --user (required); asks first unless --yes.
    #[command(after_help = "Examples:\n  agno-run memories configs/app.yaml clear --user alice --yes")]
    Clear {
        /// Do not ask (needed when stdin is not a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// Runs the command.
pub(super) fn run(args: MemoriesArgs) -> u8 {
    let config = match load_or_report(&args.paths, false) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // Bad input is refused before any database is opened or created.
    let input = match check(&args) {
        Ok(i) => i,
        Err(message) => {
            say!("error: {message}");
            return EXIT_USAGE;
        }
    };
    let db = args.db.clone().or_else(|| config.agents.values().next().map(|a| a.db.clone()));
    let db = db.or_else(|| config.databases.keys().next().cloned()).unwrap_or_default();
    if !config.databases.contains_key(&db) {
        let known: Vec<&str> = config.databases.keys().map(String::as_str).collect();
        say!("error: no database `{db}` in the config; databases: {}", known.join(", "));
        return EXIT_USAGE;
    }
    let rt = match tokio_runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let generation = generation(config, args.no_migrate, None);
        let store = match open_store(&generation, &db).await {
            Ok(s) => s,
            Err(code) => return code,
        };
        let user = args.user.as_deref();
        match act(&store, args.action, input, args.format, user).await {
            Ok(Done { text, code }) => {
                let written = write_out(&text);
                if code == EXIT_OK { written } else { code }
            }
            Err(StoreError::NotFound { what, id }) => {
                let id = clean(&id, false);
                match user {
                    Some(u) => say!("error: {what} `{id}` of user `{}` not found in database `{db}`", clean(u, false)),
                    None => say!("error: {what} `{id}` not found in database `{db}`"),
                }
                EXIT_FAILURE
            }
            Err(e) => {
                say!("error: {e}");
                EXIT_FAILURE
            }
        }
    })
}

/// The checked text and topics of `add` and `update`.
#[derive(Debug, Default)]
struct Input {
    text: Option<String>,
    topics: Option<Vec<String>>,
}

/// Checks the flags against the bounds; the message says what is wrong.
fn check(args: &MemoriesArgs) -> Result<Input, String> {
    if args.user.as_deref().is_some_and(|u| u.trim().is_empty()) {
        return Err("--user is empty; leave it out or name a user".into());
    }
    match &args.action {
        Action::Add { text, topics } => {
            Ok(Input { text: Some(check_text(text)?), topics: Some(check_topics(topics)?) })
        }
        Action::Update { text, topics, no_topics, .. } => {
            if text.is_none() && topics.is_empty() && !no_topics {
                return Err("nothing to change: pass --text, --topic or --no-topics".into());
            }
            let text = text.as_deref().map(check_text).transpose()?;
            let topics = if *no_topics || !topics.is_empty() { Some(check_topics(topics)?) } else { None };
            Ok(Input { text, topics })
        }
        Action::Clear { .. } if args.user.is_none() => {
            Err("`clear` needs --user: it deletes one user's memories, never every user's".into())
        }
        Action::Clear { yes: false } if !std::io::stdin().is_terminal() => Err(format!(
            "stdin is not a terminal to confirm on: pass --yes to delete every memory of user `{}`",
            clean(args.user.as_deref().unwrap_or_default(), false)
        )),
        _ => Ok(Input::default()),
    }
}

fn check_text(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("the memory text is empty".into());
    }
    if text.len() > MAX_MEMORY_BYTES {
        return Err(format!("the memory text is {} bytes; at most {MAX_MEMORY_BYTES} are allowed", text.len()));
    }
    Ok(text.to_string())
}

/// Topics trimmed, without repeats, in the order given.
fn check_topics(topics: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for t in topics {
        let t = t.trim();
        if t.is_empty() {
            return Err("a topic is empty".into());
        }
        if t.len() > MAX_TOPIC_BYTES {
            return Err(format!("a topic is {} bytes; at most {MAX_TOPIC_BYTES} are allowed", t.len()));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    if out.len() > MAX_TOPICS {
        return Err(format!("{} topics; at most {MAX_TOPICS} are allowed", out.len()));
    }
    Ok(out)
}

/// What an action prints, and its exit code.
struct Done {
    text: String,
    code: u8,
}

impl From<String> for Done {
    fn from(text: String) -> Done {
        Done { text, code: EXIT_OK }
    }
}

fn pretty(v: &impl serde::Serialize) -> String {
    format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default())
}

/// A stored memory's text (Agno stores a JSON string; another program may store anything).
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn topics_of(m: &Memory) -> Vec<String> {
    m.topics.as_ref().and_then(Value::as_array).into_iter().flatten().map(text_of).collect()
}

/// `text` with control characters escaped (a memory may hold anything, terminal escapes too);
/// newlines kept when `newlines`, else shown as spaces.
fn clean(text: &str, newlines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' if newlines => out.push('\n'),
            '\n' | '\t' => out.push(' '),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

/// The first `max` characters of `text` on one line, with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    let line = clean(text, false);
    if line.chars().count() <= max {
        return line;
    }
    let mut s: String = line.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// A stored epoch time (seconds) as a UTC date and time, `2026-12-02 04:18 UTC`; a value out of
/// range is shown as the number it is.
fn when(epoch: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(epoch)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| epoch.to_string())
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "memory" } else { "memories" }
}

fn show_text(m: &Memory) -> String {
    let topics = topics_of(m);
    format!(
        "memory {}\nuser: {}\ntopics: {}\nagent: {}, team: {}\ncreated: {}, updated: {}\ninput: {}\nfeedback: {}\n\n{}\n",
        clean(&m.memory_id, false),
        clean(m.user_id.as_deref().unwrap_or("-"), false),
        if topics.is_empty() { "-".into() } else { clean(&topics.join(", "), false) },
        clean(m.agent_id.as_deref().unwrap_or("-"), false),
        clean(m.team_id.as_deref().unwrap_or("-"), false),
        when(m.created_at),
        when(m.updated_at.unwrap_or(m.created_at)),
        cut(m.input.as_deref().unwrap_or("-"), 200),
        cut(m.feedback.as_deref().unwrap_or("-"), 200),
        clean(&text_of(&m.memory), true)
    )
}

/// Asks on the terminal whether to clear `n` memories of `user`.
fn confirmed(n: u64, user: &str) -> bool {
    say_part!("delete all {n} {} of user `{user}`? [y/N] ", plural(n));
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

async fn act(
    store: &Store,
    action: Action,
    input: Input,
    format: MemoriesFormat,
    user: Option<&str>,
) -> Result<Done, StoreError> {
    let json_out = format == MemoriesFormat::Json;
    Ok(match action {
        Action::List { topic, search, limit, page } => {
            let q =
                MemoryQuery { user_id: user.map(str::to_string), topic, search, limit: Some(limit), page: Some(page) };
            let p = store.list_memories(&q).await?;
            let pages = p.total.div_ceil(u64::from(p.limit.max(1)));
            if json_out {
                let meta = json!({"page": p.page, "limit": p.limit, "total_pages": pages, "total_count": p.total});
                pretty(&json!({"data": p.items, "meta": meta})).into()
            } else {
                let mut t = format!("{} {}, page {} of {}\n", p.total, plural(p.total), p.page, pages.max(1));
                if !p.items.is_empty() {
                    t.push_str(&format!(
                        "{:<36} {:<12} {:<20} {:<20} {}\n",
                        "ID", "USER", "TOPICS", "UPDATED", "MEMORY"
                    ));
                }
                for m in &p.items {
                    t.push_str(&format!(
                        "{:<36} {:<12} {:<20} {:<20} {}\n",
                        cut(&m.memory_id, 36),
                        cut(m.user_id.as_deref().unwrap_or("-"), 12),
                        cut(&topics_of(m).join(","), 20),
                        when(m.updated_at.unwrap_or(m.created_at)),
                        cut(&text_of(&m.memory), 60)
                    ));
                }
                t.into()
            }
        }
        Action::Show { id } => {
            let m = store.get_memory(&id, user).await?;
            if json_out { pretty(&m).into() } else { show_text(&m).into() }
        }
        Action::Add { .. } => {
            let now = crate::store::now();
            let m = Memory {
                memory_id: uuid::Uuid::new_v4().to_string(),
                memory: json!(input.text.unwrap_or_default()),
                input: None,
                agent_id: None,
                team_id: None,
                user_id: Some(user.unwrap_or(DEFAULT_USER).to_string()),
                topics: Some(json!(input.topics.unwrap_or_default())),
                feedback: None,
                created_at: now,
                updated_at: Some(now),
            };
            let stored = store.upsert_memory(&m).await?;
            if json_out { pretty(&stored).into() } else { format!("{}\n", stored.memory_id).into() }
        }
        Action::Update { id, .. } => {
            // Read as the user given (anyone's without one); the row keeps its owner.
            let mut m = store.get_memory(&id, user).await?;
            if let Some(text) = input.text {
                m.memory = json!(text);
            }
            if let Some(topics) = input.topics {
                m.topics = Some(json!(topics));
            }
            m.updated_at = Some(crate::store::now());
            let stored = store.upsert_memory(&m).await?;
            if json_out { pretty(&stored).into() } else { format!("updated memory {}\n", clean(&id, false)).into() }
        }
        Action::Delete { ids } => {
            let mut unique: Vec<String> = Vec::new();
            for id in ids {
                if !unique.contains(&id) {
                    unique.push(id);
                }
            }
            let (mut deleted, mut missing) = (Vec::new(), Vec::new());
            for id in unique {
                match store.delete_memory(&id, user).await {
                    Ok(()) => deleted.push(id),
                    Err(StoreError::NotFound { .. }) => missing.push(id),
                    Err(e) => return Err(e),
                }
            }
            for id in &missing {
                match user {
                    Some(u) => say!("error: memory `{}` of user `{}` not found", clean(id, false), clean(u, false)),
                    None => say!("error: memory `{}` not found", clean(id, false)),
                }
            }
            let n = deleted.len() as u64;
            let text = if json_out {
                pretty(&json!({"deleted": n, "ids": deleted, "not_found": missing}))
            } else {
                format!("deleted {n} {}\n", plural(n))
            };
            Done { text, code: if missing.is_empty() { EXIT_OK } else { EXIT_FAILURE } }
        }
        Action::Clear { yes } => {
            let user = user.unwrap_or(DEFAULT_USER);
            if !yes {
                // A terminal (`check` refused any other stdin): ask, saying how many.
                let q = MemoryQuery { user_id: Some(user.to_string()), limit: Some(1), ..Default::default() };
                let n = store.list_memories(&q).await?.total;
                if n > 0 && !confirmed(n, &clean(user, false)) {
                    say!("nothing deleted");
                    return Ok(Done { text: String::new(), code: EXIT_FAILURE });
                }
            }
            let n = store.clear_memories(user).await?;
            if json_out {
                pretty(&json!({"cleared": n, "user_id": user}))
            } else {
                format!("cleared {n} {} of user {}\n", plural(n), clean(user, false))
            }
            .into()
        }
    })
}
