import { constants, createBrotliCompress, createGzip, brotliCompress, gzip } from 'node:zlib';
import type { Transform } from 'node:stream';
import type { Coding } from './encoding.js';

/**
 * Levels chosen by measurement on JavaScript text: brotli 11 costs ~16 ms for 16 KiB and ~66 ms for 64 KiB but saves ~10% over quality 6, which is fine when
 * done once per cached file; larger cached files use quality 6 (~5 ms for 256 KiB). Streams use quality 5
 * and gzip 6, which keep up with the network.
 */
const BR_MAX_QUALITY_SIZE = 64 * 1024;

export function compressOnce(bytes: Buffer, coding: 'br' | 'gzip'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, out: Buffer): void => (err === null ? resolve(out) : reject(err));
    if (coding === 'br') {
      brotliCompress(
        bytes,
        {
          params: {
            [constants.BROTLI_PARAM_QUALITY]: bytes.length <= BR_MAX_QUALITY_SIZE ? 11 : 6,
            [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
          },
        },
        done,
      );
    } else {
      gzip(bytes, { level: 9 }, done);
    }
  });
}

export function compressStream(coding: Exclude<Coding, 'identity'>, sizeHint: number): Transform {
  if (coding === 'br') {
    return createBrotliCompress({
      params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_SIZE_HINT]: sizeHint },
    });
  }
  return createGzip({ level: 6 });
}
