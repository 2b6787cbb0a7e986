import { AnomalyError, ErrorCodes } from '../core/errors.js';

/** Result of parsing a config value: the normalised number, or a sentence saying what was expected. */
export type UnitResult = { ok: true; value: number } | { ok: false; expected: string };

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Readonly<Record<string, number>> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

const DURATION_EXPECTED = 'a duration: a number of milliseconds or a string like "500ms", "10s", "2m", "1h", "30d"';
const SIZE_EXPECTED = 'a size: a number of bytes or a string like "512b", "16kb", "10mb", "1gb"';

// A number, optional fraction, optional spaces, then letters: "10s", "1.5mb", "16 kb".
const WITH_UNIT = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/;

function parseWithUnit(value: unknown, units: Readonly<Record<string, number>>, expected: string, integral: boolean): UnitResult {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return { ok: false, expected };
    if (integral && !Number.isInteger(value)) return { ok: false, expected };
    return { ok: true, value };
  }
  if (typeof value !== 'string') return { ok: false, expected };
  const match = WITH_UNIT.exec(value.trim().toLowerCase());
  if (match === null) return { ok: false, expected };
  const factor = units[match[2]];
  if (factor === undefined) return { ok: false, expected };
  const result = Math.round(Number(match[1]) * factor);
  if (!Number.isSafeInteger(result)) return { ok: false, expected };
  return { ok: true, value: result };
}

/** Duration as in the config: a number of milliseconds, or "500ms" | "10s" | "2m" | "1h". */
export function tryParseDuration(value: unknown): UnitResult {
  return parseWithUnit(value, DURATION_UNITS, DURATION_EXPECTED, false);
}

/** Size as in the config: a number of bytes, or "512b" | "16kb" | "10mb" | "1gb" (powers of 1024). */
export function tryParseSize(value: unknown): UnitResult {
  return parseWithUnit(value, SIZE_UNITS, SIZE_EXPECTED, true);
}

/** Milliseconds from a config duration; throws AnomalyError(CONFIG_INVALID) naming the bad value. */
export function parseDuration(value: string | number): number {
  return unwrap(tryParseDuration(value), value, 'duration');
}

/** Bytes from a config size; throws AnomalyError(CONFIG_INVALID) naming the bad value. */
export function parseSize(value: string | number): number {
  return unwrap(tryParseSize(value), value, 'size');
}

function unwrap(result: UnitResult, value: unknown, what: string): number {
  if (result.ok) return result.value;
  throw new AnomalyError(ErrorCodes.CONFIG_INVALID, `invalid ${what} ${describeValue(value)}: expected ${result.expected}`);
}

/** A value as it would appear in a message: strings quoted, collections named. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing (null)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  return String(value);
}
