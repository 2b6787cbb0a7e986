import { isAbsolute, resolve } from 'node:path';

/** The `static:` block as written in the config file (sizes may still be strings). */
export interface StaticConfigInput {
  root: string;
  index?: string[];
  listing?: boolean;
  precompressed?: Array<'br' | 'gzip'>;
  compress?: boolean;
  compress_min_size?: number | string;
  cache_control?: string;
  follow_symlinks?: boolean;
  hide_dotfiles?: boolean;
  memory_cache?: { max_file_size?: number | string; max_size?: number | string };
}

/** The normalised options the handler runs with. */
export interface StaticOptions {
  readonly root: string;
  readonly index: readonly string[];
  readonly listing: boolean;
  readonly precompressed: ReadonlyArray<'br' | 'gzip'>;
  readonly compress: boolean;
  readonly compressMinSize: number;
  readonly cacheControl: string | null;
  readonly followSymlinks: boolean;
  readonly hideDotfiles: boolean;
  readonly maxFileSize: number;
  readonly maxCacheSize: number;
}

const SIZE_PATTERN = '^\\s*[0-9]+(\\.[0-9]+)?\\s*([kKmMgGtT]?[bB])?\\s*$';
const sizeSchema = { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: SIZE_PATTERN }] };

/** JSON schema (draft-07) of the `static:` block. */
export const staticSchema: Record<string, unknown> = {
  type: 'object',
  additionalProperties: false,
  required: ['root'],
  properties: {
    root: { type: 'string', minLength: 1 },
    index: { type: 'array', items: { type: 'string', minLength: 1, pattern: '^[^/\\\\]+$' } },
    listing: { type: 'boolean' },
    precompressed: { type: 'array', items: { enum: ['br', 'gzip'] }, uniqueItems: true },
    compress: { type: 'boolean' },
    compress_min_size: sizeSchema,
    cache_control: { type: 'string' },
    follow_symlinks: { type: 'boolean' },
    hide_dotfiles: { type: 'boolean' },
    memory_cache: {
      type: 'object',
      additionalProperties: false,
      properties: { max_file_size: sizeSchema, max_size: sizeSchema },
    },
  },
};

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 };

/** "256kb" -> 262144; numbers pass through. Returns NaN for anything it cannot read. */
export function parseSize(value: number | string): number {
  if (typeof value === 'number') return value >= 0 && Number.isFinite(value) ? Math.floor(value) : NaN;
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?b)?\s*$/i.exec(value);
  if (m === null) return NaN;
  return Math.floor(Number(m[1]) * UNITS[(m[2] ?? '').toLowerCase()]);
}

export function normaliseOptions(input: StaticConfigInput, baseDir: string): StaticOptions {
  const size = (field: string, value: number | string | undefined, fallback: number): number => {
    if (value === undefined) return fallback;
    const n = parseSize(value);
    if (Number.isNaN(n)) throw new TypeError(`static.${field}: "${String(value)}" is not a size`);
    return n;
  };
  return {
    root: isAbsolute(input.root) ? resolve(input.root) : resolve(baseDir, input.root),
    index: input.index ?? ['index.html'],
    listing: input.listing ?? false,
    precompressed: input.precompressed ?? ['br', 'gzip'],
    compress: input.compress ?? true,
    compressMinSize: size('compress_min_size', input.compress_min_size, 1024),
    cacheControl: input.cache_control ?? null,
    followSymlinks: input.follow_symlinks ?? false,
    hideDotfiles: input.hide_dotfiles ?? true,
    maxFileSize: size('memory_cache.max_file_size', input.memory_cache?.max_file_size, 256 * 1024),
    maxCacheSize: size('memory_cache.max_size', input.memory_cache?.max_size, 64 * 1024 * 1024),
  };
}
