//! h3load: HTTP/3 load over quiche.
//!
//!   h3load load HOST PORT PATH CONCURRENT TOTAL   one connection, CONCURRENT streams in flight, TOTAL requests
//!   h3load idle HOST PORT CONNECTIONS HOLD_SECS     opens CONNECTIONS (one request each), keeps them idle
//!
//! Prints one JSON line. The certificate is not verified (benchmarks against a local CA).

use quiche::h3::NameValue;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

const MAX_DATAGRAM: usize = 1350;

struct Client {
    sock: UdpSocket,
    conn: quiche::Connection,
    h3: Option<quiche::h3::Connection>,
    local: SocketAddr,
    peer: SocketAddr,
}

fn config() -> quiche::Config {
    let mut c = quiche::Config::new(quiche::PROTOCOL_VERSION).unwrap();
    c.verify_peer(false);
    c.set_application_protos(quiche::h3::APPLICATION_PROTOCOL).unwrap();
    c.set_max_idle_timeout(60_000);
    c.set_max_recv_udp_payload_size(MAX_DATAGRAM);
    c.set_max_send_udp_payload_size(MAX_DATAGRAM);
    c.set_initial_max_data(64 << 20);
    c.set_initial_max_stream_data_bidi_local(1 << 20);
    c.set_initial_max_stream_data_bidi_remote(1 << 20);
    c.set_initial_max_stream_data_uni(1 << 20);
    c.set_initial_max_streams_bidi(1000);
    c.set_initial_max_streams_uni(100);
    c.set_disable_active_migration(true);
    c
}

fn rand_cid() -> quiche::ConnectionId<'static> {
    let mut b = [0u8; quiche::MAX_CONN_ID_LEN];
    let t = Instant::now().elapsed().as_nanos() as u64 ^ (std::process::id() as u64) << 32;
    let mut x = t ^ 0x9e37_79b9_7f4a_7c15 ^ (&b as *const _ as u64);
    for v in b.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *v = x as u8;
    }
    quiche::ConnectionId::from_vec(b.to_vec())
}

impl Client {
    fn connect(peer: SocketAddr, cfg: &mut quiche::Config) -> Client {
        let sock = UdpSocket::bind(if peer.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }).unwrap();
        sock.connect(peer).unwrap();
        let local = sock.local_addr().unwrap();
        sock.set_nonblocking(true).unwrap();
        let conn = quiche::connect(Some("localhost"), &rand_cid(), local, peer, cfg).unwrap();
        Client { sock, conn, h3: None, local, peer }
    }

    /// Sends everything quiche has, in batches of up to 64 datagrams per sendmmsg (connected socket).
    fn flush(&mut self) {
        const BATCH: usize = 64;
        let mut out = vec![0u8; MAX_DATAGRAM * BATCH];
        loop {
            let mut lens = [0usize; BATCH];
            let mut n = 0;
            let mut done = false;
            while n < BATCH {
                match self.conn.send(&mut out[n * MAX_DATAGRAM..(n + 1) * MAX_DATAGRAM]) {
                    Ok((len, _)) => {
                        lens[n] = len;
                        n += 1;
                    }
                    Err(quiche::Error::Done) => {
                        done = true;
                        break;
                    }
                    Err(e) => panic!("send: {e:?}"),
                }
            }
            if n > 0 {
                let mut iovs: Vec<libc::iovec> = (0..n)
                    .map(|i| libc::iovec { iov_base: out[i * MAX_DATAGRAM..].as_mut_ptr() as *mut libc::c_void, iov_len: lens[i] })
                    .collect();
                // SAFETY: zeroed mmsghdr is valid; iovs outlive the call.
                let mut msgs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; n];
                for (i, m) in msgs.iter_mut().enumerate() {
                    m.msg_hdr.msg_iov = &mut iovs[i] as *mut libc::iovec;
                    m.msg_hdr.msg_iovlen = 1;
                }
                let mut sent = 0;
                while sent < n {
                    // SAFETY: as above.
                    let r = unsafe { libc::sendmmsg(self.sock.as_raw_fd(), msgs[sent..].as_mut_ptr(), (n - sent) as u32, 0) };
                    if r <= 0 {
                        break; // full buffer: QUIC recovers the loss
                    }
                    sent += r as usize;
                }
            }
            if done {
                break;
            }
        }
    }

    /// Waits (poll(2)) for datagrams or the quiche timer once, then feeds in every queued datagram.
    fn pump(&mut self) {
        let mut buf = [0u8; 65535];
        let timeout = self.conn.timeout().unwrap_or(Duration::from_millis(100));
        let mut pfd = libc::pollfd { fd: self.sock.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis().min(1000) as i32) };
        if ready <= 0 {
            if self.conn.timeout().is_some_and(|t| t.is_zero()) || ready == 0 {
                self.conn.on_timeout();
            }
            return;
        }
        while let Ok((n, from)) = self.sock.recv_from(&mut buf) {
            let _ = self.conn.recv(&mut buf[..n], quiche::RecvInfo { from, to: self.local });
        }
        let _ = self.peer;
    }

    fn handshake(&mut self) -> Duration {
        let start = Instant::now();
        self.flush();
        while !self.conn.is_established() {
            if self.conn.is_closed() {
                panic!("connection closed during the handshake: {:?}", self.conn.peer_error());
            }
            self.pump();
            self.flush();
        }
        let h3cfg = quiche::h3::Config::new().unwrap();
        self.h3 = Some(quiche::h3::Connection::with_transport(&mut self.conn, &h3cfg).unwrap());
        self.flush();
        start.elapsed()
    }

    fn request(&mut self, authority: &str, path: &str) -> Option<u64> {
        let req = [
            quiche::h3::Header::new(b":method", b"GET"),
            quiche::h3::Header::new(b":scheme", b"https"),
            quiche::h3::Header::new(b":authority", authority.as_bytes()),
            quiche::h3::Header::new(b":path", path.as_bytes()),
            quiche::h3::Header::new(b"user-agent", b"h3load"),
        ];
        self.h3.as_mut().unwrap().send_request(&mut self.conn, &req, true).ok()
    }

    /// Handles h3 events; returns (completed streams, 2xx count).
    fn poll(&mut self, done: &mut u64, ok: &mut u64) {
        let mut buf = [0u8; 65535];
        let h3 = self.h3.as_mut().unwrap();
        loop {
            match h3.poll(&mut self.conn) {
                Ok((_, quiche::h3::Event::Headers { list, .. })) => {
                    for h in &list {
                        if h.name() == b":status" && h.value().starts_with(b"2") {
                            *ok += 1;
                        }
                    }
                }
                Ok((sid, quiche::h3::Event::Data)) => while h3.recv_body(&mut self.conn, sid, &mut buf).is_ok() {},
                Ok((_, quiche::h3::Event::Finished)) => *done += 1,
                Ok((_, quiche::h3::Event::Reset(_))) => *done += 1,
                Ok(_) => {}
                Err(quiche::h3::Error::Done) => break,
                Err(e) => panic!("h3: {e:?}"),
            }
        }
    }
}

