//! The child process of a stdio MCP server: started in its own process group (so that what it
//! starts dies with it), its stderr kept as a short bounded tail for error messages, and
//! stopped by SIGTERM to the group, then SIGKILL after a grace period. A [`Group`] that is
//! dropped without being stopped (the runtime shutting down, a panic) kills the group at once.
//! It does not speak MCP: `mcp` hands its pipes to the SDK.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::config::{McpServerConfig, McpTransport, redact_secrets};

/// How long a stopped server may take to exit after SIGTERM before its group is killed.
pub const GRACE: Duration = Duration::from_secs(2);
/// Lines of its stderr kept for error messages.
const TAIL_LINES: usize = 8;
/// Longest stderr line kept (a longer one is cut).
const TAIL_LINE_BYTES: usize = 512;

/// A started server process and its pipes.
pub struct Started {
    /// The process (its pid is the group's id).
    pub child: Child,
    /// The group, killed when dropped.
    pub group: Group,
    /// Its stdin (requests go there).
    pub stdin: ChildStdin,
    /// Its stdout (responses come from there).
    pub stdout: ChildStdout,
    /// The last lines it wrote to stderr.
    pub tail: Tail,
}

/// The process group of one server; dropping it kills every process in the group.
#[derive(Debug)]
pub struct Group {
    pgid: Option<Pid>,
}

impl Group {
    /// Sends `signal` to every process of the group (a group already gone is not an error).
    pub fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.pgid {
            let _ = kill_process_group(pgid, signal);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.signal(Signal::KILL);
    }
}

/// The last lines a server wrote to stderr (bounded), shared with the task that reads them.
#[derive(Debug, Clone, Default)]
pub struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Tail {
    fn push(&self, line: &str) {
        let mut line = line.trim_end().to_string();
        if line.is_empty() {
            return;
        }
        if line.len() > TAIL_LINE_BYTES {
            let mut cut = TAIL_LINE_BYTES;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push('…');
        }
        if let Ok(mut t) = self.0.lock() {
            if t.len() == TAIL_LINES {
                t.pop_front();
            }
            t.push_back(line);
        }
    }

    /// The lines kept, joined, or None when it wrote nothing.
    pub fn text(&self) -> Option<String> {
        let t = self.0.lock().ok()?;
        (!t.is_empty()).then(|| t.iter().cloned().collect::<Vec<_>>().join(" | "))
    }
}

/// Starts the stdio server of `config`. What it writes on stderr is logged (debug) and kept
/// for error messages with its secrets hidden.
pub fn start(config: &McpServerConfig) -> Result<Started, String> {
    let McpTransport::Stdio { command, args, env, cwd } = &config.transport else {
        return Err("not a stdio server".into());
    };
    let mut cmd = Command::new(command);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v.expose())))
        .current_dir(cwd)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    #[cfg(target_os = "linux")]
    {
        // If agno-run is killed outright (SIGKILL, the OOM killer), the kernel kills the server:
        // the one exit path where agno-run cannot stop the group itself. (The signal follows
        // the spawning thread, a runtime worker that lives as long as the runtime.)
        let parent = rustix::process::getpid();
        // SAFETY: the closure runs in the forked child before exec; it makes two system calls
        // (prctl, getppid) and allocates nothing, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                rustix::process::set_parent_process_death_signal(Some(Signal::KILL)).map_err(std::io::Error::from)?;
                if rustix::process::getppid() != Some(parent) {
                    // agno-run is gone already. (No allocation here: `Errno` converts to an
                    // `io::Error` by its raw code.)
                    return Err(rustix::io::Errno::SRCH.into());
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("cannot start `{command}`: not found (is it installed and on PATH?)"),
        _ => format!("cannot start `{command}`: {e}"),
    })?;
    let pgid = child.id().and_then(|p| Pid::from_raw(p as i32));
    let group = Group { pgid };
    let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(format!("cannot start `{command}`: its pipes were not opened"));
    };
    let tail = Tail::default();
    let keep = tail.clone();
    let server = config.id.clone();
    let secrets = config.secrets().to_vec();
    tokio::spawn(async move {
        // Bounded reads: a line longer than this is read in pieces, never held whole.
        let mut reader = BufReader::with_capacity(8 * 1024, stderr);
        let mut buf = Vec::with_capacity(1024);
        loop {
            buf.clear();
            let mut limited = (&mut reader).take(TAIL_LINE_BYTES as u64 * 4);
            match limited.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    // The rest of a longer line is skipped, never shown as lines of its own
                    // (a secret across the cut would show its second half unredacted).
                    let ended = !buf.ends_with(b"\n") && skip_line(&mut reader).await;
                    let line = redact_secrets(&String::from_utf8_lossy(&buf), &secrets);
                    tracing::debug!(mcp_server = %server, line = %line.trim_end(), "MCP server stderr");
                    keep.push(&line);
                    if ended {
                        break;
                    }
                }
            }
        }
    });
    Ok(Started { child, group, stdin, stdout, tail })
}

/// Reads up to the end of the current line, in bounded pieces; true at the end of the stream.
async fn skip_line<R: tokio::io::AsyncBufRead + Unpin>(reader: &mut R) -> bool {
    let mut scratch = Vec::with_capacity(8 * 1024);
    loop {
        scratch.clear();
        match (&mut *reader).take(8 * 1024).read_until(b'\n', &mut scratch).await {
            Ok(0) | Err(_) => return true,
            Ok(_) if scratch.ends_with(b"\n") => return false,
            Ok(_) => {}
        }
    }
}

/// Stops a server: SIGTERM to its group, SIGKILL to the group after [`GRACE`] (or at once
/// when the leader exited, for what it left behind).
pub async fn stop(mut child: Child, group: Group) {
    group.signal(Signal::TERM);
    if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
        tracing::warn!(pid = child.id(), "an MCP server ignored SIGTERM; killing its process group");
    }
    group.signal(Signal::KILL);
    let _ = child.wait().await;
    drop(group);
}
