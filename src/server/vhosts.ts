/**
 * Picks a site by host name: exact name, then the wildcard one level up ("*.example.com" matches
 * "a.example.com" only), then the default site.
 */
export class VirtualHosts<T> {
  readonly #exact = new Map<string, T>();
  readonly #wildcard = new Map<string, T>();
  readonly #fallback: T | null;

  constructor(sites: ReadonlyArray<{ hosts: readonly string[]; site: T }>) {
    let fallback: T | null = null;
    for (const { hosts, site } of sites) {
      if (hosts.length === 0) fallback = site;
      for (const host of hosts) {
        const name = host.toLowerCase();
        if (name.startsWith('*.')) this.#wildcard.set(name.slice(2), site);
        else this.#exact.set(name, site);
      }
    }
    this.#fallback = fallback;
  }

  match(host: string): T | null {
    const exact = this.#exact.get(host);
    if (exact !== undefined) return exact;
    if (host.length > 0 && host.charCodeAt(host.length - 1) === 46 /* trailing dot */) return this.match(host.slice(0, -1));
    if (this.#wildcard.size > 0) {
      const dot = host.indexOf('.');
      if (dot > 0) {
        const wild = this.#wildcard.get(host.slice(dot + 1));
        if (wild !== undefined) return wild;
      }
    }
    return this.#fallback;
  }
}
