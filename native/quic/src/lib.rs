//! QUIC + HTTP/3 for anomaly, over cloudflare's quiche.
//!
//! Sans I/O towards Node: Node owns the UDP socket (node:dgram) and the timer. One `drive()` call
//! takes every datagram received since the last call (packed in one buffer), runs quiche, and
//! returns every datagram to send (packed in one buffer), the HTTP/3 events for JavaScript and the
//! delay until the next quiche timer. Response writes (`send_headers`, `send_body`, ...) only queue
//! work; the packets they cause leave on the next `drive()`. So one tick of the event loop costs a
//! handful of JS <-> native crossings, however many datagrams and streams it carries.

#[macro_use]
extern crate napi_derive;

mod outbox;
mod pack;

use outbox::Outbox;

use napi::bindgen_prelude::*;
use quiche::h3;
use quiche::h3::NameValue;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

/// Largest UDP payload we read or write.
const MAX_DATAGRAM: usize = 1350;
/// recvmmsg rounds per drive() (of outbox::RX_BATCH datagrams each): bounded, so timers and
/// JavaScript get their turn under a flood.
const RX_ROUNDS: usize = 8;
/// Bytes of body read from one stream per drive() before moving on (fairness between streams).
const READ_CHUNK: usize = 64 * 1024;
/// HTTP/3 error codes (RFC 9114 §8.1) used by the server itself.
const H3_NO_ERROR: u64 = 0x100;
const H3_INTERNAL_ERROR: u64 = 0x102;
const H3_REQUEST_REJECTED: u64 = 0x10b;
const H3_REQUEST_CANCELLED: u64 = 0x10c;
const H3_MESSAGE_ERROR: u64 = 0x10e;

extern "C" {
    // From the BoringSSL that quiche links statically: a CSPRNG without another dependency.
    fn RAND_bytes(buf: *mut u8, len: usize) -> std::os::raw::c_int;
}

fn random_bytes(out: &mut [u8]) {
    // SAFETY: `out` is a valid, writable buffer of the given length.
    unsafe {
        RAND_bytes(out.as_mut_ptr(), out.len());
    }
}

/// Event kinds, mirrored in src/protocols/http3/native.ts.
pub mod kind {
    pub const ESTABLISHED: u32 = 1;
    pub const HEADERS: u32 = 2;
    pub const DATA: u32 = 3;
    pub const FINISHED: u32 = 4;
    pub const RESET: u32 = 5;
    pub const DRAINED: u32 = 6;
    pub const CLOSED: u32 = 7;
    pub const TRAILERS: u32 = 8;
}

#[napi(object)]
pub struct ServerOptions {
    pub cert_path: String,
    pub key_path: String,
    /// Local address and port the UDP socket is bound to (quiche wants them for path validation).
    pub local_address: String,
    pub local_port: u32,
    pub idle_timeout_ms: u32,
    pub max_streams_bidi: u32,
    pub max_field_section_size: u32,
    pub max_connections: u32,
    /// First byte of every connection ID we issue (a worker index; see docs/http3.md).
    pub cid_prefix: u32,
    /// Receive window per stream and per connection, in bytes.
    pub stream_window: u32,
    pub connection_window: u32,
}

#[napi(object)]
pub struct Event {
    pub kind: u32,
    pub conn: u32,
    pub stream: i64,
    /// HEADERS / TRAILERS: "name\0value\0name\0value..."; ESTABLISHED: "remote address\0server name\0alpn".
    /// One string per field section: one crossing instead of two per field.
    pub headers: Option<String>,
    pub data: Option<Buffer>,
    /// RESET: the peer's error code; HEADERS: 1 when the stream ended with the headers;
    /// ESTABLISHED: remote port; CLOSED: the error code, when there was one.
    pub code: Option<i64>,
    pub text: Option<String>,
}

#[napi(object)]
pub struct DriveResult {
    /// Datagrams to send, packed (see pack.rs).
    pub packets: Buffer,
    pub count: u32,
    pub events: Vec<Event>,
    /// Milliseconds until drive() should run again without input; -1 for no timer.
    pub timeout: f64,
    /// Work is left for another drive() soon (a request body read was cut at its per-turn share).
    pub again: bool,
}

#[napi(object)]
pub struct Stats {
    pub connections: u32,
    pub streams: u32,
    pub pending_bytes: f64,
    pub accepted: f64,
    pub dropped: f64,
}

