//! Running the real binary in tests: an empty environment (plus `PATH`), a working folder, a
//! timeout, and the output with its exit code. A panic of the binary fails the test.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILURE: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_CONFIG: i32 = 78;

pub const BIN: &str = env!("CARGO_BIN_EXE_agno-run");

/// The binary run from `dir`, with an empty environment (plus `PATH`) and a 60 s timeout.
pub fn agno(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear().current_dir(dir).timeout(Duration::from_secs(60));
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd
}

/// What a command printed, and how it ended.
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}", self.code, self.stdout, self.stderr)
    }
}

impl Out {
    /// Stdout and stderr together.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    #[track_caller]
    pub fn expect(&self, code: i32) -> &Out {
        assert_eq!(self.code, Some(code), "exit code\n{self:?}");
        self
    }

    #[track_caller]
    pub fn says(&self, needle: &str) -> &Out {
        assert!(self.all().contains(needle), "the output lacks {needle:?}\n{self:?}");
        self
    }

    #[track_caller]
    pub fn never_says(&self, needle: &str) -> &Out {
        assert!(!self.all().contains(needle), "the output holds {needle:?}\n{self:?}");
        self
    }
}

/// Runs `cmd` to its end.
pub fn exec(cmd: &mut Command) -> Out {
    let out = cmd.output().unwrap();
    let r = Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!r.stderr.contains("panicked"), "the binary panicked:\n{r:?}");
    r
}

/// Writes `text` to `dir/name`, creating folders.
pub fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

/// Whether the PostgreSQL test server answers; with `AGNO_TEST_REQUIRE_POSTGRES=1` its absence
/// fails the test instead of skipping it.
pub fn postgres_up() -> bool {
    let up = std::net::TcpStream::connect_timeout(&"127.0.0.1:5432".parse().unwrap(), Duration::from_secs(2)).is_ok();
    if !up {
        assert!(
            !std::env::var("AGNO_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1"),
            "PostgreSQL at 127.0.0.1:5432 is required (AGNO_TEST_REQUIRE_POSTGRES=1) but not reachable"
        );
        eprintln!("skipped: PostgreSQL is not reachable at 127.0.0.1:5432");
    }
    up
}

/// A schema name of its own for one test.
pub fn pg_schema() -> String {
    format!("t_{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}
