/**
 * The `admin:` section: where the admin API listens and the bearer token it requires.
 *
 *   admin:
 *     listen: 127.0.0.1:9180     # or a port number (loopback), or "[::1]:9180"
 *     token: s3cret              # required unless the address is loopback
 */
export interface AdminConfig {
  readonly address: string;
  readonly port: number;
  /** Bearer token every request must carry; null = none (loopback only). */
  readonly token: string | null;
}

export const DEFAULT_ADMIN_ADDRESS = '127.0.0.1';

export const adminSchema: Record<string, unknown> = {
  type: 'object',
  additionalProperties: false,
  required: ['listen'],
  properties: {
    listen: { type: ['string', 'integer'] },
    token: { type: 'string', minLength: 8 },
  },
};

/** Parses `listen` (port, "host:port", "[v6]:port"); an error message, or the address and port. */
export function parseAdminListen(value: unknown): { address: string; port: number } | string {
  if (typeof value === 'number') return isPort(value) ? { address: DEFAULT_ADMIN_ADDRESS, port: value } : `admin.listen: port must be 0-65535, got ${value}`;
  if (typeof value !== 'string') return 'admin.listen: must be a port or "address:port"';
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value.trim()) ?? /^()()(\d+)$/.exec(value.trim());
  if (m === null) return `admin.listen: must be "address:port" (e.g. 127.0.0.1:9180), got "${value}"`;
  const port = Number(m[3]);
  if (!isPort(port)) return `admin.listen: port must be 0-65535, got ${m[3]}`;
  const address = m[1] ?? (m[2] === '' || m[2] === undefined ? DEFAULT_ADMIN_ADDRESS : m[2]);
  return { address: address === 'localhost' ? DEFAULT_ADMIN_ADDRESS : address, port };
}

export function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.');
}

/** Problems of a schema-valid `admin:` block (messages name the field). */
export function adminProblems(raw: unknown): string[] {
  if (raw === undefined || raw === null || typeof raw !== 'object') return [];
  const block = raw as { listen?: unknown; token?: unknown };
  const listen = parseAdminListen(block.listen);
  if (typeof listen === 'string') return [listen];
  if (!isLoopback(listen.address) && typeof block.token !== 'string') return [`admin.token: required when the admin API listens on a non-loopback address (${listen.address})`];
  return [];
}

export function normaliseAdmin(raw: unknown): AdminConfig | null {
  if (raw === undefined || raw === null || typeof raw !== 'object') return null;
  const block = raw as { listen?: unknown; token?: unknown };
  const listen = parseAdminListen(block.listen);
  if (typeof listen === 'string') return null; // reported by adminProblems
  return { address: listen.address, port: listen.port, token: typeof block.token === 'string' ? block.token : null };
}

function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 65535;
}