/// Response state of one request stream, kept until both directions are done.
#[derive(Default)]
struct Stream {
    /// Response headers not yet accepted by quiche (StreamBlocked).
    headers: Option<(Vec<h3::Header>, bool)>,
    headers_sent: bool,
    body: VecDeque<Vec<u8>>,
    /// Offset into body.front() already handed to quiche.
    offset: usize,
    pending: usize,
    fin: bool,
    fin_sent: bool,
    trailers: Option<Vec<h3::Header>>,
    /// JS told us it has pending() bytes queued and waits for DRAINED.
    wants_drain: bool,
    /// Reading paused by JS (backpressure); `unread` remembers a DATA event we did not consume.
    paused: bool,
    unread: bool,
    /// The request side is over (FIN, reset, or STOP_SENDING from us).
    recv_done: bool,
    reset: bool,
    /// The request head was delivered (a later HEADERS frame is the trailer section).
    seen: bool,
}

struct Conn {
    q: quiche::Connection,
    h3: Option<h3::Connection>,
    cids: Vec<quiche::ConnectionId<'static>>,
    streams: HashMap<u64, Stream>,
    announced: bool,
    /// Largest client request stream seen, for GOAWAY.
    max_stream: Option<u64>,
    goaway_sent: bool,
    /// Requests on streams at or above this id are refused (after our GOAWAY).
    goaway_id: Option<u64>,
    /// Answered streams whose data quiche may not have had acknowledged yet: a graceful close waits
    /// for quiche to collect them (CONNECTION_CLOSE would drop unsent or lost stream data).
    unacked: Vec<u64>,
}

#[napi]
pub struct QuicServer {
    config: quiche::Config,
    transport: Transport,
    h3config: h3::Config,
    local: SocketAddr,
    conns: HashMap<u32, Conn>,
    by_cid: HashMap<quiche::ConnectionId<'static>, u32>,
    next_id: u32,
    cid_prefix: u8,
    max_connections: usize,
    accepting: bool,
    draining: bool,
    /// Connections with work for send() or stream flushing.
    dirty: HashSet<u32>,
    events: Vec<Event>,
    accepted: u64,
    dropped: u64,
    buf: Vec<u8>,
    send_fd: i32,
    rx: Option<outbox::Inbox>,
}

/// Transport settings kept to rebuild the quiche config when certificates change.
#[derive(Clone)]
struct Transport {
    idle_timeout_ms: u64,
    stream_window: u64,
    connection_window: u64,
    max_streams_bidi: u64,
}

fn build_config(cert_path: &str, key_path: &str, t: &Transport) -> Result<quiche::Config> {
    let mut config = quiche::Config::new(quiche::PROTOCOL_VERSION).map_err(|e| err("quiche config", e))?;
    config
        .load_cert_chain_from_pem_file(cert_path)
        .map_err(|e| err(&format!("certificate {cert_path}"), e))?;
    config
        .load_priv_key_from_pem_file(key_path)
        .map_err(|e| err(&format!("key {key_path}"), e))?;
    config
        .set_application_protos(h3::APPLICATION_PROTOCOL)
        .map_err(|e| err("alpn", e))?;
    config.set_max_idle_timeout(t.idle_timeout_ms);
    config.set_max_recv_udp_payload_size(MAX_DATAGRAM);
    config.set_max_send_udp_payload_size(MAX_DATAGRAM);
    config.set_initial_max_data(t.connection_window);
    config.set_initial_max_stream_data_bidi_local(t.stream_window);
    config.set_initial_max_stream_data_bidi_remote(t.stream_window);
    config.set_initial_max_stream_data_uni(t.stream_window);
    config.set_initial_max_streams_bidi(t.max_streams_bidi);
    // Control + QPACK encoder/decoder, plus room for GREASE / unknown stream types.
    config.set_initial_max_streams_uni(16);
    config.set_max_connection_window(t.connection_window * 2);
    config.set_max_stream_window(t.stream_window * 2);
    config.set_disable_active_migration(true);
    config.set_active_connection_id_limit(2);
    // 0-RTT stays off: enable_early_data() is never called.
    Ok(config)
}

fn err<E: std::fmt::Display>(what: &str, e: E) -> Error {
    Error::new(Status::GenericFailure, format!("{what}: {e}"))
}

