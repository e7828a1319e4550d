//! The parent ↔ child exchange, over one `socketpair(AF_UNIX, SOCK_SEQPACKET)`.
//!
//! SEQPACKET keeps message boundaries, so one `recv` is one message. Both ends are `O_CLOEXEC`: when the
//! child's `execve` succeeds its end closes by itself, and the parent reads end-of-file — that *is* the
//! "the container's program is running" signal, with no extra message and no race.
//!
//! ```text
//!  parent                                         child           (step numbers: runtime/steps.rs)
//!  1-6 checks, state dir, cgroup, network, mount plan
//!  7 clone3(CLONE_NEW*) ─────────────────────────▶ (blocks in recv)
//!  8 write uid_map/gid_map, connect the network
//!  (send State(json) ───────────────────────────▶ only with createContainer/startContainer hooks)
//!  send Go ──────────────────────────────────────▶ 9 cgroup (v1), user-ns root, setsid
//!                                                  10 setns, cgroup/time ns  11 hostname, lo up
//!                                                  12 mounts before pivot_root
//!            ◀──────────────────────────────────── 13 Hooks (only with prestart/createRuntime hooks)
//!  13 (run them; send Go) ───────────────────────▶ 13 (createContainer hooks)
//!                                                  14 pivot_root  15 sysctls  16 masks  17 rlimits  18 cwd
//!            ◀──────────────────────────────────── 19 Pty + SCM_RIGHTS(master)   (with a terminal)
//!                                                  20 find the program  21 LSM, bounding set  22 fds  23 ids, caps
//!            ◀──────────────────────────────────── 24 Ready            (or Error(text), then exit)
//!  26 state.json: created / running                24 (startContainer hooks)  25 seccomp (NNP), execve
//!            ◀──────────────────────────────────── EOF: execve succeeded
//!            ◀──────────────────────────────────── Exec(code, text): execve failed
//! ```
//!
//! `exec` speaks the same exchange (`spawn.rs`): its middle process sends `Pid` (the host pid of the process it
//! forked inside the container's PID namespace), the process itself `Ready`. The two write to one socket
//! unordered, so the parent waits for both (`spawn::Speakers`).

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recv, recvmsg, sendmsg};

#[derive(Debug)]
pub enum Message {
    /// parent → child: ids mapped and cgroup joined; go on. Also the answer to [`Message::Hooks`].
    Go,
    /// parent → child, before `Go`: the state JSON the child's own hooks (createContainer,
    /// startContainer) read; sent only when there are such hooks.
    State(String),
    /// child → parent: mounts are made, `pivot_root` is next: run the prestart/createRuntime hooks now.
    Hooks,
    /// child → parent: the master side of the terminal the child made in its own devpts, passed as an
    /// fd with `SCM_RIGHTS` (a pty from the host's devpts would not be a terminal inside the container).
    Pty(OwnedFd),
    /// exec's middle process → parent: the host pid of the process it started in the container.
    Pid(i32),
    /// child → parent: everything is set up; about to `execve`.
    Ready,
    /// child → parent: setup failed; the text says where and why.
    Error(String),
    /// child → parent: `execve` failed; the exit code to use (126/127) and why.
    Exec(u8, String),
}

impl Message {
    fn encode(&self) -> Vec<u8> {
        match self {
            Message::Go => b"G".to_vec(),
            Message::Hooks => b"H".to_vec(),
            Message::State(json) => [b"S".as_slice(), json.as_bytes()].concat(),
            Message::Ready => b"R".to_vec(),
            Message::Pty(_) => b"P".to_vec(),
            Message::Pid(pid) => [b"I".as_slice(), &pid.to_le_bytes()].concat(),
            Message::Error(text) => [b"E".as_slice(), text.as_bytes()].concat(),
            Message::Exec(code, text) => [b"X".as_slice(), &[*code], text.as_bytes()].concat(),
        }
    }

