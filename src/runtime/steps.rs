//! The setup sequence, numbered once. These numbers are the ones the code's comments use (`// 12.`), the
//! ones `--explain` prints (`step 12 [child] …`, its lines `12.1`, `12.2`), the ones in the exchange diagram
//! of `sync.rs` and in the table of docs/architecture.md (a test keeps that table equal to this one).
//!
//! `create`/`run` take every step; `exec` (a process joining a running container) takes 1, 7, 9, 10 and
//! 17–25 — the same numbers for the same work.

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
    (21, "child", "drop privileges: LSM labels, bounding set, ids, capabilities, no_new_privs"),
    (22, "child", "close inherited file descriptors"),
    (23, "child", "load the seccomp filter"),
    (24, "child", "report Ready; wait for start; run the startContainer hooks"),
    (25, "child", "execve the program"),
    (26, "parent", "record the state and supervise until the end"),
];

/// Start step `n`: `--explain` prints its heading.
pub fn begin(n: u32) {
    if crate::narrate::enabled()
        && let Some((_, side, what)) = SEQUENCE.iter().find(|(number, _, _)| *number == n)
    {
        crate::narrate::begin(n, side, what);
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
