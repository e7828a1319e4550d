//! Netlink, the socket family the kernel configures networking through (`man 7 netlink`, `man 7 rtnetlink`).
//!
//! A request is a `struct nlmsghdr` (length, type, flags, sequence number, port id), a fixed family header
//! (`struct ifinfomsg`, `ifaddrmsg`, `rtmsg`, `nfgenmsg`), then attributes: type-length-value records padded to
//! four bytes, some nested (an attribute whose value is more attributes). Every request here asks for an
//! acknowledgement (`NLM_F_ACK`): the kernel answers each with an `NLMSG_ERROR` carrying 0 or a negative errno,
//! so a failure is reported for the exact message that caused it. `ip` and `nft` speak exactly this; writing the
//! bytes ourselves keeps the run path free of processes and of an async runtime (the rust-netlink crates' sync
//! socket would do too, but the dozen message kinds containy sends fit in this one small file).
//!
//! The socket belongs to the network namespace of the thread that *created* it, for its whole life: that is how
//! containy configures a container's interfaces from the host (see `mod.rs`).

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, send, socket,
};

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// Marks an attribute whose value is more attributes; nf_tables insists on it, rtnetlink ignores it.
const NLA_F_NESTED: u16 = 0x8000;
const HEADER_LEN: usize = 16;

/// One netlink message under construction: header, family header, attributes.
#[derive(Debug, Clone)]
pub struct Message {
    buf: Vec<u8>,
    nested_flag: bool,
}

