import type { Handler } from '../core/handler.js';
import type { Logger } from '../core/logger.js';
import type { ProvisionedHandler } from '../core/module.js';
import type { CacheZoneConfig, RouteCacheConfig } from '../config/cache.js';
import type { RouteConfig } from '../config/types.js';
import { compileKey } from './key.js';
import { cacheHandler } from './layer.js';
import { DiskStore } from './stores/disk.js';
import { MemoryStore } from './stores/memory.js';
import type { CacheStore } from './stores/store.js';
import { CacheZone } from './zone.js';

interface Held {
  readonly zone: CacheZone;
  readonly fingerprint: string;
  refs: number;
}

/**
 * The cache zones of one server, kept across config reloads: a route of the new config that
 * names a zone with unchanged options gets the same zone (and its entries); zones no config
 * version uses any more are closed. Also the entry point for purging (PURGE, admin API).
 */
export class CacheZones {
  readonly #held = new Map<string, Held>();
  readonly #opening = new Map<string, Promise<Held>>();
  #relay: ((zone: string, key: string | null) => void) | null = null;

  /**
   * With worker processes: purges of memory zones are sent through `send` to the other workers,
   * whose applyPeerPurge drops their copy (disk and Redis zones are shared: nothing to relay).
   */
  relayPurges(send: (zone: string, key: string | null) => void): void {
    this.#relay = send;
  }

  /** A purge another worker made. */
  readonly applyPeerPurge = (zoneName: string, key: string | null): void => {
    const zone = this.zone(zoneName);
    if (zone === undefined) return;
    void (key === null ? zone.clearHere() : zone.purgeHere(key));
  };

  /**
   * Wraps a route's handler in its cache (RouteWrapper for the dispatcher); null for routes
   * without `cache:`. Disposing the result releases the zone.
   */
  readonly wrapRoute = async (route: RouteConfig, inner: Handler, logger: Logger): Promise<ProvisionedHandler | null> => {
    const config = route.cache;
    if (config === null) return null;
    const held = await this.#acquire(config.zone, logger);
    let released = false;
    return {
      handle: cacheHandler(inner, layerOptions(config, held.zone, logger.child({ cache: config.zone.name }))),
      dispose: async () => {
        if (released) return;
        released = true;
        await this.#release(held);
      },
    };
  };

  async #acquire(config: CacheZoneConfig, logger: Logger): Promise<Held> {
    const fingerprint = JSON.stringify(config);
    const current = this.#held.get(config.name);
    if (current !== undefined && current.fingerprint === fingerprint) {
      current.refs++;
      return current;
    }
    // Two routes naming the same new zone while its store opens (disk scans its directory).
    const opening = this.#opening.get(fingerprint);
    if (opening !== undefined) {
      const held = await opening;
      held.refs++;
      return held;
    }
    const relay = (zone: string, key: string | null): void => this.#relay?.(zone, key);
    const promise = openStore(config, logger).then((store) => {
      const held: Held = { zone: new CacheZone(config.name, store, config.store === 'memory' ? relay : null), fingerprint, refs: 0 };
      // A zone whose options changed replaces the old one; the old one closes with its last user.
      this.#held.set(config.name, held);
      return held;
    });
    this.#opening.set(fingerprint, promise);
    try {
      const held = await promise;
      held.refs++;
      return held;
    } finally {
      this.#opening.delete(fingerprint);
    }
  }

  async #release(held: Held): Promise<void> {
    held.refs--;
    if (held.refs > 0) return;
    if (this.#held.get(held.zone.name) === held) this.#held.delete(held.zone.name);
    await held.zone.close();
  }

  /** The zones in use, by name. */
  zones(): CacheZone[] {
    return [...this.#held.values()].map((h) => h.zone);
  }

  zone(name: string): CacheZone | undefined {
    return this.#held.get(name)?.zone;
  }

  /** Removes one entry by its cache key (default key: the absolute URL). False if the zone or entry is unknown. */
  async purge(zoneName: string, key: string): Promise<boolean> {
    const zone = this.zone(zoneName);
    return zone === undefined ? false : await zone.purge(key);
  }

  /** Empties a zone. */
  async clear(zoneName: string): Promise<boolean> {
    const zone = this.zone(zoneName);
    if (zone === undefined) return false;
    await zone.clear();
    return true;
  }
}

async function openStore(config: CacheZoneConfig, logger: Logger): Promise<CacheStore> {
  switch (config.store) {
    case 'memory':
      return new MemoryStore(config.maxSize);
    case 'disk':
      return await DiskStore.open(config.path as string, config.maxSize);
    case 'redis': {
      // Imported on first use: servers without a Redis zone never load the client.
      const { RedisStore } = await import('./stores/redis.js');
      return new RedisStore({ url: config.url as string, prefix: config.prefix, timeout: config.timeout, logger: logger.child({ cache: config.name, store: 'redis' }) });
    }
  }
}

function layerOptions(c: RouteCacheConfig, zone: CacheZone, logger: Logger) {
  return {
    zone,
    key: compileKey(c.key),
    storage: {
      defaultTtl: c.defaultTtl,
      heuristic: c.heuristic,
      staleWhileRevalidate: c.staleWhileRevalidate,
      staleIfError: c.staleIfError,
      keepStale: c.keepStale,
      storeSetCookie: c.storeSetCookie,
      maxObjectSize: c.maxObjectSize,
    },
    honorRequestCacheControl: c.honorRequestCacheControl,
    lockTimeout: c.lockTimeout,
    purgeToken: c.purgeToken,
    statusName: c.statusName,
    logger,
  };
}
