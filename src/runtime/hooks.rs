//! OCI hooks: programs the runtime runs at fixed points of a container's life, each handed the container's
//! state JSON on stdin — how engines attach networking, GPUs or logging without patching the runtime.
//!
//! Where each runs is the point of the design, because it decides what the hook can see:
//!
//! | hook              | when                                          | who runs it, in which namespaces       |
//! |-------------------|-----------------------------------------------|----------------------------------------|
//! | `prestart`, `createRuntime` | mounts made, before `pivot_root`    | the parent, in the runtime's namespaces |
//! | `createContainer` | right after, still before `pivot_root`        | the child, in the container's namespaces (path resolved on the host) |
//! | `startContainer`  | after `start`, just before `execve`           | the child, as the container's user, inside its root |
//! | `poststart`       | after the program was started                 | `start` (or `run`), on the host          |
//! | `poststop`        | after the container was deleted               | `delete` (or `run`), on the host         |
//!
//! A failing hook before the program runs fails the container (it is torn down and the `poststop` hooks
//! still run); a failing `poststart` or `poststop` hook is only a warning, as the spec says. A hook runs
//! with exactly its own `env`, its stdout and stderr are collected for the error message, and a `timeout`
//! kills it. Waiting uses a pidfd in `poll(2)`, together with the output pipe: no thread, no busy loop.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::plan::Hook;

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{kind} hook {}: cannot start it", path.display())]
    Spawn {
        kind: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{kind} hook {} failed ({status}){output}", path.display())]
    Failed { kind: &'static str, path: PathBuf, status: String, output: String },
    #[error("{kind} hook {} timed out after {secs} s and was killed{output}", path.display())]
    Timeout { kind: &'static str, path: PathBuf, secs: u32, output: String },
    #[error("{kind} hook {}: {op}", path.display())]
    Wait { kind: &'static str, path: PathBuf, op: &'static str, source: std::io::Error },
}

/// Keep this much of a hook's output for the error message: the start usually says what went wrong.
const OUTPUT_LIMIT: usize = 4096;

/// Run `hooks` in order, each with `state` on stdin; the first failure stops the list.
pub fn run(kind: &'static str, hooks: &[Hook], state: &serde_json::Value) -> Result<(), HookError> {
    let input = state.to_string();
    for hook in hooks {
        crate::explain!(
            format!("run the {kind} hook {}", hook.path.display()),
            format!("fork + execve({}), state JSON on its stdin", hook.path.display()),
            "OCI hooks let an engine act at a fixed point of the container's life"
        );
        run_one(kind, hook, input.as_bytes())?;
    }
    Ok(())
}

/// Run `hooks` and report a failure as a warning: what the spec asks for `poststart` and `poststop`.
pub fn run_warning_only(kind: &'static str, hooks: &[Hook], state: &serde_json::Value) {
    if let Err(e) = run(kind, hooks, state) {
        eprintln!("containy: warning: {}", crate::error::chain(&e));
    }
}

fn run_one(kind: &'static str, hook: &Hook, input: &[u8]) -> Result<(), HookError> {
    let path = || hook.path.clone();
    let wait_err = |op: &'static str| move |source: std::io::Error| HookError::Wait { kind, path: path(), op, source };
    let (out_read, out_write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).map_err(|e| wait_err("pipe2")(e.into()))?;
    // The hook's ends must block like any ordinary stdout; only our read end polls.
    nix::fcntl::fcntl(&out_write, nix::fcntl::FcntlArg::F_SETFL(OFlag::empty()))
        .map_err(|e| wait_err("fcntl")(e.into()))?;
    let mut command = Command::new(&hook.path);
    if let Some((argv0, rest)) = hook.args.split_first() {
        command.arg0(argv0).args(rest);
    }
    command.env_clear().envs(hook.env.iter().filter_map(|var| var.split_once('=')));
    let err_write = out_write.try_clone().map_err(wait_err("dup"))?;
    command.stdin(Stdio::piped()).stdout(Stdio::from(out_write)).stderr(Stdio::from(err_write));
    let mut child = command.spawn().map_err(|source| HookError::Spawn { kind, path: hook.path.clone(), source })?;
    // The Command still holds our copies of the write ends; the pipe reports EOF only once they are gone.
    drop(command);
    if let Some(mut stdin) = child.stdin.take() {
        // A hook need not read its input: a closed pipe (EPIPE) is not its failure.
        let _ = stdin.write_all(input);
    }
    let pidfd =
        crate::sys::pidfd_open(nix::unistd::Pid::from_raw(child.id() as i32)).map_err(wait_err("pidfd_open"))?;

    let deadline = hook.timeout.map(|secs| Instant::now() + Duration::from_secs(secs.into()));
    let mut output = Vec::new();
    let mut pipe = std::fs::File::from(out_read);
    // Once the hook closed its output (a hook may redirect it and go on), only its exit is waited for.
    let mut pipe_open = true;
    loop {
        let timeout = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    let _ = child.kill();
                    let _ = child.wait();
                    drain(&mut pipe, &mut output);
                    let secs = hook.timeout.unwrap_or_default();
                    return Err(HookError::Timeout { kind, path: path(), secs, output: shown(&output) });
                }
                PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX)
            }
            None => PollTimeout::NONE,
        };
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN), PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
        let watched = if pipe_open { &mut fds[..] } else { &mut fds[..1] };
        match poll(watched, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(wait_err("poll")(e.into())),
        }
        let exited = fds[0].any().unwrap_or(false);
        if pipe_open {
            pipe_open = drain(&mut pipe, &mut output);
        }
        if exited {
            break;
        }
    }
    let status = child.wait().map_err(wait_err("waitpid"))?;
    if status.success() {
        Ok(())
    } else {
        Err(HookError::Failed { kind, path: path(), status: status.to_string(), output: shown(&output) })
    }
}