/// Header bytes as a JS string: ASCII as is, other bytes as latin1 (what node's http layers do).
fn latin1(bytes: &[u8]) -> String {
    if bytes.is_ascii() {
        // SAFETY: ASCII is valid UTF-8.
        unsafe { String::from_utf8_unchecked(bytes.to_vec()) }
    } else {
        bytes.iter().map(|&b| b as char).collect()
    }
}

/// "name\0value\0..." from JavaScript into header fields; None when the parts do not pair up.
fn to_headers(joined: &str) -> Option<Vec<h3::Header>> {
    if joined.is_empty() {
        return Some(Vec::new());
    }
    // Values came from JS strings; latin1 code points map back to single bytes.
    let enc = |s: &str| -> Vec<u8> {
        if s.is_ascii() {
            s.as_bytes().to_vec()
        } else {
            s.chars().map(|c| if (c as u32) < 256 { c as u8 } else { b'?' }).collect()
        }
    };
    let mut out = Vec::new();
    let mut parts = joined.split('\0');
    while let Some(name) = parts.next() {
        let value = parts.next()?;
        out.push(h3::Header::new(&enc(name), &enc(value)));
    }
    Some(out)
}

/// A decoded field section as "name\0value\0..."; None when a name or value holds NUL, CR or LF,
/// which makes the message malformed (RFC 9114 §4.2) and would break the joining.
fn header_list(list: &[h3::Header]) -> Option<String> {
    let mut out = String::with_capacity(list.iter().map(|h| h.name().len() + h.value().len() + 2).sum());
    for (i, h) in list.iter().enumerate() {
        if h.name().iter().chain(h.value()).any(|&b| b == 0 || b == b'\r' || b == b'\n') {
            return None;
        }
        if i > 0 {
            out.push('\0');
        }
        out.push_str(&latin1(h.name()));
        out.push('\0');
        out.push_str(&latin1(h.value()));
    }
    Some(out)
}

fn event(kind: u32, conn: u32, stream: u64) -> Event {
    Event { kind, conn, stream: stream as i64, headers: None, data: None, code: None, text: None }
}

#[napi]
impl QuicServer {
    #[napi(constructor)]
    pub fn new(opts: ServerOptions) -> Result<Self> {
        let transport = Transport {
            idle_timeout_ms: opts.idle_timeout_ms as u64,
            stream_window: opts.stream_window as u64,
            connection_window: opts.connection_window as u64,
            max_streams_bidi: opts.max_streams_bidi as u64,
        };
        let config = build_config(&opts.cert_path, &opts.key_path, &transport)?;
        let mut h3config = h3::Config::new().map_err(|e| err("h3 config", e))?;
        h3config.set_max_field_section_size(opts.max_field_section_size as u64);
        // No dynamic table: QPACK capacity 0 means no encoder-stream state to track.
        h3config.set_qpack_max_table_capacity(0);
        h3config.set_qpack_blocked_streams(0);
        let local: SocketAddr = pack::socket_addr(&opts.local_address, opts.local_port as u16)
            .ok_or_else(|| err("local address", &opts.local_address))?;
        Ok(QuicServer {
            config,
            transport,
            h3config,
            local,
            conns: HashMap::new(),
            by_cid: HashMap::new(),
            next_id: 1,
            cid_prefix: opts.cid_prefix as u8,
            max_connections: opts.max_connections as usize,
            accepting: true,
            draining: false,
            dirty: HashSet::new(),
            events: Vec::new(),
            accepted: 0,
            dropped: 0,
            send_fd: -1,
            rx: Some(outbox::Inbox::default()),
            buf: vec![0u8; 65535],
        })
    }

