import { existsSync, statSync } from 'node:fs';
import { extname, isAbsolute, resolve } from 'node:path';
import { AnomalyError, ErrorCodes } from '../../core/errors.js';
import type { Runtime, RuntimeLimits } from '../../../runtimes/contract.js';
import { DEFAULT_LIMITS } from '../../../runtimes/contract.js';

/** The `app:` block as written in the config file (durations and sizes may still be strings). */
export interface AppConfigInput {
  file: string;
  engine?: string;
  instances?: number;
  deadline?: number | string;
  memory?: number | string;
  stack?: number | string;
  max_response?: number | string;
  queue?: number;
  queue_timeout?: number | string;
  reload?: boolean;
}

/** The normalised options an app runs with. */
export interface AppOptions {
  /** Absolute path of the app file. */
  readonly file: string;
  readonly runtime: Runtime;
  readonly instances: number;
  readonly limits: RuntimeLimits;
  /** Requests that may wait for a free instance; one more gets 503. */
  readonly queue: number;
  /** How long a request may wait for a free instance before it gets 503. */
  readonly queueTimeoutMs: number;
  readonly reload: boolean;
}

// Two instances: one slow request does not stall the app, and a pool stays cheap (an instance is
// one engine context, tens of KB to a few MB). Raise `instances` for CPU-bound apps.
export const DEFAULT_INSTANCES = 2;
export const DEFAULT_QUEUE = 256;
export const DEFAULT_QUEUE_TIMEOUT_MS = 10_000;

/** Which engine an extension means when `engine` is omitted (the first runtime claiming it otherwise). */
const PREFERRED_ENGINE: Readonly<Record<string, string>> = { '.js': 'quickjs', '.mjs': 'quickjs', '.lua': 'fengari' };

const DURATION = '^\\s*[0-9]+(\\.[0-9]+)?\\s*(ms|s|m|h)\\s*$';
const SIZE = '^\\s*[0-9]+(\\.[0-9]+)?\\s*([kKmMgG]?[bB])\\s*$';
const durationSchema = { anyOf: [{ type: 'number', minimum: 0 }, { type: 'string', pattern: DURATION }] };
const sizeSchema = { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: SIZE }] };

/** JSON schema (draft-07) of the `app:` block. */
export const appSchema: Record<string, unknown> = {
  type: 'object',
  additionalProperties: false,
  required: ['file'],
  properties: {
    file: { type: 'string', minLength: 1 },
    engine: { type: 'string', minLength: 1 },
    instances: { type: 'integer', minimum: 1, maximum: 1024 },
    deadline: durationSchema,
    memory: sizeSchema,
    stack: sizeSchema,
    max_response: sizeSchema,
    queue: { type: 'integer', minimum: 0 },
    queue_timeout: durationSchema,
    reload: { type: 'boolean' },
  },
};

const DURATION_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_BYTES: Readonly<Record<string, number>> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

function withUnit(field: string, value: number | string, units: Readonly<Record<string, number>>, what: string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
  } else {
    const m = /^([0-9]+(?:\.[0-9]+)?)\s*([a-z]+)$/.exec(value.trim().toLowerCase());
    const factor = m === null ? undefined : units[m[2]];
    if (m !== null && factor !== undefined) return Math.round(Number(m[1]) * factor);
  }
  throw new AnomalyError(ErrorCodes.CONFIG_MODULE, `app.${field}: ${JSON.stringify(value)} is not ${what}`);
}

const duration = (field: string, v: number | string | undefined, fallback: number): number =>
  v === undefined ? fallback : withUnit(field, v, DURATION_MS, 'a duration (like "500ms", "5s")');
const size = (field: string, v: number | string | undefined, fallback: number): number =>
  v === undefined ? fallback : withUnit(field, v, SIZE_BYTES, 'a size (like "64mb")');

/** Picks the engine: the one named, or the one the file's extension implies. */
export function chooseRuntime(file: string, engine: string | undefined, runtimes: ReadonlyArray<Runtime>): Runtime {
  const known = runtimes.length === 0 ? 'none available' : runtimes.map((r) => `${r.id} (${r.extensions.join(', ')})`).join(', ');
  if (engine !== undefined) {
    const found = runtimes.find((r) => r.id === engine);
    if (found === undefined) throw new AnomalyError(ErrorCodes.CONFIG_MODULE, `${file}: unknown engine "${engine}"; known engines: ${known}`);
    return found;
  }
  const ext = extname(file).toLowerCase();
  const preferred = PREFERRED_ENGINE[ext];
  const found = runtimes.find((r) => r.id === preferred) ?? runtimes.find((r) => r.extensions.includes(ext));
  if (found === undefined) {
    throw new AnomalyError(
      ErrorCodes.CONFIG_MODULE,
      `${file}: cannot tell the engine from the extension "${ext || '(none)'}"; set app.engine to one of the known engines: ${known}`,
    );
  }
  return found;
}

export function normaliseAppConfig(input: AppConfigInput, baseDir: string, runtimes: ReadonlyArray<Runtime>): AppOptions {
  const file = isAbsolute(input.file) ? resolve(input.file) : resolve(baseDir, input.file);
  if (!existsSync(file) || !statSync(file).isFile()) throw new AnomalyError(ErrorCodes.CONFIG_MODULE, `app file not found: ${file}`);
  const runtime = chooseRuntime(file, input.engine, runtimes);
  const limits: RuntimeLimits = {
    deadlineMs: duration('deadline', input.deadline, DEFAULT_LIMITS.deadlineMs),
    memoryBytes: size('memory', input.memory, DEFAULT_LIMITS.memoryBytes),
    stackBytes: size('stack', input.stack, DEFAULT_LIMITS.stackBytes),
    maxResponseBytes: size('max_response', input.max_response, DEFAULT_LIMITS.maxResponseBytes),
  };
  return {
    file,
    runtime,
    instances: input.instances ?? DEFAULT_INSTANCES,
    limits,
    queue: input.queue ?? DEFAULT_QUEUE,
    queueTimeoutMs: duration('queue_timeout', input.queue_timeout, DEFAULT_QUEUE_TIMEOUT_MS),
    reload: input.reload ?? true,
  };
}
