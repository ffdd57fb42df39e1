//! Hostile and careless input, through the real binary where a user meets it: what a model, a
//! server or a file sends cannot crash or exhaust agno-run, no secret is printed, PostgreSQL
//! connections are what `sslmode` says, and the CLI's rough edges are gone (issue 8).
//!
//! Models are offline (the scripted provider, or a tiny HTTP server on loopback). PostgreSQL
//! tests skip, saying so, when the server is absent, unless `AGNO_TEST_REQUIRE_POSTGRES=1`.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/mcp_peers.rs"]
mod mcp_peers;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cli::{EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, agno, exec, pg_schema, postgres_up, write};
use rusqlite::Connection;
use serde_json::Value;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// The stored runs of the SQLite file `dir/agno.db`: (status, run_data).
fn runs(dir: &Path) -> Vec<(String, Value)> {
    let c = Connection::open(dir.join("agno.db")).unwrap();
    let mut s = c.prepare("SELECT status, run_data FROM agno_runs ORDER BY created_at, run_index").unwrap();
    s.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
        .map(|r| {
            let (status, data) = r.unwrap();
            (status, serde_json::from_str(&data).unwrap())
        })
        .collect()
}

fn count(dir: &Path, table: &str) -> i64 {
    let c = Connection::open(dir.join("agno.db")).unwrap();
    c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap()
}

/// A config with one scripted agent `a` (SQLite `agno.db`), its replies and its tools.
fn scripted(dir: &Path, replies: &str, agent_extra: &str) {
    let yaml = format!(
        "version: 1\ndatabases:\n  local: {{type: sqlite, db_file: agno.db}}\nmodels:\n  m:\n    provider: scripted\n    replies:\n{replies}\nagents:\n  a: {{model: m, db: local{agent_extra}}}\n"
    );
    write(dir, "app.yaml", yaml);
}

// ---------------------------------------------------------------------------------------------
// What a model, a server or a file sends
// ---------------------------------------------------------------------------------------------

#[test]
fn a_calculator_call_with_50000_signs_is_a_tool_error_not_a_crash() {
    let dir = tmp();
    let expression = format!("{}1", "-".repeat(50_000));
    let replies = format!(
        "      - tool_calls: [{{name: calculator, arguments: {{expression: \"{expression}\"}}}}]\n      - \"done\""
    );
    scripted(dir.path(), &replies, ", tools: [calculator]");
    let out = exec(agno(dir.path()).args(["run", "app.yaml", "--agent", "a", "go"]));
    out.expect(EXIT_OK).says("done");
    let (status, data) = &runs(dir.path())[0];
    assert_eq!(status, "COMPLETED");
    assert_eq!(data["tools"][0]["tool_call_error"], true, "{}", data["tools"][0]);
    assert!(data["tools"][0]["result"].as_str().unwrap().contains("nests too deeply"));
}

#[test]
fn http_request_stops_reading_at_max_response_bytes() {
    // A server that streams 512 MiB unless the client hangs up.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sent = Arc::new(AtomicUsize::new(0));
    let sent2 = sent.clone();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let total: usize = 512 * 1024 * 1024;
        let _ = s.write_all(format!("HTTP/1.1 200 OK\r\ncontent-length: {total}\r\n\r\n").as_bytes());
        let chunk = vec![b'z'; 64 * 1024];
        while sent2.load(Ordering::Relaxed) < total {
            if s.write_all(&chunk).is_err() {
                break;
            }
            sent2.fetch_add(chunk.len(), Ordering::Relaxed);
        }
    });
    let dir = tmp();
    let replies = format!(
        "      - tool_calls: [{{name: http_request, arguments: {{url: \"http://127.0.0.1:{port}/big\"}}}}]\n      - \"fetched\""
    );
    scripted(
        dir.path(),
        &replies,
        ", tools: [{name: http_request, allowed_hosts: [127.0.0.1], max_response_bytes: 1000}]",
    );
    exec(agno(dir.path()).args(["run", "app.yaml", "--agent", "a", "fetch"])).expect(EXIT_OK);
    server.join().unwrap();
    let (_, data) = &runs(dir.path())[0];
    let result: Value = serde_json::from_str(data["tools"][0]["result"].as_str().unwrap()).unwrap();
    assert_eq!(result["body"].as_str().unwrap().len(), 1000);
    assert_eq!(result["truncated"], true);
    // What the server got out before the client hung up: socket buffers, never the body.
    let written = sent.load(Ordering::Relaxed);
    assert!(written < 64 * 1024 * 1024, "the client read {written} bytes of a 1000-byte cap");
}

#[test]
fn an_input_over_max_input_bytes_is_refused_before_anything_is_stored() {
    let dir = tmp();
    scripted(dir.path(), "      - \"ok\"", ", max_input_bytes: 1000000");
    let big = "x".repeat(2_000_000);
    // The message from stdin: a 2 MB message needs no argv.
    let out = exec(agno(dir.path()).args(["run", "app.yaml", "--agent", "a", "-"]).write_stdin(big.clone()));
    out.expect(EXIT_FAILURE).says("2000000 bytes, more than the 1000000 bytes").says("max_input_bytes");
    assert_eq!(count(dir.path(), "agno_sessions"), 0, "nothing is stored");
    // In `chat`, the line is refused, the chat goes on, and its exit status says a turn failed.
    let out = exec(agno(dir.path()).args(["chat", "app.yaml", "--agent", "a"]).write_stdin(format!("{big}\nhello\n")));
    out.expect(EXIT_FAILURE).says("max_input_bytes").says("ok").says("1 turn(s) were refused or failed");
    assert_eq!(count(dir.path(), "agno_runs"), 1, "the second line ran");
    // A line past what the agent accepts is read past, never held whole; a line that is not
    // UTF-8 is skipped; the chat goes on.
    let mut input = vec![b'y'; 70 * 1024 * 1024];
    input.extend_from_slice(b"\n\xff\xfe\nagain\n");
    let out = exec(agno(dir.path()).args(["chat", "app.yaml", "--agent", "a"]).write_stdin(input));
    out.expect(EXIT_FAILURE)
        .says("longer than the 1000000 bytes agent `a` accepts")
        .says("not UTF-8")
        .says("2 turn(s)");
    assert_eq!(count(dir.path(), "agno_runs"), 2, "the last line ran");
    // Under the bound, from stdin, it runs.
    let out = exec(agno(dir.path()).args(["run", "app.yaml", "--agent", "a", "-"]).write_stdin("small message\n"));
    out.expect(EXIT_OK);
    let all = runs(dir.path());
    assert_eq!(all.last().unwrap().1["input"]["input_content"], "small message");
}