    /// Feeds received datagrams (packed, see pack.rs), fires due timers, flushes queued writes,
    /// and returns what to send plus the events for JavaScript.
    #[napi]
    pub fn drive(&mut self, inbound: Buffer, count: u32) -> DriveResult {
        let mut out = Outbox::default();
        let mut data: &[u8] = &inbound;
        for _ in 0..count {
            let Some((from, payload, rest)) = pack::next(data) else { break };
            data = rest;
            let mut pkt = payload.to_vec();
            self.recv_one(&mut pkt, from, &mut out);
        }
        // Datagrams that arrived meanwhile are read here, many per recvmmsg, instead of one
        // 'message' event each (libuv then finds the socket empty, which is harmless).
        if self.send_fd >= 0 {
            let mut rx = self.rx.take().unwrap_or_default();
            for _ in 0..RX_ROUNDS {
                let got = rx.recv(self.send_fd);
                for i in 0..got {
                    let (from, pkt) = rx.get(i);
                    if let Some(from) = from {
                        self.recv_one(pkt, from, &mut out);
                    }
                }
                if got < outbox::RX_BATCH {
                    break;
                }
            }
            self.rx = Some(rx);
        }
        let now = Instant::now();
        let ids: Vec<u32> = self.conns.keys().copied().collect();
        for id in &ids {
            let c = self.conns.get_mut(id).unwrap();
            if let Some(t) = c.q.timeout_instant() {
                if t <= now {
                    c.q.on_timeout();
                    self.dirty.insert(*id);
                }
            }
        }
        let dirty: Vec<u32> = self.dirty.drain().collect();
        for id in dirty {
            self.service(id);
            self.flush(id, &mut out);
        }
        // Collect closed connections and compute the next timer.
        let mut timeout: Option<std::time::Duration> = None;
        let mut closed = Vec::new();
        for (id, c) in &self.conns {
            if c.q.is_closed() {
                closed.push(*id);
                continue;
            }
            if let Some(t) = c.q.timeout() {
                timeout = Some(timeout.map_or(t, |cur| cur.min(t)));
            }
        }
        for id in closed {
            self.remove(id);
        }
        let events = std::mem::take(&mut self.events);
        DriveResult {
            // With the socket's fd, datagrams leave here (sendmmsg); what could not is left to JS.
            count: out.send(self.send_fd),
            packets: out.packed().into(),
            events,
            timeout: timeout.map_or(-1.0, |t| t.as_secs_f64() * 1000.0),
            again: !self.dirty.is_empty(),
        }
    }

    fn recv_one(&mut self, pkt: &mut [u8], from: SocketAddr, out: &mut Outbox) {
        let hdr = match quiche::Header::from_slice(pkt, quiche::MAX_CONN_ID_LEN) {
            Ok(h) => h,
            Err(_) => {
                self.dropped += 1;
                return;
            }
        };
        let id = match self.by_cid.get(&hdr.dcid) {
            Some(id) => *id,
            None => {
                if hdr.ty != quiche::Type::Initial {
                    self.dropped += 1;
                    return;
                }
                if !quiche::version_is_supported(hdr.version) {
                    // RFC 9000 §5.2.2/§14.1: only a datagram of at least 1200 bytes earns a Version
                    // Negotiation answer (no amplification for small spoofed ones).
                    if pkt.len() < 1200 {
                        self.dropped += 1;
                        return;
                    }
                    let n = match quiche::negotiate_version(&hdr.scid, &hdr.dcid, &mut self.buf) {
                        Ok(n) => n,
                        Err(_) => return,
                    };
                    out.push(from, &self.buf[..n]);
                    return;
                }
                // RFC 9000 §14.1: a client Initial is padded to 1200 bytes; smaller ones are dropped.
                if pkt.len() < 1200 || !self.accepting || self.conns.len() >= self.max_connections {
                    self.dropped += 1;
                    return;
                }
                match self.accept(&hdr, from) {
                    Some(id) => id,
                    None => return,
                }
            }
        };
        let local = self.local;
        let c = self.conns.get_mut(&id).unwrap();
        let res = c.q.recv(pkt, quiche::RecvInfo { from, to: local });
        if res.is_err() && !c.q.is_established() && c.q.is_closed() {
            // A broken first packet: forget the connection at once.
            self.remove(id);
            return;
        }
        self.dirty.insert(id);
    }

    fn accept(&mut self, hdr: &quiche::Header, from: SocketAddr) -> Option<u32> {
        let mut raw = [0u8; quiche::MAX_CONN_ID_LEN];
        random_bytes(&mut raw);
        raw[0] = self.cid_prefix;
        let scid = quiche::ConnectionId::from_vec(raw.to_vec());
        let q = match quiche::accept(&scid, None, self.local, from, &mut self.config) {
            Ok(q) => q,
            Err(_) => {
                self.dropped += 1;
                return None;
            }
        };
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        // The client keeps using its original DCID until it sees ours (ClientHellos over two packets).
        let odcid = hdr.dcid.clone().into_owned();
        self.by_cid.insert(scid.clone(), id);
        self.by_cid.insert(odcid.clone(), id);
        self.conns.insert(
            id,
            Conn {
                q,
                h3: None,
                cids: vec![scid, odcid],
                streams: HashMap::new(),
                announced: false,
                max_stream: None,
                goaway_sent: false,
                goaway_id: None,
                unacked: Vec::new(),
            },
        );
        self.accepted += 1;
        Some(id)
    }

