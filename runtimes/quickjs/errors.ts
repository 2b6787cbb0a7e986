/** Turning a QuickJS exception (as dumped by ctx.dump) into a GuestError with the guest's file and line. */
import { GuestError, type GuestErrorKind } from '../contract.js';

/** What ctx.dump() gives for a thrown value: an error-like object, or any JSON value. */
export interface DumpedError {
  name?: unknown;
  message?: unknown;
  stack?: unknown;
  fileName?: unknown;
  lineNumber?: unknown;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The line in `file` where the error happened: SyntaxErrors carry fileName/lineNumber; runtime errors
 * only a stack ("    at fn (/app/app.js:3:9)"), whose first frame may be inside the binding.
 */
export function guestLine(dumped: unknown, file: string): number | null {
  if (dumped === null || typeof dumped !== 'object') return null;
  const d = dumped as DumpedError;
  if (d.fileName === file && typeof d.lineNumber === 'number') return d.lineNumber;
  if (typeof d.stack === 'string') {
    const m = new RegExp(`${escapeRegExp(file)}:(\\d+)`).exec(d.stack);
    if (m) return Number(m[1]);
  }
  return null;
}

export function guestMessage(dumped: unknown): string {
  if (dumped !== null && typeof dumped === 'object') {
    const d = dumped as DumpedError;
    if (typeof d.message === 'string') return typeof d.name === 'string' && d.name !== 'Error' ? `${d.name}: ${d.message}` : d.message;
  }
  if (typeof dumped === 'string') return dumped;
  try {
    return `uncaught ${JSON.stringify(dumped) ?? String(dumped)}`;
  } catch {
    return 'uncaught guest value';
  }
}

/** QuickJS reports allocation failure as InternalError "out of memory" (catchable by the guest, alas). */
export function isOutOfMemory(dumped: unknown): boolean {
  return dumped !== null && typeof dumped === 'object' && (dumped as DumpedError).message === 'out of memory';
}

export function toGuestError(kind: GuestErrorKind, dumped: unknown, file: string, prefix = ''): GuestError {
  return new GuestError(kind, prefix + guestMessage(dumped), { file, line: guestLine(dumped, file) });
}
