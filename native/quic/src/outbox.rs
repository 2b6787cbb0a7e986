//! Datagrams produced by one drive(): sent in batches with sendmmsg when we have the socket's fd
//! (Linux), otherwise packed for JavaScript to send with dgram (see pack.rs).

use std::net::SocketAddr;

#[derive(Default)]
pub struct Outbox {
    data: Vec<u8>,
    items: Vec<(SocketAddr, usize, usize)>,
    /// Index of the first datagram not yet sent by send().
    first_unsent: usize,
}

impl Outbox {
    pub fn push(&mut self, to: SocketAddr, payload: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(payload);
        self.items.push((to, start, payload.len()));
    }

    /// Sends what it can on `fd` (non-blocking, as libuv leaves it); returns how many are left for
    /// JavaScript (all of them when fd < 0, or when the socket buffer is full).
    pub fn send(&mut self, fd: i32) -> u32 {
        #[cfg(target_os = "linux")]
        if fd >= 0 {
            self.first_unsent = sendmmsg_all(fd, &self.data, &self.items);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = fd;
        (self.items.len() - self.first_unsent) as u32
    }

    /// The datagrams send() left over, in pack.rs format.
    pub fn packed(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for &(to, start, len) in &self.items[self.first_unsent..] {
            crate::pack::push(&mut out, &to, &self.data[start..start + len]);
        }
        out
    }
}

#[cfg(target_os = "linux")]
fn sendmmsg_all(fd: i32, data: &[u8], items: &[(SocketAddr, usize, usize)]) -> usize {
    const BATCH: usize = 64;
    let mut done = 0;
    while done < items.len() {
        let chunk = &items[done..(done + BATCH).min(items.len())];
        // SAFETY: plain C structs, zero-initialised, filled below and only read by the kernel.
        let mut addrs: Vec<libc::sockaddr_storage> = vec![unsafe { std::mem::zeroed() }; chunk.len()];
        let mut iovs: Vec<libc::iovec> = Vec::with_capacity(chunk.len());
        let mut msgs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; chunk.len()];
        for (i, &(to, start, len)) in chunk.iter().enumerate() {
            iovs.push(libc::iovec { iov_base: data[start..].as_ptr() as *mut libc::c_void, iov_len: len });
            let alen = write_sockaddr(&to, &mut addrs[i]);
            msgs[i].msg_hdr.msg_name = &mut addrs[i] as *mut _ as *mut libc::c_void;
            msgs[i].msg_hdr.msg_namelen = alen;
        }
        for (i, m) in msgs.iter_mut().enumerate() {
            m.msg_hdr.msg_iov = &mut iovs[i] as *mut libc::iovec;
            m.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: msgs, iovs, addrs and data outlive the call; lengths match.
        let n = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), msgs.len() as libc::c_uint, libc::MSG_DONTWAIT) };
        if n <= 0 {
            let err = std::io::Error::last_os_error();
            if n < 0 && err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            if n < 0 && err.kind() != std::io::ErrorKind::WouldBlock {
                // Unreachable peer, bad address...: drop this datagram, QUIC recovers or times out.
                done += 1;
                continue;
            }
            break; // socket buffer full: JS queues the rest through dgram
        }
        done += n as usize;
    }
    done
}

#[cfg(target_os = "linux")]
fn write_sockaddr(to: &SocketAddr, out: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match to {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large enough and suitably aligned for sockaddr_in.
            let sin = unsafe { &mut *(out as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) };
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(out as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr = libc::in6_addr { s6_addr: a.ip().octets() };
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// Datagrams per recvmmsg call.
pub const RX_BATCH: usize = 32;
const RX_SIZE: usize = 1500;

/// Receive buffers for recvmmsg on the socket's fd (Linux; elsewhere recv() returns 0).
pub struct Inbox {
    bufs: Vec<u8>,
    lens: [usize; RX_BATCH],
    #[cfg(target_os = "linux")]
    addrs: Vec<libc::sockaddr_storage>,
}

impl Default for Inbox {
    fn default() -> Self {
        Inbox {
            bufs: vec![0u8; RX_BATCH * RX_SIZE],
            lens: [0; RX_BATCH],
            #[cfg(target_os = "linux")]
            // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
            addrs: vec![unsafe { std::mem::zeroed() }; RX_BATCH],
        }
    }
}

impl Inbox {
    /// Reads up to RX_BATCH datagrams without blocking; returns how many.
    pub fn recv(&mut self, fd: i32) -> usize {
        #[cfg(target_os = "linux")]
        {
            let mut iovs: Vec<libc::iovec> = (0..RX_BATCH)
                .map(|i| libc::iovec { iov_base: self.bufs[i * RX_SIZE..].as_mut_ptr() as *mut libc::c_void, iov_len: RX_SIZE })
                .collect();
            // SAFETY: zeroed mmsghdr is valid; pointers set below stay valid during the call.
            let mut msgs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; RX_BATCH];
            for (i, m) in msgs.iter_mut().enumerate() {
                m.msg_hdr.msg_name = &mut self.addrs[i] as *mut _ as *mut libc::c_void;
                m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                m.msg_hdr.msg_iov = &mut iovs[i] as *mut libc::iovec;
                m.msg_hdr.msg_iovlen = 1;
            }
            // SAFETY: msgs/iovs/addrs/bufs outlive the call; counts match.
            let n = unsafe { libc::recvmmsg(fd, msgs.as_mut_ptr(), RX_BATCH as libc::c_uint, libc::MSG_DONTWAIT, std::ptr::null_mut()) };
            if n <= 0 {
                return 0;
            }
            for i in 0..n as usize {
                // A datagram larger than our buffer is truncated (MSG_TRUNC): QUIC drops it as corrupt.
                self.lens[i] = (msgs[i].msg_len as usize).min(RX_SIZE);
            }
            n as usize
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = fd;
            0
        }
    }

    /// The i-th datagram of the last recv(): its source and payload.
    pub fn get(&mut self, i: usize) -> (Option<SocketAddr>, &mut [u8]) {
        #[cfg(target_os = "linux")]
        let from = read_sockaddr(&self.addrs[i]);
        #[cfg(not(target_os = "linux"))]
        let from = None;
        let len = self.lens[i];
        (from, &mut self.bufs[i * RX_SIZE..i * RX_SIZE + len])
    }
}

#[cfg(target_os = "linux")]
fn read_sockaddr(sa: &libc::sockaddr_storage) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    match sa.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let sin = unsafe { &*(sa as *const _ as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, sockaddr_in6.
            let sin6 = unsafe { &*(sa as *const _ as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(ip, u16::from_be(sin6.sin6_port), sin6.sin6_flowinfo, sin6.sin6_scope_id)))
        }
        _ => None,
    }
}
