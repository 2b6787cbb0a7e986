/**
 * The packed datagram format shared with native/quic/src/pack.rs: repeated
 * [u16 BE payload length][u16 BE port][u8 address length][address, ASCII][payload].
 * Datagrams received during one event-loop turn are packed into one buffer so that the binding is
 * called once per turn, not once per datagram.
 */
export class DatagramBatch {
  #buf: Buffer;
  #used = 0;
  #count = 0;

  constructor(capacity = 256 * 1024) {
    this.#buf = Buffer.allocUnsafe(capacity);
  }

  get count(): number {
    return this.#count;
  }

  /** Room for one more datagram of `size` bytes from an address of `addrLength` characters. */
  fits(size: number, addrLength: number): boolean {
    return this.#used + 5 + addrLength + size <= this.#buf.length;
  }

  push(payload: Uint8Array, address: string, port: number): void {
    const b = this.#buf;
    let o = this.#used;
    b.writeUInt16BE(payload.length, o);
    b.writeUInt16BE(port, o + 2);
    const n = b.write(address, o + 5, 'latin1');
    b[o + 4] = n;
    o += 5 + n;
    b.set(payload, o);
    this.#used = o + payload.length;
    this.#count++;
  }

  /** The packed bytes so far; valid until the next push() after reset(). */
  view(): Buffer {
    return this.#buf.subarray(0, this.#used);
  }

  reset(): void {
    this.#used = 0;
    this.#count = 0;
  }
}

/** Calls `send` for each datagram in a packed buffer (the binding's output). */
export function forEachDatagram(packed: Buffer, count: number, send: (payload: Buffer, address: string, port: number) => void): void {
  let o = 0;
  for (let i = 0; i < count && o + 5 <= packed.length; i++) {
    const len = packed.readUInt16BE(o);
    const port = packed.readUInt16BE(o + 2);
    const alen = packed[o + 4];
    const address = packed.toString('latin1', o + 5, o + 5 + alen);
    const start = o + 5 + alen;
    send(packed.subarray(start, start + len), address, port);
    o = start + len;
  }
}
