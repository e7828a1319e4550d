//! The setup sequence, numbered once. These numbers are the ones the code's comments use (`// 12.`), the
//! ones `--explain` prints (`step 12 [child] …`, its lines `12.1`, `12.2`), the ones in the exchange diagram
//! of `sync.rs` and in the table of docs/architecture.md (a test keeps that table equal to this one).
//!
//! `create`/`run` take steps 1–26; `exec` (a process joining a running container) takes 1, 7, 9, 10 and
//! 17–25 — the same numbers for the same work; 27–30 give everything back, the same way whether `run` ends,
//! a setup fails halfway or `delete` is called.
//!
//! **Fault injection.** Each step begins with [`begin`], which is also where a test makes containy fail on
//! purpose: `CONTAINY_FAULT=N:kill` (the process taking step N dies at once, as with SIGKILL) or `N:error` (step N
//! fails with an error). The parent dying while the child works (steps 9–25) is the parent dying while it waits
//! in `spawn::await_ready`, whatever the child's step: the parent's own steps 8 and 26 cover it.
//! The variable is read once (`crate::fault`, which also has the named points of the image and engine
//! operations); without it `begin` costs a comparison. The fault tests (tests/faults.rs) check
//! that after each of them `delete --force` leaves nothing behind and the same id runs again.

/// `(number, side, what)`, in the order they happen.
pub const SEQUENCE: &[(u32, &str, &str)] = &[
    (1, "parent", "check what can be checked and compile the seccomp filter"),
    (2, "parent", "create the state directory (one atomic mkdir)"),
    (3, "parent", "prepare the root filesystem's host directories"),
    (4, "parent", "create the cgroup and write every limit"),
    (5, "parent", "take the network's host side: lease, /etc files"),
    (6, "parent", "compute the mount plan; open the namespaces to join"),
    (7, "parent", "clone the process (signals blocked first)"),
    (8, "parent", "write the id maps, connect the network, send Go"),
    (9, "child", "enter the cgroup, become root of the user namespace, setsid"),
    (10, "child", "join namespaces by path; create the cgroup and time namespaces"),
    (11, "child", "set the hostname and domain name; bring lo up"),
    (12, "child", "mount the root filesystem and everything under it"),
    (13, "both", "run the create hooks (prestart, createRuntime, createContainer)"),
    (14, "child", "pivot_root into the new root"),
    (15, "child", "write the sysctls"),
    (16, "child", "mask and make read-only the kernel's paths"),
    (17, "child", "set personality, OOM score and rlimits"),
    (18, "child", "enter the working directory"),
    (19, "child", "open the terminal"),
    (20, "child", "find the program"),
    (21, "child", "set LSM labels and drop the bounding set (before any filter)"),
    (22, "child", "close inherited file descriptors"),
    (23, "child", "become the user: ids, capabilities, no_new_privs (seccomp first without no_new_privs)"),
    (24, "child", "report Ready; wait for start; run the startContainer hooks"),
    (25, "child", "execve the program (seccomp just before, with no_new_privs)"),
    (26, "parent", "record the state and supervise until the end"),
    (27, "parent", "stop every process left in the cgroup"),
    (28, "parent", "remove the cgroup"),
    (29, "parent", "release the network: nf_tables table, veth, lease"),
    (30, "parent", "remove the state directory; run the poststop hooks"),
];

/// A failure injected on purpose at a step (`CONTAINY_FAULT=N:error`).
#[derive(Debug, thiserror::Error)]
#[error("fault injected at step {0} (CONTAINY_FAULT)")]
pub struct Fault(pub u32);

/// Start step `n`: `--explain` prints its heading, and an injected fault for this step strikes.
pub fn begin(n: u32) -> Result<(), Fault> {
    if crate::narrate::enabled()
        && let Some((_, side, what)) = SEQUENCE.iter().find(|(number, _, _)| *number == n)
    {
        crate::narrate::begin(n, side, what);
    }
    match crate::fault::strike_step(n) {
        Some(_) => Err(Fault(n)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::SEQUENCE;

    #[test]
    fn the_sequence_is_numbered_in_order() {
        for (i, (n, _, _)) in SEQUENCE.iter().enumerate() {
            assert_eq!(*n as usize, i + 1);
        }
    }

    #[test]
    fn docs_architecture_shows_the_same_sequence() {
        let doc = include_str!("../../docs/architecture.md");
        for (n, side, what) in SEQUENCE {
            let row = format!("| {n} | {side} | {what} |");
            assert!(
                doc.contains(&row),
                "docs/architecture.md lacks the row {row:?}: keep it equal to runtime/steps.rs"
            );
        }
    }
}
