//! The packed datagram format shared with src/protocols/http3/packets.ts:
//! repeated [u16 BE payload length][u16 BE port][u8 address length][address, ASCII][payload].

use std::net::{IpAddr, SocketAddr};

pub fn socket_addr(addr: &str, port: u16) -> Option<SocketAddr> {
    let ip: IpAddr = addr.parse().ok()?;
    Some(SocketAddr::new(ip, port))
}

/// Splits the next datagram off `data`: (source, payload, rest).
pub fn next(data: &[u8]) -> Option<(SocketAddr, &[u8], &[u8])> {
    if data.len() < 5 {
        return None;
    }
    let len = u16::from_be_bytes([data[0], data[1]]) as usize;
    let port = u16::from_be_bytes([data[2], data[3]]);
    let alen = data[4] as usize;
    let end = 5 + alen + len;
    if data.len() < end {
        return None;
    }
    let addr = std::str::from_utf8(&data[5..5 + alen]).ok()?;
    let from = socket_addr(addr, port)?;
    Some((from, &data[5 + alen..end], &data[end..]))
}

pub fn push(out: &mut Vec<u8>, to: &SocketAddr, payload: &[u8]) {
    let ip = to.ip().to_string();
    out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    out.extend_from_slice(&to.port().to_be_bytes());
    out.push(ip.len() as u8);
    out.extend_from_slice(ip.as_bytes());
    out.extend_from_slice(payload);
}
