//! Splits migration SQL into its statements, each with the line it starts on: quotes (`'…'`,
//! `"…"`, PostgreSQL's `$tag$…$tag$`), comments (`--`, `/* */`) and SQLite trigger bodies
//! (`CREATE TRIGGER … BEGIN …; END;`) are not split. Used to refuse transaction control in a
//! migration and to name the line of the statement that failed.

/// One statement of a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement<'a> {
    /// 1-based line of its first character.
    pub line: usize,
    /// Its text, without the `;` that ends it.
    pub text: &'a str,
    /// Its words outside quotes and comments, upper-cased (the first few and the last).
    words: Vec<String>,
}

impl Statement<'_> {
    /// Its first word, upper-cased (`COMMIT`, `CREATE`).
    pub fn keyword(&self) -> &str {
        self.words.first().map_or("", String::as_str)
    }
}

/// How many leading words of a statement are kept (enough for `CREATE TEMP TRIGGER`).
const LEADING_WORDS: usize = 4;

/// The SQL dialect, for its quoting rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// SQLite: also `[identifier]` quoting.
    Sqlite,
    /// PostgreSQL: also `$tag$…$tag$` and `E'…'` (backslash escapes).
    Postgres,
}

/// The statements of `sql`, in order; empty statements (`;;`, comments only) are left out.
pub(crate) fn split(sql: &str, dialect: Dialect) -> Vec<Statement<'_>> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut start: Option<usize> = None;
    let mut words: Vec<String> = Vec::new();
    let mut last_word = String::new();
    // Open `CASE` expressions of the statement: their `END` is not a trigger body's.
    let mut cases = 0usize;
    // Whether the statement's last word is an `END` that closes a block (not a `CASE`).
    let mut ends_block = false;
    let mut finish = |start: &mut Option<usize>, words: &mut Vec<String>, last: &mut String, end: usize| {
        if let Some(s) = start.take() {
            let mut w = std::mem::take(words);
            if !last.is_empty() {
                w.push(std::mem::take(last));
            }
            out.push(Statement { line: line_of(sql, s), text: sql[s..end].trim_end(), words: w });
        }
        words.clear();
        last.clear();
    };
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'-' && b.get(i + 1) == Some(&b'-') {
            i = sql[i..].find('\n').map_or(b.len(), |n| i + n);
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i = sql[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
            continue;
        }
        if c == b';' {
            let in_trigger = {
                let lead: Vec<&str> = words.iter().take(LEADING_WORDS).map(String::as_str).collect();
                // `CREATE [TEMP|TEMPORARY] TRIGGER`, not a table or column named `trigger`.
                let creates_trigger = lead.first() == Some(&"CREATE")
                    && match lead.get(1) {
                        Some(&"TRIGGER") => true,
                        Some(&"TEMP" | &"TEMPORARY") => lead.get(2) == Some(&"TRIGGER"),
                        _ => false,
                    };
                creates_trigger && !ends_block
            };
            if !in_trigger {
                finish(&mut start, &mut words, &mut last_word, i);
                cases = 0;
                ends_block = false;
            }
            i += 1;
            continue;
        }
        start.get_or_insert(i);
        ends_block = false;
        match c {
            b'\'' | b'"' | b'`' => i = quoted(b, i, c, false),
            b'[' if dialect == Dialect::Sqlite => {
                i = sql[i + 1..].find(']').map_or(b.len(), |n| i + 1 + n + 1);
            }
            b'$' if dialect == Dialect::Postgres && dollar_tag(&sql[i..]).is_some() => {
                let tag = dollar_tag(&sql[i..]).unwrap_or("$$");
                i = sql[i + tag.len()..].find(tag).map_or(b.len(), |n| i + tag.len() + n + tag.len());
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                // Identifiers hold letters, digits, `_` and `$` (both dialects), and any
                // non-ASCII character.
                let end = sql[i..]
                    .find(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == '$'))
                    .map_or(b.len(), |n| i + n);
                let word = sql[i..end].to_ascii_uppercase();
                // PostgreSQL's `E'…'`: backslash escapes inside.
                if dialect == Dialect::Postgres && word == "E" && b.get(end) == Some(&b'\'') {
                    i = quoted(b, end, b'\'', true);
                    continue;
                }
                match word.as_str() {
                    "CASE" => cases += 1,
                    "END" if cases > 0 => cases -= 1,
                    "END" => ends_block = true,
                    _ => {}
                }
                if words.len() < LEADING_WORDS {
                    words.push(word);
                } else {
                    last_word = word;
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    finish(&mut start, &mut words, &mut last_word, b.len());
    out
}

/// The index after the quoted text that starts at `b[start]` (the quote `q`; doubled quotes
/// stay inside; with `backslash`, `\x` too).
fn quoted(b: &[u8], start: usize, q: u8, backslash: bool) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        if backslash && b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == q {
            if b.get(i + 1) == Some(&q) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

/// `$tag$` (or `$$`) at the start of `s`, when it opens a PostgreSQL dollar-quoted string.
fn dollar_tag(s: &str) -> Option<&str> {
    let rest = &s[1..];
    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
    if rest.as_bytes()[end] != b'$' || rest[..end].starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some(&s[..end + 2])
}

fn line_of(sql: &str, offset: usize) -> usize {
    sql.as_bytes()[..offset].iter().filter(|&&c| c == b'\n').count() + 1
}

/// Statements that control transactions, which a migration may not hold: agno-run runs each
/// migration in a transaction of its own, and a `COMMIT` inside one would leave it half applied.
const TRANSACTION_CONTROL: &[&str] = &["BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "START", "ABORT"];

/// The first statement of `sql` that controls transactions, if any.
pub(crate) fn transaction_control(sql: &str, dialect: Dialect) -> Option<Statement<'_>> {
    split(sql, dialect).into_iter().find(|s| {
        let k = s.keyword();
        TRANSACTION_CONTROL.contains(&k) && (k != "START" || s.words.get(1).is_some_and(|w| w == "TRANSACTION"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use Dialect::{Postgres, Sqlite};

    fn lines(sql: &str) -> Vec<(usize, &str)> {
        split(sql, Sqlite).iter().map(|s| (s.line, s.text)).collect()
    }

    fn tc(sql: &str) -> Option<(usize, &str)> {
        let s = transaction_control(sql, Sqlite).map(|s| (s.line, s.text));
        let p = transaction_control(sql, Postgres).map(|s| (s.line, s.text));
        assert_eq!(s, p, "both dialects agree on {sql:?}");
        s
    }

    #[test]
    fn statements_are_split_outside_quotes_and_comments() {
        let sql = "CREATE TABLE a (x TEXT DEFAULT ';');\n-- a comment; with a semicolon\nINSERT INTO a VALUES ('it''s; here');\n/* block; */ SELECT \"a;b\" FROM a;\n;\n";
        assert_eq!(
            lines(sql),
            vec![
                (1, "CREATE TABLE a (x TEXT DEFAULT ';')"),
                (3, "INSERT INTO a VALUES ('it''s; here')"),
                (4, "SELECT \"a;b\" FROM a"),
            ]
        );
    }

    #[test]
    fn trigger_bodies_and_dollar_quotes_stay_whole() {
        let sql = "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  UPDATE a SET x = 1;\n  DELETE FROM b;\nEND;\nSELECT 1;";
        assert_eq!(split(sql, Sqlite).len(), 2);
        assert_eq!(split(sql, Sqlite)[1].line, 5);
        let pg = "CREATE FUNCTION f() RETURNS int AS $body$ BEGIN; COMMIT; END $body$ LANGUAGE plpgsql;\nDO $$ BEGIN PERFORM 1; END $$;";
        assert_eq!(split(pg, Postgres).len(), 2);
        assert_eq!(transaction_control(pg, Postgres).map(|s| s.line), None);
        // A CASE … END inside a trigger body does not end the trigger.
        let case = "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET x = CASE WHEN NEW.x > 0 THEN 1 ELSE 0 END;\nEND;\nCOMMIT;";
        assert_eq!(tc(case), Some((3, "COMMIT")));
        assert_eq!(split(case, Sqlite).len(), 2);
    }

    #[test]
    fn transaction_control_is_found_with_its_line() {
        let sql = "CREATE TABLE a (x INT);\n\ncommit;\nCREATE TABLE b (y INT);";
        assert_eq!(tc(sql), Some((3, "commit")));
        assert_eq!(tc("START TRANSACTION;").map(|s| s.0), Some(1));
        assert_eq!(tc("CREATE TABLE start (x INT); SELECT 'COMMIT';"), None);
        assert_eq!(tc("CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE a SET x = 1; END;"), None);
        let temp = "CREATE TEMP TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END; COMMIT;";
        assert_eq!(tc(temp).map(|s| s.1), Some("COMMIT"));
        // A table named `trigger` is no trigger: what follows it is still seen.
        assert_eq!(tc("CREATE TABLE trigger (x INT);\nCOMMIT;\nCREATE TABLE y (z INT);").map(|s| s.0), Some(2));
        assert_eq!(tc("CREATE TABLE a (x INT);/* c */COMMIT;").map(|s| s.1), Some("COMMIT"));
        assert_eq!(tc("end transaction;").map(|s| s.0), Some(1));
        // `$` inside identifiers opens no dollar quote.
        assert_eq!(tc("CREATE TABLE t1 (a$b$ INT);\nCOMMIT;\nCREATE TABLE t2 (c$b$ INT);").map(|s| s.0), Some(2));
        // SQLite's [identifier] quoting, PostgreSQL's E'' escapes.
        let bracket = "CREATE TABLE t1 ([it's] INT);\nCOMMIT;";
        assert_eq!(transaction_control(bracket, Sqlite).map(|s| s.line), Some(2));
        let escaped = "CREATE TABLE t1 (x TEXT DEFAULT E'\\'');\nCOMMIT;\nCREATE TABLE t2 (x TEXT DEFAULT 'a');";
        assert_eq!(transaction_control(escaped, Postgres).map(|s| s.line), Some(2));
        assert_eq!(transaction_control("CREATE TABLE t1 ([a--] INT); COMMIT;", Sqlite).map(|s| s.text), Some("COMMIT"));
    }
}
