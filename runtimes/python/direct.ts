/**
 * A request into Python through CPython's C API as pyodide exports it, instead of a PyProxy call:
 * the frame is written as UTF-8 into the interpreter's memory (PyUnicode_FromStringAndSize), the body
 * becomes bytes in place (PyBytes_FromStringAndSize), the bound handler is called with
 * PyObject_Vectorcall, and an answer string is read back as UTF-8 where it lies (PyUnicode_AsUTF8AndSize).
 *
 * Measured with cold caches, as a server runs a request (bench/micro/python-call.mjs, README.md): the
 * PyProxy call of the same function costs ≈20 µs more per hello request (argument conversion through
 * pyodide's JS, the Proxy trap, the answer rebuilt char by char).
 *
 * Everything used here is exported by pyodide's build (Module._Py…, PyProxy_getPtr, _python2js); a
 * build without them gets null from directCaller() and the caller keeps the PyProxy call.
 */
import type { Pyodide } from './boot.js';

interface CApi {
  HEAPU8: Uint8Array;
  HEAPU32: Uint32Array;
  error: unknown;
  _malloc(n: number): number;
  _free(p: number): void;
  _PyUnicode_FromStringAndSize(p: number, n: number): number;
  _PyUnicode_AsUTF8AndSize(o: number, size: number): number;
  _PyBytes_FromStringAndSize(p: number, n: number): number;
  _PyBytes_AsString(o: number): number;
  _PyObject_Vectorcall(fn: number, args: number, nargs: number, kwnames: number): number;
  _PyErr_Clear(): void;
  _Py_DecRef(o: number): void;
  _python2js(o: number): unknown;
  _pythonexc2js(): void;
  PyProxy_getPtr(proxy: unknown): number;
}

const NEEDED = [
  '_malloc', '_free', '_PyUnicode_FromStringAndSize', '_PyUnicode_AsUTF8AndSize', '_PyBytes_FromStringAndSize', '_PyBytes_AsString',
  '_PyObject_Vectorcall', '_PyErr_Clear', '_Py_DecRef', '_python2js', '_pythonexc2js', 'PyProxy_getPtr',
] as const;

/** Calls one bound entry (host.entry) with (frame, body bytes or None); answers a JS string or what pyodide converts. */
export type DirectCall = (frame: string, body: Uint8Array) => unknown;

export interface DirectCaller {
  /** The call of a Python callable (a PyProxy the caller keeps alive as long as the call is used). */
  bind(callable: unknown): DirectCall;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function directCaller(py: Pyodide): DirectCaller | null {
  const m = py._module as unknown as CApi;
  if (NEEDED.some((name) => typeof m[name] !== 'function')) return null;
  // Scratch in the interpreter's heap: the argument vector, the answer's size, then the frame's UTF-8.
  let scratch = 0;
  let capacity = 0;
  const reserve = (bytes: number): void => {
    if (bytes <= capacity) return;
    const size = Math.max(bytes, 4096);
    const p = m._malloc(16 + size);
    if (p === 0) throw new Error('python: out of memory for the request frame');
    if (scratch !== 0) m._free(scratch);
    scratch = p;
    capacity = size;
  };
  reserve(4096);

  /** A Python exception the glue did not catch (it catches everything the app raises): as a JS error. */
  const raised = (): Error => {
    try {
      m._pythonexc2js(); // throws the pending exception as a PythonError
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
    m._PyErr_Clear();
    return new Error('python: the call failed');
  };

  return {
    bind(callable: unknown): DirectCall {
      const fn = m.PyProxy_getPtr(callable);
      return (frame: string, body: Uint8Array): unknown => {
        reserve(frame.length * 3); // UTF-8 of a UTF-16 string takes at most 3 bytes per unit
        const at = scratch + 16;
        const { written } = encoder.encodeInto(frame, m.HEAPU8.subarray(at, at + capacity));
        const text = m._PyUnicode_FromStringAndSize(at, written);
        if (text === 0) throw raised();
        let nargs = 1;
        let bytes = 0;
        if (body.length > 0) {
          bytes = m._PyBytes_FromStringAndSize(0, body.length);
          if (bytes === 0) {
            m._Py_DecRef(text);
            throw raised();
          }
          m.HEAPU8.set(body, m._PyBytes_AsString(bytes)); // HEAPU8 read again: the allocation may have grown the heap
          nargs = 2;
        }
        const u32 = m.HEAPU32;
        u32[scratch >> 2] = text;
        u32[(scratch >> 2) + 1] = bytes;
        const res = m._PyObject_Vectorcall(fn, scratch, nargs, 0);
        m._Py_DecRef(text);
        if (bytes !== 0) m._Py_DecRef(bytes);
        if (res === 0) throw raised();
        try {
          const utf8 = m._PyUnicode_AsUTF8AndSize(res, scratch + 8);
          if (utf8 !== 0) return decoder.decode(m.HEAPU8.subarray(utf8, utf8 + m.HEAPU32[(scratch + 8) >> 2]));
          // Not a str (a failure list, bytes, an async handler's task): pyodide's own conversion.
          m._PyErr_Clear();
          const value = m._python2js(res);
          if (value === m.error) throw raised();
          return value;
        } finally {
          m._Py_DecRef(res);
        }
      };
    },
  };
}