#[test]
fn a_history_message_that_is_not_an_object_is_skipped_not_a_panic() {
    let dir = tmp();
    write(
        dir.path(),
        "app.yaml",
        "version: 1\ndatabases:\n  local: {type: sqlite, db_file: agno.db}\nmodels:\n  m: {provider: scripted}\nagents:\n  a: {model: m, db: local, add_history_to_context: true}\n",
    );
    exec(agno(dir.path()).args(["run", "app.yaml", "--agent", "a", "--session", "s", "first"])).expect(EXIT_OK);
    // Another program wrote messages that are not objects.
    let c = Connection::open(dir.path().join("agno.db")).unwrap();
    c.execute("UPDATE agno_runs SET run_data = json_set(run_data, '$.messages', json('[1, \"text\", null, [2]]'))", [])
        .unwrap();
    drop(c);
    exec(agno(dir.path()).args(["run", "app.yaml", "--agent", "a", "--session", "s", "second"])).expect(EXIT_OK);
    assert_eq!(runs(dir.path()).len(), 2);
}

#[test]
fn numeric_flags_are_parsed_with_a_range() {
    let dir = tmp();
    scripted(dir.path(), "      - \"ok\"", "");
    for bad in ["inf", "NaN", "-1", "1e9", "soon"] {
        let out = exec(agno(dir.path()).args(["migrate", "app.yaml", &format!("--lock-timeout={bad}")]));
        out.expect(EXIT_USAGE).says("--lock-timeout");
    }
    exec(agno(dir.path()).args(["migrate", "app.yaml", "--lock-timeout", "0.5"])).expect(EXIT_OK);
    for (flag, value) in [("--limit", "0"), ("--page", "0"), ("--limit", "100000")] {
        let out = exec(agno(dir.path()).args(["sessions", "app.yaml", "list", flag, value]));
        out.expect(EXIT_USAGE).says(flag);
    }
}