    fn decode(bytes: &[u8], fd: Option<OwnedFd>) -> Option<Message> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match bytes.split_first()? {
            (b'G', _) => Some(Message::Go),
            (b'H', _) => Some(Message::Hooks),
            (b'S', rest) => Some(Message::State(text(rest))),
            (b'R', _) => Some(Message::Ready),
            (b'P', _) => fd.map(Message::Pty),
            (b'I', rest) => Some(Message::Pid(i32::from_le_bytes(rest.try_into().ok()?))),
            (b'E', rest) => Some(Message::Error(text(rest))),
            (b'X', rest) => {
                let (code, msg) = rest.split_first()?;
                Some(Message::Exec(*code, text(msg)))
            }
            _ => None,
        }
    }
}

pub fn send_message(fd: &OwnedFd, msg: &Message) -> nix::Result<()> {
    let bytes = msg.encode();
    let iov = [IoSlice::new(&bytes)];
    let passed;
    let cmsgs: &[ControlMessage] = match msg {
        Message::Pty(pty) => {
            passed = [pty.as_raw_fd()];
            &[ControlMessage::ScmRights(&passed)]
        }
        _ => &[],
    };
    sendmsg::<()>(fd.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None).map(|_| ())
}

/// The next message, or `None` at end of file (the other side closed its end).
///
/// A peek with `MSG_TRUNC` says how long the message is, so the buffer is its size: nearly every message is
/// one to a few bytes, and a fixed 64 KiB buffer was 16 pages zeroed per message (in the child, copies of
/// the parent's pages too). The peek passes no control buffer, so a passed fd is received only once, below.
pub fn recv_message(fd: &OwnedFd) -> nix::Result<Option<Message>> {
    let len = loop {
        match recv(fd.as_raw_fd(), &mut [], MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other?,
        }
    };
    let mut buf = vec![0u8; len.max(1)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    loop {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = match recvmsg::<()>(fd.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
            Ok(msg) => msg,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e),
        };
        let mut passed = None;
        for cmsg in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                for raw in fds {
                    passed = Some(crate::sys::adopt_received_fd(raw));
                }
            }
        }
        let n = msg.bytes;
        if n == 0 {
            return Ok(None);
        }
        return Ok(Message::decode(&buf[..n], passed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        for m in [
            Message::Go,
            Message::Hooks,
            Message::State("{\"id\":\"c\"}".into()),
            Message::Ready,
            Message::Pid(4242),
            Message::Error("mount proc: EPERM".into()),
            Message::Exec(127, "exec \"x\": executable file not found in $PATH".into()),
        ] {
            let back = Message::decode(&m.encode(), None).unwrap();
            assert_eq!(format!("{back:?}"), format!("{m:?}"));
        }
        assert!(Message::decode(b"", None).is_none());
        assert!(Message::decode(b"P", None).is_none(), "a Pty message needs its fd");
    }

    /// Over a real socket: a one-byte message, one far larger than any fixed buffer, a passed fd (received
    /// once: the length peek must not install it too), then end of file.
    #[test]
    fn messages_of_any_size_and_a_passed_fd_arrive_whole() {
        use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
        let (a, b) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).unwrap();
        let big = "x".repeat(100 * 1024);
        let passed = tempfile::NamedTempFile::new().unwrap().into_temp_path();
        // Counted by what they point at: other tests' threads open and close fds meanwhile.
        let open_on_passed = || {
            std::fs::read_dir("/proc/self/fd")
                .unwrap()
                .flatten()
                .filter(|e| std::fs::read_link(e.path()).is_ok_and(|p| p == *passed))
                .count()
        };
        send_message(&a, &Message::Go).unwrap();
        send_message(&a, &Message::State(big.clone())).unwrap();
        send_message(&a, &Message::Pty(std::fs::File::open(&passed).unwrap().into())).unwrap();
        drop(a);
        assert!(matches!(recv_message(&b), Ok(Some(Message::Go))));
        assert!(matches!(recv_message(&b), Ok(Some(Message::State(s))) if s == big));
        let pty = recv_message(&b);
        assert!(matches!(pty, Ok(Some(Message::Pty(_)))));
        assert_eq!(open_on_passed(), 1, "the fd arrived once");
        drop(pty);
        assert!(matches!(recv_message(&b), Ok(None)));
    }
}