impl Message {
    /// `kind` is the message type (`RTM_NEWLINK`, `(NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE`, …);
    /// `NLM_F_REQUEST | NLM_F_ACK` are always added.
    pub fn new(kind: u16, flags: u16) -> Message {
        let mut buf = vec![0u8; HEADER_LEN];
        buf[4..6].copy_from_slice(&kind.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        Message { buf, nested_flag: false }
    }

    /// nf_tables' batch begin and end messages are not acknowledged.
    pub fn without_ack(mut self) -> Message {
        let flags = u16::from_ne_bytes([self.buf[6], self.buf[7]]) & !NLM_F_ACK;
        self.buf[6..8].copy_from_slice(&flags.to_ne_bytes());
        self
    }

    /// nf_tables wants `NLA_F_NESTED` on nested attributes (as libmnl sets it).
    pub fn with_nested_flag(mut self) -> Message {
        self.nested_flag = true;
        self
    }

    #[cfg(test)]
    pub fn kind(&self) -> u16 {
        u16::from_ne_bytes([self.buf[4], self.buf[5]])
    }

    /// Append raw bytes (a family header), padded to 4.
    pub fn push(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self.pad();
        self
    }

    fn pad(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }

    pub fn attr(&mut self, kind: u16, value: &[u8]) -> &mut Self {
        let len = (4 + value.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.pad();
        self
    }

    /// A NUL-terminated string attribute (interface, table and chain names).
    pub fn attr_str(&mut self, kind: u16, value: &str) -> &mut Self {
        let mut bytes = value.as_bytes().to_vec();
        bytes.push(0);
        self.attr(kind, &bytes)
    }

    pub fn attr_u32(&mut self, kind: u16, value: u32) -> &mut Self {
        self.attr(kind, &value.to_ne_bytes())
    }

    /// nf_tables numbers travel in network byte order.
    pub fn attr_be32(&mut self, kind: u16, value: u32) -> &mut Self {
        self.attr(kind, &value.to_be_bytes())
    }

    /// Open a nested attribute; `end_nested` with the returned position closes it.
    pub fn begin_nested(&mut self, kind: u16) -> usize {
        let start = self.buf.len();
        let kind = if self.nested_flag { kind | NLA_F_NESTED } else { kind };
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        start
    }

    pub fn end_nested(&mut self, start: usize) -> &mut Self {
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    /// The finished bytes, with length and sequence number filled in.
    fn finish(&self, seq: u32) -> Vec<u8> {
        let mut buf = self.buf.clone();
        let len = buf.len() as u32;
        buf[0..4].copy_from_slice(&len.to_ne_bytes());
        buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        buf
    }

    #[cfg(test)]
    pub fn bytes(&self) -> Vec<u8> {
        self.finish(1)
    }
}

/// A netlink socket of one protocol (`NETLINK_ROUTE`, `NETLINK_NETFILTER`), bound in the network namespace
/// the calling thread is in.
pub struct Socket {
    fd: OwnedFd,
    seq: u32,
}

/// A reply message: everything after the netlink header.
pub struct Reply {
    pub payload: Vec<u8>,
}

impl Socket {
    pub fn open(protocol: SockProtocol) -> Result<Socket, Errno> {
        let fd = socket(AddressFamily::Netlink, SockType::Raw, SockFlag::SOCK_CLOEXEC, protocol)?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        Ok(Socket { fd, seq: 1 })
    }

    /// Send one request and wait for its acknowledgement; any reply data before it is returned.
    pub fn request(&mut self, msg: &Message) -> Result<Vec<Reply>, Errno> {
        self.batch(std::slice::from_ref(msg), &[])
    }

    /// Send `messages` in one `send` (with `framing`'s first message before and second after them, if
    /// given: nf_tables' batch begin/end, which are not acknowledged), then collect every acknowledgement.
    /// The first error the kernel reports is returned; nf_tables then applies none of the batch.
    pub fn batch(&mut self, messages: &[Message], framing: &[Message]) -> Result<Vec<Reply>, Errno> {
        let mut bytes = Vec::new();
        let mut waiting = Vec::new();
        let first = self.seq;
        if let Some(begin) = framing.first() {
            bytes.extend(begin.finish(first));
        }
        for (i, msg) in messages.iter().enumerate() {
            let seq = first + 1 + i as u32;
            bytes.extend(msg.finish(seq));
            waiting.push(seq);
        }
        if let Some(end) = framing.get(1) {
            bytes.extend(end.finish(first + 1 + messages.len() as u32));
        }
        self.seq = first + 2 + messages.len() as u32;
        send(self.fd.as_raw_fd(), &bytes, MsgFlags::empty())?;

        let mut replies = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while !waiting.is_empty() {
            let n = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty())?;
            let mut at = 0;
            while at + HEADER_LEN <= n {
                let len = u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]) as usize;
                if len < HEADER_LEN || at + len > n {
                    return Err(Errno::EBADMSG);
                }
                let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
                let seq = u32::from_ne_bytes([buf[at + 8], buf[at + 9], buf[at + 10], buf[at + 11]]);
                let payload = &buf[at + HEADER_LEN..at + len];
                match kind {
                    NLMSG_ERROR => {
                        let code =
                            payload.get(..4).map_or(-libc::EBADMSG, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                        if code != 0 {
                            return Err(Errno::from_raw(-code));
                        }
                        waiting.retain(|s| *s != seq);
                    }
                    NLMSG_DONE => {}
                    _ => replies.push(Reply { payload: payload.to_vec() }),
                }
                at += (len + 3) & !3;
            }
        }
        Ok(replies)
    }
}

/// Walk the attributes in `bytes` (after a family header), yielding (type without flags, value).
pub fn attributes(bytes: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= bytes.len() {
        let len = u16::from_ne_bytes([bytes[at], bytes[at + 1]]) as usize;
        let kind = u16::from_ne_bytes([bytes[at + 2], bytes[at + 3]]) & !NLA_F_NESTED;
        if len < 4 || at + len > bytes.len() {
            break;
        }
        out.push((kind, &bytes[at + 4..at + len]));
        at += (len + 3) & !3;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_nested_lengths_filled_in() {
        let mut msg = Message::new(16, NLM_F_CREATE);
        msg.push(&[0u8; 16]);
        msg.attr_str(3, "br0");
        let nest = msg.begin_nested(18);
        msg.attr_str(1, "bridge");
        msg.end_nested(nest);
        let bytes = msg.bytes();
        assert_eq!(u32::from_ne_bytes(bytes[0..4].try_into().unwrap()) as usize, bytes.len());
        assert_eq!(bytes.len() % 4, 0);
        let flags = u16::from_ne_bytes([bytes[6], bytes[7]]);
        assert_eq!(flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE);
        let attrs = attributes(&bytes[HEADER_LEN + 16..]);
        assert_eq!(attrs[0], (3, &b"br0\0"[..]));
        assert_eq!(attrs[1].0, 18);
        assert_eq!(attributes(attrs[1].1), vec![(1, &b"bridge\0"[..])]);
    }

    #[test]
    fn nf_tables_nests_carry_the_flag() {
        let mut msg = Message::new(0x0a00, 0).with_nested_flag();
        let nest = msg.begin_nested(4);
        msg.end_nested(nest);
        let bytes = msg.bytes();
        assert_eq!(u16::from_ne_bytes([bytes[18], bytes[19]]), 4 | NLA_F_NESTED);
    }
}
