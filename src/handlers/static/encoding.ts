/** Accept-Encoding negotiation (RFC 9110 §12.5.3) between identity, br and gzip. */

export type Coding = 'identity' | 'br' | 'gzip';

/** Quality of each coding we can produce, as the client stated it (0 = refused). */
export interface CodingPrefs {
  readonly br: number;
  readonly gzip: number;
  readonly identity: number;
}

/** No Accept-Encoding at all: anything is acceptable, but identity is what we send (RFC 9110 §12.5.3). */
export const NO_HEADER: CodingPrefs = Object.freeze({ br: 0, gzip: 0, identity: 1 });

const IMPLICIT_IDENTITY = 0.0001;

export function parseAcceptEncoding(header: string): CodingPrefs {
  let br = -1;
  let gzip = -1;
  let identity = -1;
  let star = -1;
  for (const item of header.split(',')) {
    const semi = item.indexOf(';');
    const name = (semi === -1 ? item : item.slice(0, semi)).trim().toLowerCase();
    if (name.length === 0) continue;
    let q = 1;
    if (semi !== -1) {
      const m = /(?:^|;)\s*q\s*=\s*([0-9.]+)/i.exec(item.slice(semi));
      if (m !== null) {
        q = Number(m[1]);
        if (!Number.isFinite(q) || q < 0) q = 0;
        if (q > 1) q = 1;
      }
    }
    switch (name) {
      case 'br':
        br = Math.max(br, q);
        break;
      case 'gzip':
      case 'x-gzip':
        gzip = Math.max(gzip, q);
        break;
      case 'identity':
        identity = Math.max(identity, q);
        break;
      case '*':
        star = Math.max(star, q);
        break;
    }
  }
  // Unlisted codings take the "*" quality. Unlisted identity stays acceptable (unless "*;q=0") but as the
  // last choice: "br;q=0.5, gzip;q=0.8" means "gzip please", as nginx and Caddy read it.
  return {
    br: br >= 0 ? br : star >= 0 ? star : 0,
    gzip: gzip >= 0 ? gzip : star >= 0 ? star : 0,
    identity: identity >= 0 ? identity : star === 0 ? 0 : IMPLICIT_IDENTITY,
  };
}

/**
 * The coding to send given which encoded variants exist. Preference at equal q: br, gzip, identity.
 * Returns null when nothing acceptable exists (the caller then sends identity anyway, as most servers do,
 * rather than a 406 nobody handles well).
 */
export function chooseCoding(prefs: CodingPrefs, hasBr: boolean, hasGzip: boolean): Coding | null {
  const br = hasBr ? prefs.br : 0;
  const gz = hasGzip ? prefs.gzip : 0;
  const id = prefs.identity;
  if (br > 0 && br >= gz && br >= id) return 'br';
  if (gz > 0 && gz >= id) return 'gzip';
  if (id > 0) return 'identity';
  return null;
}

/** A small memo of parsed Accept-Encoding values: browsers send only a handful of distinct strings. */
export class AcceptEncodingMemo {
  readonly #map = new Map<string, CodingPrefs>();
  readonly #max: number;

  constructor(max = 128) {
    this.#max = max;
  }

  get(header: string | undefined): CodingPrefs {
    if (header === undefined) return NO_HEADER;
    let prefs = this.#map.get(header);
    if (prefs === undefined) {
      prefs = parseAcceptEncoding(header);
      if (this.#map.size >= this.#max) this.#map.clear();
      this.#map.set(header, prefs);
    }
    return prefs;
  }
}
