export { CacheZones } from './zones.js';
export { CacheZone } from './zone.js';
export { cacheHandler, type CacheLayerOptions } from './layer.js';
export { compileKey, DEFAULT_KEY, type KeyFunction } from './key.js';
export type { CacheEntry } from './entry.js';
export type { CacheStore, StoreStats } from './stores/store.js';
export { MemoryStore } from './stores/memory.js';
export { DiskStore } from './stores/disk.js';
// RedisStore is imported from './stores/redis.js' directly: it loads the Redis client.