    fn remove(&mut self, id: u32) {
        if let Some(c) = self.conns.remove(&id) {
            for cid in &c.cids {
                self.by_cid.remove(cid);
            }
            let mut ev = event(kind::CLOSED, id, 0);
            if let Some(e) = c.q.peer_error().or(c.q.local_error()) {
                ev.code = Some(e.error_code as i64);
                ev.text = Some(format!(
                    "{} {} error 0x{:x}{}",
                    if c.q.peer_error().is_some() { "peer" } else { "local" },
                    if e.is_app { "application" } else { "transport" },
                    e.error_code,
                    if e.reason.is_empty() { String::new() } else { format!(": {}", String::from_utf8_lossy(&e.reason)) }
                ));
            } else if c.q.is_timed_out() {
                ev.text = Some("idle timeout".into());
            }
            if c.announced {
                self.events.push(ev);
            }
            self.dirty.remove(&id);
        }
    }

    /// Runs HTTP/3 on a connection: creates it once established, polls events, reads bodies,
    /// writes queued responses.
    fn service(&mut self, id: u32) {
        let draining = self.draining;
        let Some(c) = self.conns.get_mut(&id) else { return };
        if c.h3.is_none() && c.q.is_established() {
            match h3::Connection::with_transport(&mut c.q, &self.h3config) {
                Ok(h) => c.h3 = Some(h),
                Err(_) => {
                    let _ = c.q.close(true, H3_INTERNAL_ERROR, b"");
                    return;
                }
            }
            c.announced = true;
            let mut ev = event(kind::ESTABLISHED, id, 0);
            let peer = c.q.paths_iter(self.local).next();
            let (addr, port) = match peer {
                Some(p) => (p.ip().to_string(), p.port()),
                None => (String::new(), 0),
            };
            ev.code = Some(port as i64);
            ev.headers = Some(format!(
                "{addr}\0{}\0{}",
                c.q.server_name().unwrap_or(""),
                String::from_utf8_lossy(c.q.application_proto())
            ));
            self.events.push(ev);
            if draining {
                send_goaway(c);
            }
        }
        let Some(h3c) = c.h3.as_mut() else { return };
        loop {
            match h3c.poll(&mut c.q) {
                Ok((sid, h3::Event::Headers { list, more_frames })) => {
                    if c.goaway_id.is_some_and(|g| sid >= g) && !c.streams.contains_key(&sid) {
                        // A request after our GOAWAY: refuse it (RFC 9114 §5.2).
                        let _ = c.q.stream_shutdown(sid, quiche::Shutdown::Read, H3_REQUEST_REJECTED);
                        let _ = c.q.stream_shutdown(sid, quiche::Shutdown::Write, H3_REQUEST_REJECTED);
                        continue;
                    }
                    let Some(fields) = header_list(&list) else {
                        let _ = c.q.stream_shutdown(sid, quiche::Shutdown::Read, H3_MESSAGE_ERROR);
                        let _ = c.q.stream_shutdown(sid, quiche::Shutdown::Write, H3_MESSAGE_ERROR);
                        if c.streams.remove(&sid).is_some() {
                            let mut ev = event(kind::RESET, id, sid);
                            ev.code = Some(H3_MESSAGE_ERROR as i64);
                            self.events.push(ev);
                        }
                        continue;
                    };
                    let st = c.streams.entry(sid).or_default();
                    // A second HEADERS on a request stream is its trailer section.
                    let is_trailers = st.seen;
                    st.seen = true;
                    if !more_frames {
                        st.recv_done = true;
                    }
                    if !is_trailers {
                        c.max_stream = Some(c.max_stream.map_or(sid, |m| m.max(sid)));
                    }
                    let mut ev = event(if is_trailers { kind::TRAILERS } else { kind::HEADERS }, id, sid);
                    ev.headers = Some(fields);
                    ev.code = Some(if more_frames { 0 } else { 1 });
                    self.events.push(ev);
                }
                Ok((sid, h3::Event::Data)) => match c.streams.get_mut(&sid) {
                    Some(st) if st.paused => st.unread = true,
                    Some(st) => read_body(h3c, &mut c.q, sid, st, id, &mut self.events, &mut self.buf),
                    // A stream we are done with (answered, reset): drain and drop what still arrives.
                    None => while h3c.recv_body(&mut c.q, sid, &mut self.buf).is_ok() {},
                },
                Ok((sid, h3::Event::Finished)) => {
                    // Only news when the request body was still open (not after a HEADERS with FIN).
                    if let Some(st) = c.streams.get_mut(&sid) {
                        if !st.recv_done {
                            st.recv_done = true;
                            self.events.push(event(kind::FINISHED, id, sid));
                        }
                    }
                }
                Ok((sid, h3::Event::Reset(code))) => {
                    let mut ev = event(kind::RESET, id, sid);
                    ev.code = Some(code as i64);
                    if let Some(st) = c.streams.get_mut(&sid) {
                        st.reset = true;
                        st.recv_done = true;
                        // The request is abandoned: abandon the response too (frees quiche's stream).
                        let _ = c.q.stream_shutdown(sid, quiche::Shutdown::Write, H3_REQUEST_CANCELLED);
                        self.events.push(ev);
                    }
                }
                Ok((_, h3::Event::PriorityUpdate)) => {}
                Ok((_, h3::Event::GoAway)) => {}
                Err(h3::Error::Done) => break,
                Err(_) => break, // quiche closed the connection with the matching H3 error code
            }
        }
        // Streams resumed by JS, or whose writes were queued.
        let sids: Vec<u64> = c.streams.keys().copied().collect();
        for sid in sids {
            let st = c.streams.get_mut(&sid).unwrap();
            if !st.paused && st.unread {
                st.unread = false;
                read_body(h3c, &mut c.q, sid, st, id, &mut self.events, &mut self.buf);
            }
            write_stream(h3c, &mut c.q, sid, st);
            if st.wants_drain && st.pending == 0 {
                st.wants_drain = false;
                self.events.push(event(kind::DRAINED, id, sid));
            }
            if st.reset || (st.fin_sent && st.recv_done) {
                if !st.reset {
                    c.unacked.push(sid);
                }
                c.streams.remove(&sid);
            }
        }
        if draining || c.unacked.len() > 256 {
            // quiche forgets a stream once everything sent on it is acknowledged.
            let q = &mut c.q;
            c.unacked.retain(|sid| !matches!(q.stream_capacity(*sid), Err(quiche::Error::InvalidStreamState(_))));
        }
        // A body read stopped at READ_CHUNK: come back on the next drive() even if no packet arrives.
        if c.streams.values().any(|st| st.unread && !st.paused) {
            self.dirty.insert(id);
        }
        if draining && c.streams.is_empty() && c.unacked.is_empty() && c.goaway_sent && !c.q.is_closed() && !c.q.is_draining() {
            let _ = c.q.close(true, H3_NO_ERROR, b"");
        }
    }