#[test]
fn a_symlink_out_of_a_config_folder_is_refused_and_never_read() {
    let outside = tmp();
    write(outside.path(), "secrets.yaml", "root-password-line: hunter2\nanother-secret-line: x\n");
    let dir = tmp();
    let configs = dir.path().join("configs");
    write(&configs, "app.yaml", "version: 1\nmodels:\n  m: {provider: scripted}\nagents:\n  a: {model: m}\n");
    std::os::unix::fs::symlink(outside.path().join("secrets.yaml"), configs.join("stolen.yaml")).unwrap();
    std::os::unix::fs::symlink(outside.path(), configs.join("elsewhere")).unwrap();
    // Kubernetes-style links inside the folder still work.
    write(&configs, "..2026_12_02/extra.yaml", "version: 1\nmodels:\n  n: {provider: scripted}\n");
    std::os::unix::fs::symlink("..2026_12_02", configs.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/extra.yaml", configs.join("extra.yaml")).unwrap();
    for format in ["human", "json", "github"] {
        let out = exec(agno(dir.path()).args(["validate", "--format", format, "configs"]));
        out.expect(EXIT_CONFIG).says("stolen.yaml").says("outside the folder").says("elsewhere");
        out.never_says("hunter2").never_says("root-password-line");
    }
    std::fs::remove_file(configs.join("stolen.yaml")).unwrap();
    std::fs::remove_file(configs.join("elsewhere")).unwrap();
    let out = exec(agno(dir.path()).args(["config", "configs"]));
    out.expect(EXIT_OK);
    let config: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(config["models"]["n"].is_object(), "the file behind the inside link is loaded");
}

#[test]
fn a_sqlite_migration_that_controls_the_transaction_is_refused_with_its_line() {
    let dir = tmp();
    write(
        dir.path(),
        "app.yaml",
        "version: 1\ndatabases:\n  local: {type: sqlite, db_file: agno.db, migrations: [mig]}\n",
    );
    write(
        dir.path(),
        "mig/V1__half.sql",
        "CREATE TABLE first_half (x INT);\n-- done with it\nCOMMIT;\nCREATE TABLE second_half (y INT);\n",
    );
    let out = exec(agno(dir.path()).args(["migrate", "app.yaml"]));
    out.expect(EXIT_FAILURE).says("V1__half.sql:3").says("`COMMIT`");
    let c = Connection::open(dir.path().join("agno.db"));
    let tables: Vec<String> = c
        .map(|c| {
            let mut s = c.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").unwrap();
            s.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
        })
        .unwrap_or_default();
    assert!(!tables.iter().any(|t| t == "first_half"), "nothing of it ran: {tables:?}");
    let out = exec(agno(dir.path()).args(["migrate", "status", "app.yaml"]));
    out.expect(EXIT_FAILURE).says("V1__half.sql:3");
    // Quoting that once hid the COMMIT from the check (and left the migration half applied).
    for sql in [
        "CREATE TABLE first_half ([it's] INT);\nCOMMIT;\nCREATE TABLE second_half (y INT);\n",
        "CREATE TABLE first_half (a$b$ INT);\nCOMMIT;\nCREATE TABLE second_half (c$b$ INT);\n",
        "CREATE TABLE first_half ([a--] INT);\nCOMMIT;\n",
    ] {
        write(dir.path(), "mig/V1__half.sql", sql);
        exec(agno(dir.path()).args(["migrate", "app.yaml"]))
            .expect(EXIT_FAILURE)
            .says("V1__half.sql:2")
            .says("`COMMIT`");
        let c = Connection::open(dir.path().join("agno.db")).unwrap();
        let n: i64 = c
            .query_row("SELECT COUNT(*) FROM sqlite_master WHERE name IN ('first_half', 'second_half')", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 0, "nothing of {sql:?} ran");
    }
    // A trigger whose body holds CASE … END is no transaction control.
    write(
        dir.path(),
        "mig/V1__half.sql",
        "CREATE TABLE t (x INT);\nCREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET x = CASE WHEN NEW.x > 0 THEN 1 ELSE 0 END;\nEND;\n",
    );
    exec(agno(dir.path()).args(["migrate", "app.yaml"])).expect(EXIT_OK);
}

#[test]
fn a_failing_sqlite_migration_names_its_file_and_line() {
    let dir = tmp();
    write(
        dir.path(),
        "app.yaml",
        "version: 1\ndatabases:\n  local: {type: sqlite, db_file: agno.db, migrations: [mig]}\n",
    );
    write(dir.path(), "mig/V1__bad.sql", "CREATE TABLE ok (x INT);\n\nINSERT INTO nosuch VALUES (1);\n");
    let out = exec(agno(dir.path()).args(["migrate", "app.yaml"]));
    out.expect(EXIT_FAILURE).says("V1__bad.sql:3").says("no such table: nosuch");
    let c = Connection::open(dir.path().join("agno.db")).unwrap();
    let ok: i64 = c.query_row("SELECT COUNT(*) FROM sqlite_master WHERE name = 'ok'", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, 0, "the failed migration was rolled back, the line search too");
}

#[test]
fn a_plain_config_of_30000_agents_is_not_an_alias_bomb() {
    let dir = tmp();
    let mut yaml = String::from("version: 1\nmodels:\n  m: {provider: scripted}\nagents:\n");
    for i in 0..30_000 {
        yaml.push_str(&format!(
            "  agent_{i}: {{model: m, instructions: \"Answer as agent {i}.\", num_history_runs: 3}}\n"
        ));
    }
    assert!(yaml.len() > 2_000_000);
    write(dir.path(), "big.yaml", &yaml);
    let out = exec(agno(dir.path()).args(["validate", "big.yaml"]));
    out.expect(EXIT_OK).never_says("alias");
    // An alias bomb is still refused.
    let mut bomb = String::from("version: 1\nx0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n");
    for i in 1..8 {
        bomb.push_str(&format!(
            "x{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n",
            p = i - 1
        ));
    }
    write(dir.path(), "bomb.yaml", &bomb);
    exec(agno(dir.path()).args(["validate", "bomb.yaml"])).expect(EXIT_CONFIG).says("aliases expand");
}

// ---------------------------------------------------------------------------------------------
// No secret is ever printed
// ---------------------------------------------------------------------------------------------

#[test]
fn a_password_in_the_url_query_is_never_printed() {
    let dir = tmp();
    write(
        dir.path(),
        "app.yaml",
        "version: 1\ndatabases:\n  pg:\n    type: postgres\n    db_url: \"postgresql://postgres@127.0.0.1:1/test?password=hunter22&sslpassword=hunter33&pass%77ord=hunter44\"\n    connect_timeout: 1\n",
    );
    let out = exec(agno(dir.path()).args(["config", "app.yaml"]));
    out.expect(EXIT_OK).says("password=***");
    for cmd in [
        &["config", "app.yaml"][..],
        &["migrate", "app.yaml"],
        &["migrate", "status", "app.yaml"],
        &["migrate", "app.yaml", "--dry-run"],
    ] {
        let out = exec(agno(dir.path()).args(cmd));
        out.never_says("hunter22").never_says("hunter33").never_says("hunter44");
    }
}

#[test]
fn values_from_the_environment_are_never_echoed_in_diagnostics() {
    let dir = tmp();
    write(
        dir.path(),
        "app.yaml",
        "version: 1\ndatabases:\n  d: {type: sqlite, db_file: a.db, migrations: [\"${MIG}\"], session_table: \"${TABLE}\", runs_table: \"${TABLE}\"}\nmodels:\n  m: {provider: scripted}\nagents:\n  a: {model: \"${MODEL}\", tools: [\"${TOOL}\"]}\nteams:\n  t: {model: m, members: [\"${MEMBER}\"]}\nworkflows:\n  w:\n    steps:\n      - {name: s, agent: a, input: \"${TEMPLATE}\"}\n      - {name: \"${STEP}\", agent: a}\n      - {name: \"${STEP}\", agent: a}\n",
    );
    let secrets = [
        ("MODEL", "sk-model-secret"),
        ("TOOL", "sk-tool-secret"),
        ("MEMBER", "sk-member-secret"),
        ("TEMPLATE", "{{ steps.sk-template-secret.content }}"),
        ("MIG", "sk-folder-secret"),
        ("TABLE", "sk_table_secret"),
        ("STEP", "sk-step-secret"),
        ("AGNO_SERVER__BOGUS", "sk-server-secret"),
        ("AGNO_SERVER__PORT", "sk-port-secret"),
    ];
    for format in ["human", "json", "github"] {
        let mut cmd = agno(dir.path());
        cmd.args(["validate", "--format", format, "app.yaml"]);
        for (k, v) in secrets {
            cmd.env(k, v);
        }
        let out = exec(&mut cmd);
        out.expect(EXIT_CONFIG).says("${MODEL}").says("${TOOL}").says("${MEMBER}").says("${MIG}").says("${STEP}");
        for (_, v) in secrets {
            out.never_says(v.trim_start_matches("{{ steps.").trim_end_matches(".content }}"));
        }
    }
    // `AGNO_SERVER__*` values, wrong or misspelt, are not shown either.
    write(dir.path(), "ok.yaml", "version: 1\nmodels:\n  m: {provider: scripted}\n");
    for format in ["human", "json", "github"] {
        let out = exec(
            agno(dir.path())
                .args(["validate", "--format", format, "ok.yaml"])
                .env("AGNO_SERVER__BOGUS", "sk-server-secret")
                .env("AGNO_SERVER__PORT", "sk-port-secret"),
        );
        out.expect(EXIT_CONFIG).says("`bogus`").says("`port`");
        out.never_says("sk-server-secret").never_says("sk-port-secret");
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL in production
// ---------------------------------------------------------------------------------------------

fn pg_config(dir: &Path, schema: &str, query: &str, extra: &str) {
    pg_config_at(dir, "127.0.0.1", schema, query, extra);
}

fn pg_config_at(dir: &Path, host: &str, schema: &str, query: &str, extra: &str) {
    write(
        dir,
        "app.yaml",
        format!(
            "version: 1\ndatabases:\n  pg:\n    type: postgres\n    db_url: \"postgresql://postgres@{host}:5432/test{query}\"\n    db_schema: {schema}\n    connect_timeout: 10\n{extra}models:\n  m: {{provider: scripted}}\nagents:\n  a: {{model: m, db: pg}}\n"
        ),
    );
}

fn drop_schema(schema: &str) {
    let _ = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "test",
            "-qc",
            &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        ])
        .output();
}

fn psql(sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-XAtqc", sql])
        .output()
        .unwrap();
    assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn sslmode_require_really_encrypts_and_verify_full_refuses_a_wrong_certificate_at_once() {
    if !postgres_up() {
        return;
    }
    let schema = pg_schema();
    let dir = tmp();
    pg_config(dir.path(), &schema, "?sslmode=require&application_name=agno_tls_test", "");
    exec(agno(dir.path()).args(["migrate", "app.yaml"])).expect(EXIT_OK);
    // While a `chat` holds its connections open, the server says whether they use TLS.
    let mut chat = std::process::Command::new(cli::BIN)
        .args(["chat", "app.yaml", "--agent", "a"])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = chat.stdin.take().unwrap();
    writeln!(stdin, "hello").unwrap();
    let start = Instant::now();
    let mut ssl = String::new();
    while start.elapsed() < Duration::from_secs(20) {
        ssl = psql(
            "SELECT string_agg(s.ssl::text, ',') FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'agno_tls_test'",
        );
        if !ssl.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(stdin);
    let _ = chat.wait();
    assert!(!ssl.is_empty() && ssl.split(',').all(|s| s == "true"), "connections of sslmode=require: {ssl:?}");
    // The server's certificate (self-signed, for `localhost`) as the trusted root.
    let root = dir.path().join("server.pem");
    std::fs::write(&root, std::fs::read(psql("SHOW ssl_cert_file")).expect("the server's certificate is readable"))
        .unwrap();
    let root_q = |mode: &str| format!("?sslmode={mode}&sslrootcert={}", root.display());
    pg_config_at(dir.path(), "localhost", &schema, &root_q("verify-full"), "");
    exec(agno(dir.path()).args(["migrate", "status", "app.yaml"])).expect(EXIT_OK);
    // verify-full to an address the certificate is not for: refused at once, not retried.
    pg_config_at(dir.path(), "127.0.0.1", &schema, &root_q("verify-full"), "");
    let start = Instant::now();
    let out = exec(agno(dir.path()).args(["migrate", "status", "app.yaml"]));
    out.expect(EXIT_FAILURE).says("certificate").says("sslmode=verify-full");
    assert!(start.elapsed() < Duration::from_secs(8), "a TLS failure is not retried for the whole connect_timeout");
    // verify-ca checks the chain, not the name.
    pg_config_at(dir.path(), "127.0.0.1", &schema, &root_q("verify-ca"), "");
    exec(agno(dir.path()).args(["migrate", "status", "app.yaml"])).expect(EXIT_OK);
    // A CA that did not sign the server's certificate.
    let other = dir.path().join("other-ca.pem");
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=other-ca", "-keyout"])
        .arg(dir.path().join("other-ca.key"))
        .arg("-out")
        .arg(&other)
        .output()
        .expect("openssl makes a CA");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    pg_config_at(dir.path(), "localhost", &schema, &format!("?sslmode=verify-ca&sslrootcert={}", other.display()), "");
    exec(agno(dir.path()).args(["migrate", "status", "app.yaml"])).expect(EXIT_FAILURE).says("certificate");
    // As with libpq, `require` with a root certificate given checks the chain.
    pg_config_at(dir.path(), "localhost", &schema, &format!("?sslmode=require&sslrootcert={}", other.display()), "");
    exec(agno(dir.path()).args(["migrate", "status", "app.yaml"])).expect(EXIT_FAILURE).says("certificate");
    // sslmode=disable still connects in plain text.
    pg_config(dir.path(), &schema, "?sslmode=disable", "");
    exec(agno(dir.path()).args(["migrate", "status", "app.yaml"])).expect(EXIT_OK);
    drop_schema(&schema);
}

#[test]
fn a_black_holed_server_fails_after_the_whole_connect_timeout_with_a_clear_error() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _hold = std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let dir = tmp();
    write(
        dir.path(),
        "app.yaml",
        format!(
            "version: 1\ndatabases:\n  pg:\n    type: postgres\n    db_url: \"postgresql://postgres@127.0.0.1:{port}/test?sslmode=disable\"\n    connect_timeout: 2\n"
        ),
    );
    let start = Instant::now();
    let out = exec(agno(dir.path()).args(["migrate", "status", "app.yaml"]));
    let took = start.elapsed();
    out.expect(EXIT_FAILURE).says(&format!("127.0.0.1:{port}")).says("after");
    assert!(took >= Duration::from_millis(1500), "gave up early, after {took:?} of a 2 s connect_timeout");
    assert!(took < Duration::from_secs(20), "hung for {took:?}");
}

#[test]
fn long_table_names_whose_indexes_would_collide_are_refused_at_validation() {
    let dir = tmp();
    let at = |runs: &str, extra: &str| {
        format!(
            "version: 1\ndatabases:\n  pg:\n    type: postgres\n    db_url: postgresql://h/db\n    runs_table: {runs}\n{extra}"
        )
    };
    write(dir.path(), "long.yaml", at(&"r".repeat(48), ""));
    exec(agno(dir.path()).args(["validate", "long.yaml"]))
        .expect(EXIT_CONFIG)
        .says("agno::identifier")
        .says("would both be cut");
    write(dir.path(), "fits.yaml", at(&"r".repeat(47), ""));
    exec(agno(dir.path()).args(["validate", "fits.yaml"])).expect(EXIT_OK);
    write(dir.path(), "history.yaml", at("agno_runs", "    session_table: agno_run_migrations_user\n"));
    exec(agno(dir.path()).args(["validate", "history.yaml"])).expect(EXIT_CONFIG).says("agno::table_conflict");
    write(
        dir.path(),
        "reserved.yaml",
        "version: 1\ndatabases:\n  s: {type: sqlite, db_file: a.db, session_table: sqlite_sessions}\n",
    );
    exec(agno(dir.path()).args(["validate", "reserved.yaml"])).expect(EXIT_CONFIG).says("SQLite reserves");
}

#[test]
fn a_failing_postgres_migration_shows_the_server_message_file_and_line() {
    if !postgres_up() {
        return;
    }
    let schema = pg_schema();
    let dir = tmp();
    pg_config(dir.path(), &schema, "?sslmode=disable", "    migrations: [mig]\n");
    write(dir.path(), "mig/V1__bad.sql", "CREATE TABLE ok (x INT);\n\nINSERT INTO nosuch VALUES (1);\n");
    let out = exec(agno(dir.path()).args(["migrate", "app.yaml"]));
    out.expect(EXIT_FAILURE).says("V1__bad.sql:3").says("relation \"nosuch\" does not exist").never_says("db error");
    drop_schema(&schema);
}

#[test]
fn adopted_tables_with_other_column_types_are_refused_and_a_changed_column_is_an_error_not_a_panic() {
    // SQLite: an Agno-like table whose times are text.
    let dir = tmp();
    write(dir.path(), "app.yaml", "version: 1\ndatabases:\n  local: {type: sqlite, db_file: agno.db}\n");
    let c = Connection::open(dir.path().join("agno.db")).unwrap();
    c.execute_batch(
        "CREATE TABLE agno_sessions (session_id VARCHAR NOT NULL PRIMARY KEY, session_type VARCHAR NOT NULL, agent_id VARCHAR, team_id VARCHAR, workflow_id VARCHAR, user_id VARCHAR, session_data JSON, agent_data JSON, team_data JSON, workflow_data JSON, metadata JSON, summary JSON, created_at TEXT NOT NULL, updated_at BIGINT);",
    )
    .unwrap();
    drop(c);
    let out = exec(agno(dir.path()).args(["migrate", "app.yaml"]));
    out.expect(EXIT_FAILURE).says("`created_at`").says("`agno_sessions`").says("TEXT");
    if !postgres_up() {
        return;
    }
    // PostgreSQL: a column changed after migrating is reported with its table and column.
    let schema = pg_schema();
    let dir = tmp();
    pg_config(dir.path(), &schema, "?sslmode=disable", "");
    exec(agno(dir.path()).args(["run", "app.yaml", "--agent", "a", "--session", "s1", "hi"])).expect(EXIT_OK);
    psql(&format!("ALTER TABLE {schema}.agno_runs ALTER COLUMN run_index TYPE integer"));
    let out = exec(agno(dir.path()).args(["sessions", "app.yaml", "show", "s1"]));
    out.expect(EXIT_FAILURE).says("agno_runs").says("run_index");
    // Adopting such a schema is refused before anything is written.
    let adopt = pg_schema();
    psql(&format!("CREATE SCHEMA {adopt}; CREATE TABLE {adopt}.agno_sessions (LIKE {schema}.agno_sessions)"));
    psql(&format!("ALTER TABLE {adopt}.agno_sessions ALTER COLUMN created_at TYPE text"));
    pg_config(dir.path(), &adopt, "?sslmode=disable", "");
    let out = exec(agno(dir.path()).args(["migrate", "app.yaml"]));
    out.expect(EXIT_FAILURE).says("`created_at`").says("text");
    drop_schema(&schema);
    drop_schema(&adopt);
}

// ---------------------------------------------------------------------------------------------
// CLI rough edges
// ---------------------------------------------------------------------------------------------

#[test]
fn scripted_tool_calls_must_name_functions_the_agent_offers() {
    let dir = tmp();
    scripted(dir.path(), "      - tool_calls: [{name: datetime}]\n      - \"ok\"", ", tools: [datetime]");
    let out = exec(agno(dir.path()).args(["validate", "app.yaml"]));
    out.expect(EXIT_CONFIG).says("agno::unknown_function").says("`current_datetime`");
    scripted(dir.path(), "      - tool_calls: [{name: current_datetim}]\n      - \"ok\"", ", tools: [datetime]");
    exec(agno(dir.path()).args(["validate", "app.yaml"])).expect(EXIT_CONFIG).says("did you mean `current_datetime`");
    scripted(dir.path(), "      - tool_calls: [{name: current_datetime}]\n      - \"ok\"", ", tools: [datetime]");
    exec(agno(dir.path()).args(["validate", "app.yaml"])).expect(EXIT_OK);
}

#[test]
fn an_unknown_agent_is_refused_before_any_folder_or_database_is_created() {
    let dir = tmp();
    write(
        dir.path(),
        "app.yaml",
        "version: 1\ndatabases:\n  local: {type: sqlite, db_file: data/deep/agno.db}\nmodels:\n  m: {provider: scripted}\nagents:\n  assistant: {model: m}\n",
    );
    let out = exec(agno(dir.path()).args(["run", "app.yaml", "--agent", "asistant", "hi"]));
    out.expect(EXIT_USAGE).says("did you mean `assistant`");
    assert!(!dir.path().join("data").exists(), "nothing is created for a refused run");
    let out = exec(agno(dir.path()).args(["chat", "app.yaml", "--agent", "nosuch"]));
    out.expect(EXIT_USAGE);
    let out = exec(agno(dir.path()).args(["sessions", "app.yaml", "list", "--agent", "asistant"]));
    out.expect(EXIT_USAGE).says("did you mean `assistant`");
    assert!(!dir.path().join("data").exists());
}

#[test]
fn run_json_prints_a_json_error_when_the_run_fails() {
    let dir = tmp();
    write(
        dir.path(),
        "app.yaml",
        "version: 1\ndatabases:\n  local: {type: sqlite, db_file: agno.db}\nmodels:\n  down: {provider: openai, id: gpt-down, base_url: \"http://127.0.0.1:1/v1\", api_key: k, max_retries: 0, timeout: 2}\n  m: {provider: scripted}\nagents:\n  a: {model: down, db: local}\n  b: {model: m, db: local}\n",
    );
    let out = exec(agno(dir.path()).args(["run", "app.yaml", "--agent", "a", "--json", "hi"]));
    out.expect(EXIT_FAILURE);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    assert_eq!(v["status"], "ERROR");
    assert!(v["error"].as_str().unwrap().contains("cannot reach"), "{v}");
    assert!(v["run_id"].is_string() && v["session_id"].is_string());
    // Refused before it starts (another user's session): an error object without a run.
    exec(agno(dir.path()).args(["run", "app.yaml", "--agent", "b", "--session", "s", "--user", "alice", "hi"]))
        .expect(EXIT_OK);
    let out = exec(agno(dir.path()).args([
        "run",
        "app.yaml",
        "--agent",
        "b",
        "--session",
        "s",
        "--user",
        "bob",
        "--json",
        "hi",
    ]));
    out.expect(EXIT_FAILURE);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["conflict"], "not_owner");
    assert_eq!(v["status"], Value::Null);
    // A database that cannot be opened: a JSON error too.
    write(
        dir.path(),
        "pg.yaml",
        "version: 1\ndatabases:\n  pg: {type: postgres, db_url: \"postgresql://postgres@127.0.0.1:1/test?sslmode=disable\", connect_timeout: 0.5}\nmodels:\n  m: {provider: scripted}\nagents:\n  a: {model: m, db: pg}\n",
    );
    let out = exec(agno(dir.path()).args(["run", "pg.yaml", "--agent", "a", "--json", "hi"]));
    out.expect(EXIT_FAILURE);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    assert!(v["error"].as_str().unwrap().contains("127.0.0.1:1"), "{v}");
}

#[test]
fn a_stray_agno_server_variable_breaks_only_commands_that_use_the_server() {
    let dir = tmp();
    scripted(dir.path(), "      - \"ok\"", "");
    let with_var = |args: &[&str]| exec(agno(dir.path()).args(args).env("AGNO_SERVER__PROT", "8080"));
    with_var(&["run", "app.yaml", "--agent", "a", "hi"]).expect(EXIT_OK);
    with_var(&["chat", "app.yaml", "--agent", "a"]).expect(EXIT_OK);
    with_var(&["sessions", "app.yaml", "list"]).expect(EXIT_OK);
    with_var(&["migrate", "status", "app.yaml"]).expect(EXIT_OK);
    with_var(&["config", "app.yaml"]).expect(EXIT_CONFIG).says("AGNO_SERVER__PROT");
}

#[test]
fn migrate_status_is_a_ci_gate() {
    let dir = tmp();
    write(
        dir.path(),
        "app.yaml",
        "version: 1\ndatabases:\n  local: {type: sqlite, db_file: agno.db, migrations: [mig]}\n",
    );
    write(dir.path(), "mig/V1__one.sql", "CREATE TABLE one (x INT);\n");
    exec(agno(dir.path()).args(["migrate", "status", "app.yaml"])).expect(EXIT_OK).says("pending");
    exec(agno(dir.path()).args(["migrate", "status", "app.yaml", "--check"])).expect(EXIT_FAILURE).says("pending");
    exec(agno(dir.path()).args(["migrate", "app.yaml"])).expect(EXIT_OK);
    exec(agno(dir.path()).args(["migrate", "status", "app.yaml", "--check"])).expect(EXIT_OK);
    // An applied migration edited afterwards: a refusal, exit 1 with or without --check.
    write(dir.path(), "mig/V1__one.sql", "CREATE TABLE one (x INT, y INT);\n");
    exec(agno(dir.path()).args(["migrate", "status", "app.yaml"])).expect(EXIT_FAILURE).says("REFUSED");
    exec(agno(dir.path()).args(["migrate", "status", "app.yaml", "--format", "json"])).expect(EXIT_FAILURE);
}

#[test]
fn commands_leave_no_lock_file_beside_the_database() {
    let dir = tmp();
    scripted(dir.path(), "      - \"ok\"", "");
    exec(agno(dir.path()).args(["migrate", "app.yaml"])).expect(EXIT_OK);
    exec(agno(dir.path()).args(["run", "app.yaml", "--agent", "a", "hi"])).expect(EXIT_OK);
    exec(agno(dir.path()).args(["sessions", "app.yaml", "list"])).expect(EXIT_OK);
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("lock"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn sessions_list_shows_dates_not_epoch_numbers() {
    let dir = tmp();
    scripted(dir.path(), "      - \"ok\"", "");
    exec(agno(dir.path()).args(["run", "app.yaml", "--agent", "a", "--session", "s1", "hi"])).expect(EXIT_OK);
    let out = exec(agno(dir.path()).args(["sessions", "app.yaml", "list"]));
    out.expect(EXIT_OK);
    let line = out.stdout.lines().find(|l| l.starts_with("s1")).unwrap();
    let year = time::OffsetDateTime::now_utc().year().to_string();
    assert!(line.contains(&format!("{year}-")) && line.contains("UTC"), "{line}");
    assert!(!line.split_whitespace().any(|w| w.len() == 10 && w.chars().all(|c| c.is_ascii_digit())), "{line}");
    let out = exec(agno(dir.path()).args(["sessions", "app.yaml", "show", "s1"]));
    out.expect(EXIT_OK).says("created: ").says("UTC");
}

// ---------------------------------------------------------------------------------------------
// Every command the docs show
// ---------------------------------------------------------------------------------------------

/// The project folder (configs/, examples/, README.md).
fn project() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Databases a developer's own runs left in the working tree are not part of the docs.
            if !name.contains(".db") {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
}

/// The command lines under `# Try it` in a config file.
fn try_it(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("# Try it") {
            inside = true;
            continue;
        }
        match line.strip_prefix("#   ") {
            Some(cmd) if inside => out.push(cmd.trim().to_string()),
            _ => inside = false,
        }
    }
    out
}

/// The `Examples:` lines of a `--help` text.
fn help_examples(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.trim() == "Examples:" {
            inside = true;
            continue;
        }
        match line.strip_prefix("  ") {
            Some(cmd) if inside && (cmd.contains("agno-run") || cmd.trim_start().starts_with("curl ")) => {
                out.push(cmd.trim().to_string())
            }
            _ => inside = false,
        }
    }
    out
}

/// What a documented command is expected to do.
#[derive(Debug, PartialEq)]
enum Expect {
    Works,
    /// Starts the server (`agno-run CONFIG`, `agno-run serve …`): it must come up and serve.
    Serves,
    /// Talks to the server the lines before it started.
    NeedsServer,
}

fn expectation(cmd: &str) -> Expect {
    if cmd.starts_with("curl ") {
        return Expect::NeedsServer;
    }
    // `VAR=value agno-run …`: the command is after the assignments.
    let words: Vec<&str> = cmd.split_whitespace().skip_while(|w| w.contains('=') && !w.starts_with('-')).collect();
    match words.as_slice() {
        ["agno-run", "serve", ..] => Expect::Serves,
        ["agno-run", first, ..] if first.ends_with(".yaml") || first.ends_with(".yml") || first.ends_with('/') => {
            Expect::Serves
        }
        _ => Expect::Works,
    }
}

/// A documented server command, started with `--port 0` (a later `--port` wins), and its address.
struct DocServer {
    child: std::process::Child,
    addr: String,
    stderr: Arc<std::sync::Mutex<String>>,
}

fn start_documented_server(dir: &Path, env: &[(String, String)], origin: &str, line: &str) -> DocServer {
    use std::io::BufRead;
    let mut shell = std::process::Command::new("bash");
    shell.env_clear().current_dir(dir).arg("-c").arg(format!("exec env {line} --port 0"));
    shell.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str()))).stdin(std::process::Stdio::null());
    shell.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    let mut child = shell.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let text = Arc::new(std::sync::Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let keep = text.clone();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(stderr).lines() {
            let Ok(l) = l else { break };
            if let Some(rest) = l.split("serving the AgentOS API on http://").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_string());
            }
            let mut t = keep.lock().unwrap();
            t.push_str(&l);
            t.push('\n');
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(addr) => DocServer { child, addr, stderr: text },
        Err(_) => {
            let _ = child.kill();
            panic!("{origin}: `{line}` did not serve:\n{}", text.lock().unwrap());
        }
    }
}

