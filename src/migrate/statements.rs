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

/// The statements of `sql`, in order; empty statements (`;;`, comments only) are left out.
pub(crate) fn split(sql: &str) -> Vec<Statement<'_>> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut start: Option<usize> = None;
    let mut words: Vec<String> = Vec::new();
    let mut last_word = String::new();
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
                let last =
                    if last_word.is_empty() { words.last().map_or("", |w| w.as_str()) } else { last_word.as_str() };
                creates_trigger && last != "END"
            };
            if !in_trigger {
                finish(&mut start, &mut words, &mut last_word, i);
            }
            i += 1;
            continue;
        }
        start.get_or_insert(i);
        match c {
            b'\'' | b'"' | b'`' => {
                i = sql[i + 1..].find(c as char).map_or(b.len(), |n| i + 1 + n + 1);
            }
            b'$' if dollar_tag(&sql[i..]).is_some() => {
                let tag = dollar_tag(&sql[i..]).unwrap_or("$$");
                i = sql[i + tag.len()..].find(tag).map_or(b.len(), |n| i + tag.len() + n + tag.len());
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let end =
                    sql[i..].find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_')).map_or(b.len(), |n| i + n);
                let word = sql[i..end].to_ascii_uppercase();
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
pub(crate) fn transaction_control<'a>(sql: &'a str) -> Option<Statement<'a>> {
    split(sql).into_iter().find(|s| {
        let k = s.keyword();
        TRANSACTION_CONTROL.contains(&k) && (k != "START" || s.words.get(1).is_some_and(|w| w == "TRANSACTION"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(sql: &str) -> Vec<(usize, &str)> {
        split(sql).iter().map(|s| (s.line, s.text)).collect()
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
        assert_eq!(split(sql).len(), 2);
        assert_eq!(split(sql)[1].line, 5);
        let pg = "CREATE FUNCTION f() RETURNS int AS $body$ BEGIN; COMMIT; END $body$ LANGUAGE plpgsql;\nDO $$ BEGIN PERFORM 1; END $$;";
        assert_eq!(split(pg).len(), 2);
        assert_eq!(transaction_control(pg), None);
    }

    #[test]
    fn transaction_control_is_found_with_its_line() {
        let sql = "CREATE TABLE a (x INT);\n\ncommit;\nCREATE TABLE b (y INT);";
        let s = transaction_control(sql).unwrap();
        assert_eq!((s.line, s.text), (3, "commit"));
        assert_eq!(transaction_control("START TRANSACTION;").unwrap().line, 1);
        assert_eq!(transaction_control("CREATE TABLE start (x INT); SELECT 'COMMIT';"), None);
        let trigger = "CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE a SET x = 1; END;";
        assert_eq!(transaction_control(trigger), None);
        let temp = "CREATE TEMP TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END; COMMIT;";
        assert_eq!(transaction_control(temp).map(|s| s.text), Some("COMMIT"));
        // A table named `trigger` is no trigger: what follows it is still seen.
        let named = "CREATE TABLE trigger (x INT);\nCOMMIT;\nCREATE TABLE y (z INT);";
        assert_eq!(transaction_control(named).map(|s| s.line), Some(2));
        let hidden = "CREATE TABLE a (x INT);/* c */COMMIT;";
        assert_eq!(transaction_control(hidden).map(|s| s.text), Some("COMMIT"));
        assert_eq!(transaction_control("end transaction;").map(|s| s.line), Some(1));
    }
}