/// user + system CPU seconds of this process (is the load generator itself the bottleneck?).
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the zeroed struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("");
    let peer = format!("{}:{}", args[2], args[3]).to_socket_addrs().unwrap().next().unwrap();
    let mut cfg = config();
    match mode {
        "load" => {
            let path = &args[4];
            let concurrent: u64 = args[5].parse().unwrap();
            let total: u64 = args[6].parse().unwrap();
            let mut c = Client::connect(peer, &mut cfg);
            let hs = c.handshake();
            let start = Instant::now();
            let (mut sent, mut done, mut ok) = (0u64, 0u64, 0u64);
            while done < total {
                while sent < total && sent - done < concurrent {
                    if c.request("localhost", path).is_none() {
                        break; // stream limit or flow control: wait for completions
                    }
                    sent += 1;
                }
                c.flush();
                c.pump();
                c.poll(&mut done, &mut ok);
                if c.conn.is_closed() {
                    eprintln!("connection closed: {:?}", c.conn.peer_error());
                    break;
                }
            }
            let secs = start.elapsed().as_secs_f64();
            if std::env::var("H3LOAD_STATS").is_ok() {
                let st = c.conn.stats();
                let ps = c.conn.path_stats().next();
                eprintln!(
                    "stats: sent {} recv {} lost {} retrans {} rtt {:?} cwnd {:?}",
                    st.sent,
                    st.recv,
                    st.lost,
                    st.retrans,
                    ps.as_ref().map(|p| p.rtt),
                    ps.as_ref().map(|p| p.cwnd)
                );
            }
            println!(
                "{{\"requests\":{done},\"ok\":{ok},\"seconds\":{secs:.4},\"rps\":{:.1},\"handshake_ms\":{:.3},\"client_cpu_share\":{:.2}}}",
                done as f64 / secs,
                hs.as_secs_f64() * 1000.0,
                cpu_seconds() / secs
            );
        }
        "idle" => {
            let n: usize = args[4].parse().unwrap();
            let hold: u64 = args[5].parse().unwrap();
            let mut clients = Vec::with_capacity(n);
            let mut hs = Vec::with_capacity(n);
            for _ in 0..n {
                let mut c = Client::connect(peer, &mut cfg);
                hs.push(c.handshake().as_secs_f64() * 1000.0);
                let (mut done, mut ok) = (0, 0);
                c.request("localhost", "/");
                while done < 1 {
                    c.flush();
                    c.pump();
                    c.poll(&mut done, &mut ok);
                }
                c.flush();
                clients.push(c);
            }
            hs.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!(
                "{{\"connections\":{n},\"handshake_ms_median\":{:.3},\"handshake_ms_p90\":{:.3}}}",
                hs[n / 2],
                hs[n * 9 / 10]
            );
            // Hold them open (idle); the parent measures the server meanwhile.
            std::thread::sleep(Duration::from_secs(hold));
            drop(clients);
        }
        _ => {
            eprintln!("usage: h3load load HOST PORT PATH CONCURRENT TOTAL | h3load idle HOST PORT CONNECTIONS HOLD_SECS");
            std::process::exit(2);
        }
    }
}