    fn flush(&mut self, id: u32, out: &mut Outbox) {
        let Some(c) = self.conns.get_mut(&id) else { return };
        loop {
            match c.q.send(&mut self.buf) {
                Ok((n, info)) => {
                    out.push(info.to, &self.buf[..n]);
                }
                Err(quiche::Error::Done) => break,
                Err(_) => {
                    let _ = c.q.close(false, 0x1, b"");
                    break;
                }
            }
        }
    }

    fn stream_mut(&mut self, conn: u32, stream: i64) -> Option<&mut Stream> {
        let c = self.conns.get_mut(&conn)?;
        self.dirty.insert(conn);
        c.streams.get_mut(&(stream as u64))
    }

    /// Queues a whole response in one call: head, optional body, and FIN when `fin`.
    #[napi]
    pub fn respond(&mut self, conn: u32, stream: i64, headers: String, body: Option<Buffer>, fin: bool) -> bool {
        let Some(fields) = to_headers(&headers) else { return false };
        let Some(st) = self.stream_mut(conn, stream) else { return false };
        let has_body = body.as_ref().is_some_and(|b| !b.is_empty());
        st.headers = Some((fields, fin && !has_body));
        if let Some(b) = body {
            if !b.is_empty() {
                st.pending += b.len();
                st.body.push_back(b.to_vec());
            }
        }
        if fin {
            st.fin = true;
        }
        true
    }

    /// Queues the response head; `fin` when there is no body.
    #[napi]
    pub fn send_headers(&mut self, conn: u32, stream: i64, headers: String, fin: bool) -> bool {
        let Some(fields) = to_headers(&headers) else { return false };
        let Some(st) = self.stream_mut(conn, stream) else { return false };
        st.headers = Some((fields, fin));
        if fin {
            st.fin = true;
        }
        true
    }