/// Read what the pipe holds now (it is non-blocking), keeping at most [`OUTPUT_LIMIT`] bytes. `false` once
/// every writer has closed it.
fn drain(pipe: &mut std::fs::File, output: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => {
                let room = OUTPUT_LIMIT.saturating_sub(output.len());
                output.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}

fn shown(output: &[u8]) -> String {
    let text = String::from_utf8_lossy(output);
    let text = text.trim();
    if text.is_empty() { String::new() } else { format!(": {text}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(script: &str, timeout: Option<u32>) -> Hook {
        Hook {
            path: "/bin/sh".into(),
            args: vec!["sh".into(), "-c".into(), script.into()],
            env: vec!["GREETING=hello".into()],
            timeout,
        }
    }

    #[test]
    fn a_hook_reads_the_state_and_sees_only_its_env() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!("cat > {}; echo \"$GREETING ${{HOME:-nohome}}\" >> {}", out.display(), out.display());
        run("createRuntime", &[hook(&script, None)], &serde_json::json!({"id": "c1"})).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "{\"id\":\"c1\"}hello nohome\n");
    }

    #[test]
    fn a_failing_hook_names_itself_its_status_and_its_output() {
        let err = run("prestart", &[hook("echo broken >&2; exit 3", None)], &serde_json::json!({})).unwrap_err();
        assert_eq!(err.to_string(), "prestart hook /bin/sh failed (exit status: 3): broken");
    }

    #[test]
    fn the_first_failure_stops_the_list() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let hooks = [hook("exit 1", None), hook(&format!("touch {}", marker.display()), None)];
        assert!(run("poststart", &hooks, &serde_json::json!({})).is_err());
        assert!(!marker.exists());
    }

    #[test]
    fn a_slow_hook_is_killed_at_its_timeout() {
        let started = Instant::now();
        let err = run("createContainer", &[hook("echo waiting; exec sleep 30", Some(1))], &serde_json::json!({}))
            .unwrap_err();
        assert!(matches!(err, HookError::Timeout { secs: 1, .. }), "{err}");
        assert!(err.to_string().ends_with(": waiting"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_hook_that_closes_its_output_is_waited_for_without_spinning() {
        // CPU time of this test's own thread, user and system: a poll loop on a closed pipe would burn it.
        let cpu_us = || {
            let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_THREAD).unwrap();
            let us = |t: nix::sys::time::TimeVal| t.tv_sec() * 1_000_000 + t.tv_usec();
            us(usage.user_time()) + us(usage.system_time())
        };
        let started = Instant::now();
        let before = cpu_us();
        run("poststart", &[hook("exec >/dev/null 2>&1; sleep 0.5; exit 0", None)], &serde_json::json!({})).unwrap();
        let after = cpu_us();
        assert!(started.elapsed() >= Duration::from_millis(450));
        assert!(after - before < 200_000, "spent {} µs of CPU waiting", after - before);
    }

    #[test]
    fn a_missing_hook_is_a_spawn_error() {
        let missing = Hook { path: "/nonexistent/hook".into(), args: vec![], env: vec![], timeout: None };
        let err = run("poststop", &[missing], &serde_json::json!({})).unwrap_err();
        assert!(err.to_string().starts_with("poststop hook /nonexistent/hook: cannot start it"), "{err}");
    }
}