impl Drop for DocServer {
    /// A test that fails half-way leaves no server behind (a stopped one has exited already).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Stops a documented server with SIGTERM: it must exit 0.
fn stop_documented_server(mut s: DocServer, origin: &str) {
    let ok = std::process::Command::new("kill").arg("-TERM").arg(s.child.id().to_string()).status().unwrap();
    assert!(ok.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            std::thread::sleep(Duration::from_millis(100));
            let text = s.stderr.lock().unwrap().clone();
            assert!(!text.contains("panicked"), "{origin}: the server panicked:\n{text}");
            assert_eq!(status.code(), Some(0), "{origin}: the server did not stop cleanly:\n{text}");
            return;
        }
        assert!(Instant::now() < deadline, "{origin}: the server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `commands` in order, by bash, in a copy of the project's configs/ and examples/, with
/// the binary first on PATH. `SESSION_ID` stands for a session created just before (owned by
/// alice when the command says `--user alice`); `export DATABASE_URL=…` lines point at the local
/// test server instead of the example's (whose database does not exist here).
fn run_documented(commands: &[(String, String)], pg_schemas: &[&str]) {
    let dir = tmp();
    copy_tree(&project().join("configs"), &dir.path().join("configs"));
    copy_tree(&project().join("examples"), &dir.path().join("examples"));
    let bin_dir = Path::new(cli::BIN).parent().unwrap();
    // The MCP reference servers the MCP example starts (`mcp-server-time`), as a user who
    // installed them has them on PATH.
    let mcp_bin = mcp_peers::peers().and_then(|p| p.time.parent().map(|d| format!("{}:", d.display())));
    let path =
        format!("{}:{}{}", bin_dir.display(), mcp_bin.unwrap_or_default(), std::env::var("PATH").unwrap_or_default());
    let mut env = vec![("PATH".to_string(), path), ("HOME".to_string(), dir.path().display().to_string())];
    let mut ran = 0;
    let mut servers: Vec<DocServer> = Vec::new();
    for (i, (origin, cmd)) in commands.iter().enumerate() {
        if let Some(url) = cmd.strip_prefix("export DATABASE_URL=") {
            assert!(url.starts_with("postgresql://"), "{origin}: {cmd}");
            env.push(("DATABASE_URL".into(), "postgresql://postgres@127.0.0.1:5432/test".into()));
            continue;
        }
        let expect = expectation(cmd);
        if expect == Expect::Serves {
            servers.push(start_documented_server(dir.path(), &env, origin, cmd));
            eprintln!("{origin}: `{cmd}` → serving on {}", servers.last().unwrap().addr);
            ran += 1;
            continue;
        }
        let mut line = cmd.clone();
        if expect == Expect::NeedsServer {
            // The server the lines before started, wherever port 0 put it.
            let Some(server) = servers.last() else { panic!("{origin}: `{cmd}` comes before any server command") };
            for written in ["127.0.0.1:7777", "127.0.0.1:8080", "localhost:7777"] {
                line = line.replace(written, &server.addr);
            }
        }
        if line.contains("SESSION_ID") {
            let session = format!("doc-{i}");
            let mut make = agno(dir.path());
            make.args(["run", "configs/app.yaml", "--agent", "assistant", "--session", &session]);
            if line.contains("--user alice") {
                make.args(["--user", "alice"]);
            }
            exec(make.arg("hello")).expect(EXIT_OK);
            line = line.replace("SESSION_ID", &session);
        }
        let mut shell = std::process::Command::new("bash");
        shell.env_clear().current_dir(dir.path()).arg("-c").arg(format!("set -o pipefail; {line}"));
        shell.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str()))).stdin(std::process::Stdio::null());
        let out = shell.output().unwrap();
        let (code, stdout, stderr) =
            (out.status.code(), String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        eprintln!("{origin}: `{line}` → exit {code:?}");
        assert!(!stderr.contains("panicked"), "{origin}: `{line}` panicked:\n{stderr}");
        assert_eq!(code, Some(0), "{origin}: `{line}` failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
        if expect == Expect::NeedsServer && stdout.starts_with("event: ") {
            // A stream: Agno's SSE events, ending with the run's completion.
            assert!(stdout.contains("event: RunStarted"), "{origin}: `{line}` streamed no RunStarted:\n{stdout}");
            assert!(stdout.contains("event: RunCompleted"), "{origin}: `{line}` did not complete:\n{stdout}");
        } else if expect == Expect::NeedsServer && line.contains(" | grep ") {
            // A header or text the pipe's grep found (pipefail: it failed otherwise).
            assert!(!stdout.trim().is_empty(), "{origin}: `{line}` printed nothing");
        } else if expect == Expect::NeedsServer {
            // An answer, and not an error one (`curl -s` exits 0 on a 4xx).
            let body: Value = serde_json::from_str(stdout.trim())
                .unwrap_or_else(|e| panic!("{origin}: `{line}` did not answer JSON ({e}):\n{stdout}"));
            assert!(body.get("detail").is_none(), "{origin}: `{line}` answered an error: {body}");
        }
        ran += 1;
    }
    for s in servers {
        stop_documented_server(s, "documented server");
    }
    assert!(ran > 0);
    for schema in pg_schemas {
        drop_schema(schema);
    }
}

#[test]
fn every_try_it_command_in_examples_and_configs_works_as_written() {
    let mut commands = Vec::new();
    let mut needs_pg = false;
    for folder in ["configs", "examples"] {
        let mut files: Vec<_> = std::fs::read_dir(project().join(folder))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for cmd in try_it(&text) {
                needs_pg |= cmd.contains("DATABASE_URL");
                commands.push((file.display().to_string(), cmd));
            }
        }
    }
    assert!(commands.len() >= 10, "{commands:?}");
    // Every example that has a feature to show has a "Try it".
    for name in ["tools.yaml", "state.yaml", "sqlite.yaml", "history.yaml", "observability.yaml"] {
        assert!(commands.iter().any(|(f, _)| f.ends_with(name)), "examples/{name} has no Try it");
    }
    if needs_pg && !postgres_up() {
        commands.retain(|(f, _)| !f.ends_with("postgres.yaml"));
    }
    if mcp_peers::peers().is_none() {
        commands.retain(|(f, _)| !f.ends_with("mcp.yaml"));
    }
    run_documented(&commands, &["agents"]);
}

#[test]
fn every_example_in_help_and_readme_works_as_shown() {
    let mut texts = vec![("agno-run --help".to_string(), exec(agno(project()).arg("--help")).stdout)];
    for sub in ["serve", "validate", "schema", "migrate", "run", "chat", "sessions", "config", "tools", "graph"] {
        texts.push((format!("agno-run {sub} --help"), exec(agno(project()).args([sub, "--help"])).stdout));
    }
    for sub in ["list", "show", "runs", "export", "delete", "rename"] {
        texts.push((
            format!("agno-run help sessions {sub}"),
            exec(agno(project()).args(["help", "sessions", sub])).stdout,
        ));
    }
    let mut commands: Vec<(String, String)> = Vec::new();
    for (origin, text) in &texts {
        for cmd in help_examples(text) {
            // A trailing `# comment` is the help's, not the shell's business.
            let cmd = cmd.split("  #").next().unwrap().trim().to_string();
            commands.push((origin.clone(), cmd));
        }
    }
    assert!(commands.len() >= 25, "{commands:#?}");
    // README's shell blocks: `cargo run --release --` is the binary.
    let readme = std::fs::read_to_string(project().join("README.md")).unwrap();
    let mut inside = false;
    for line in readme.lines() {
        if line.starts_with("```sh") || line.starts_with("```bash") {
            inside = true;
        } else if line.starts_with("```") {
            inside = false;
        } else if inside && let Some(rest) = line.strip_prefix("cargo run --release -- ") {
            let cmd = rest.split("  #").next().unwrap().trim();
            commands.push(("README.md".into(), format!("agno-run {cmd}")));
        } else if inside && line.starts_with("curl ") {
            commands.push(("README.md".into(), line.split("  #").next().unwrap().trim().to_string()));
        }
    }
    assert!(commands.iter().any(|(o, _)| o == "README.md"));
    if mcp_peers::peers().is_none() {
        commands.retain(|(_, c)| !c.contains("mcp.yaml"));
    }
    // The migrate examples apply first, then read the state: keep the order they are shown in.
    run_documented(&commands, &[]);
}