    /// Queues body bytes; returns the bytes queued on this stream not yet taken by quiche.
    /// When that is above JS's high-water mark JS waits for DRAINED.
    #[napi]
    pub fn send_body(&mut self, conn: u32, stream: i64, data: Buffer, fin: bool) -> i64 {
        let Some(st) = self.stream_mut(conn, stream) else { return -1 };
        if !data.is_empty() {
            st.pending += data.len();
            st.body.push_back(data.to_vec());
        }
        if fin {
            st.fin = true;
        }
        st.pending as i64
    }

    /// Asks for a DRAINED event once everything queued on the stream has been taken by quiche.
    #[napi]
    pub fn want_drain(&mut self, conn: u32, stream: i64) {
        if let Some(st) = self.stream_mut(conn, stream) {
            st.wants_drain = true;
        }
    }

    /// Ends the stream with trailers after the queued body.
    #[napi]
    pub fn send_trailers(&mut self, conn: u32, stream: i64, headers: String) -> bool {
        let Some(fields) = to_headers(&headers) else { return false };
        let Some(st) = self.stream_mut(conn, stream) else { return false };
        st.trailers = Some(fields);
        st.fin = true;
        true
    }

    /// Pauses or resumes delivery of request body DATA (JS backpressure).
    #[napi]
    pub fn set_reading(&mut self, conn: u32, stream: i64, reading: bool) {
        if let Some(st) = self.stream_mut(conn, stream) {
            st.paused = !reading;
        }
    }

    /// Stops the request body (STOP_SENDING with H3_NO_ERROR): the response is complete without it.
    #[napi]
    pub fn stop_reading(&mut self, conn: u32, stream: i64) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let sid = stream as u64;
        let _ = c.q.stream_shutdown(sid, quiche::Shutdown::Read, H3_NO_ERROR);
        if let Some(st) = c.streams.get_mut(&sid) {
            st.recv_done = true;
            st.unread = false;
        }
        self.dirty.insert(conn);
    }

    /// Abandons a stream in both directions with an HTTP/3 error code.
    #[napi]
    pub fn reset_stream(&mut self, conn: u32, stream: i64, code: i64) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let sid = stream as u64;
        let _ = c.q.stream_shutdown(sid, quiche::Shutdown::Read, code as u64);
        let _ = c.q.stream_shutdown(sid, quiche::Shutdown::Write, code as u64);
        c.streams.remove(&sid);
        self.dirty.insert(conn);
    }

    /// Graceful shutdown: no new connections; GOAWAY on every connection; each one closes with
    /// H3_NO_ERROR once its requests are answered. Call drive() afterwards.
    #[napi]
    pub fn shutdown(&mut self) {
        self.accepting = false;
        self.draining = true;
        let ids: Vec<u32> = self.conns.keys().copied().collect();
        for id in ids {
            let c = self.conns.get_mut(&id).unwrap();
            if c.h3.is_some() {
                send_goaway(c);
            } else {
                let _ = c.q.close(true, H3_NO_ERROR, b"");
            }
            self.dirty.insert(id);
        }
    }

    /// Closes every connection now (end of the drain period).
    #[napi]
    pub fn close_all(&mut self) {
        self.accepting = false;
        let ids: Vec<u32> = self.conns.keys().copied().collect();
        for id in ids {
            let c = self.conns.get_mut(&id).unwrap();
            let _ = c.q.close(true, H3_NO_ERROR, b"server shutting down");
            self.dirty.insert(id);
        }
    }

    /// Closes one connection with an application error code.
    #[napi]
    pub fn close_connection(&mut self, conn: u32, code: i64, reason: String) {
        if let Some(c) = self.conns.get_mut(&conn) {
            let _ = c.q.close(true, code as u64, reason.as_bytes());
            self.dirty.insert(conn);
        }
    }

    /// New certificates, idle timeout and field-section limit for new connections (after a config
    /// reload); live connections keep theirs.
    #[napi]
    pub fn reload_certificates(
        &mut self,
        cert_path: String,
        key_path: String,
        idle_timeout_ms: Option<u32>,
        max_field_section_size: Option<u32>,
    ) -> Result<()> {
        let mut transport = self.transport.clone();
        if let Some(ms) = idle_timeout_ms {
            transport.idle_timeout_ms = ms as u64;
        }
        let mut next = build_config(&cert_path, &key_path, &transport)?;
        std::mem::swap(&mut self.config, &mut next);
        self.transport = transport;
        if let Some(size) = max_field_section_size {
            self.h3config.set_max_field_section_size(size as u64);
        }
        Ok(())
    }

    /// The UDP socket's file descriptor (Node's dgram socket): datagrams are then sent from here with
    /// sendmmsg and, during drive(), also read with recvmmsg, many per system call, instead of one
    /// dgram event or send() each. -1 turns that off.
    #[napi]
    pub fn set_send_fd(&mut self, fd: i32) {
        self.send_fd = if cfg!(target_os = "linux") { fd } else { -1 };
    }

    #[napi]
    pub fn stats(&self) -> Stats {
        let mut streams = 0u32;
        let mut pending = 0usize;
        for c in self.conns.values() {
            streams += c.streams.len() as u32;
            pending += c.streams.values().map(|s| s.pending).sum::<usize>();
        }
        Stats {
            connections: self.conns.len() as u32,
            streams,
            pending_bytes: pending as f64,
            accepted: self.accepted as f64,
            dropped: self.dropped as f64,
        }
    }
}

