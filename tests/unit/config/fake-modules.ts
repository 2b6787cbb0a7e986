import type { ModuleSchema } from '../../../src/config/index.js';

/** Stand-ins for the real handler modules, with the schemas they will have (docs/configuration.md). */
export const FAKE_MODULES: readonly ModuleSchema[] = [
  {
    id: 'static',
    schema: {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      additionalProperties: false,
      required: ['root'],
      properties: {
        root: { type: 'string', minLength: 1 },
        index: { type: 'array', items: { type: 'string' } },
        listing: { type: 'boolean' },
        precompressed: { type: 'array', items: { type: 'string', enum: ['br', 'gzip'] } },
        compress: { type: 'boolean' },
        compress_min_size: { type: ['integer', 'string'] },
        cache_control: { type: 'string' },
        follow_symlinks: { type: 'boolean' },
        memory_cache: {
          type: 'object',
          additionalProperties: false,
          properties: { max_file_size: { type: ['integer', 'string'] }, max_size: { type: ['integer', 'string'] } },
        },
      },
    },
  },
  {
    id: 'respond',
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        status: { type: 'integer', minimum: 100, maximum: 599 },
        body: { type: 'string' },
        headers: { type: 'object', additionalProperties: { type: 'string' } },
      },
    },
  },
  {
    id: 'redirect',
    schema: {
      type: 'object',
      additionalProperties: false,
      required: ['to'],
      properties: { to: { type: 'string', minLength: 1 }, status: { type: 'integer', enum: [301, 302, 303, 307, 308] } },
    },
  },
];
