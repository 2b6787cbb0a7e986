import mime from 'mime-types';
import { extname } from 'node:path';

export const DEFAULT_TYPE = 'application/octet-stream';

/** Content-Type by file extension, with "; charset=utf-8" for text types; memoised per extension. */
export class MimeTable {
  readonly #byExt = new Map<string, string>();

  typeFor(path: string): string {
    const ext = extname(path).toLowerCase();
    let type = this.#byExt.get(ext);
    if (type === undefined) {
      const looked = ext.length > 1 ? mime.lookup(ext) : false;
      type = looked === false ? DEFAULT_TYPE : mime.charset(looked) !== false ? `${looked}; charset=utf-8` : looked;
      if (this.#byExt.size < 1024) this.#byExt.set(ext, type);
    }
    return type;
  }
}

const COMPRESSIBLE =
  /^(?:text\/|application\/(?:json|javascript|x-javascript|ecmascript|xml|xhtml\+xml|rss\+xml|atom\+xml|wasm|manifest\+json|ld\+json|geo\+json|x-sh|x-tex|rtf|vnd\.ms-fontobject|x-font-ttf|font-sfnt)|[a-z]+\/[-.\w]+\+(?:json|xml)|image\/(?:svg\+xml|x-icon|vnd\.microsoft\.icon|bmp)|font\/(?:ttf|otf|collection))/i;

/** Worth compressing: text-like formats (already-compressed media, fonts like woff2, archives are not). */
export function isCompressible(contentType: string): boolean {
  return COMPRESSIBLE.test(contentType);
}