fn send_goaway(c: &mut Conn) {
    if c.goaway_sent {
        return;
    }
    let Some(h3c) = c.h3.as_mut() else { return };
    // The first request stream id we will NOT process (RFC 9114 §5.2).
    let id = c.max_stream.map_or(0, |m| m + 4);
    if h3c.send_goaway(&mut c.q, id).is_ok() {
        c.goaway_sent = true;
        c.goaway_id = Some(id);
    }
}

fn read_body(
    h3c: &mut h3::Connection,
    q: &mut quiche::Connection,
    sid: u64,
    st: &mut Stream,
    id: u32,
    events: &mut Vec<Event>,
    buf: &mut [u8],
) {
    let mut chunk: Vec<u8> = Vec::new();
    loop {
        match h3c.recv_body(q, sid, buf) {
            Ok(n) => {
                chunk.extend_from_slice(&buf[..n]);
                if chunk.len() >= READ_CHUNK {
                    // Leave the rest for the next drive(): mark it so we come back.
                    st.unread = true;
                    break;
                }
            }
            Err(_) => break,
        }
    }
    if !chunk.is_empty() {
        let mut ev = event(kind::DATA, id, sid);
        ev.data = Some(chunk.into());
        events.push(ev);
    }
}

/// Hands queued headers, body and trailers to quiche as far as flow control allows.
fn write_stream(h3c: &mut h3::Connection, q: &mut quiche::Connection, sid: u64, st: &mut Stream) {
    if st.reset || st.fin_sent {
        return;
    }
    if let Some((headers, fin)) = st.headers.take() {
        match h3c.send_response(q, sid, &headers, fin) {
            Ok(()) => {
                st.headers_sent = true;
                if fin {
                    st.fin_sent = true;
                    return;
                }
            }
            Err(h3::Error::StreamBlocked) => {
                st.headers = Some((headers, fin));
                return;
            }
            Err(_) => {
                st.reset = true;
                return;
            }
        }
    }
    if !st.headers_sent {
        return;
    }
    while let Some(front) = st.body.front() {
        let rest = &front[st.offset..];
        let last = st.body.len() == 1 && st.fin && st.trailers.is_none();
        match h3c.send_body(q, sid, rest, last) {
            Ok(n) => {
                st.offset += n;
                st.pending -= n;
                if st.offset == front.len() {
                    st.body.pop_front();
                    st.offset = 0;
                    if last {
                        st.fin_sent = true;
                        return;
                    }
                } else {
                    return;
                }
            }
            Err(h3::Error::Done) => return,
            Err(_) => {
                st.reset = true;
                return;
            }
        }
    }
    if !st.fin {
        return;
    }
    if let Some(trailers) = st.trailers.take() {
        match h3c.send_additional_headers(q, sid, &trailers, true, true) {
            Ok(()) => st.fin_sent = true,
            Err(h3::Error::StreamBlocked) => st.trailers = Some(trailers),
            Err(_) => st.reset = true,
        }
    } else {
        // Body ended after its last chunk was sent: an empty DATA-less FIN.
        match h3c.send_body(q, sid, &[], true) {
            Ok(_) => st.fin_sent = true,
            Err(h3::Error::Done) => {}
            Err(_) => st.reset = true,
        }
    }
}
