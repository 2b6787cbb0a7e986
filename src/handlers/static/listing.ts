import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface ListingEntry {
  readonly name: string;
  readonly dir: boolean;
  readonly size: number;
  readonly mtimeMs: number;
}

/** At most this many entries are listed: a huge directory should not cost a huge page. */
const MAX_ENTRIES = 5000;

export async function readListing(dirPath: string, hideDotfiles: boolean): Promise<ListingEntry[]> {
  const names = await readdir(dirPath);
  const out: ListingEntry[] = [];
  for (const name of names) {
    if (out.length >= MAX_ENTRIES) break;
    if (hideDotfiles && name.charCodeAt(0) === 46) continue;
    try {
      const st = await stat(join(dirPath, name));
      if (!st.isFile() && !st.isDirectory()) continue;
      out.push({ name, dir: st.isDirectory(), size: st.size, mtimeMs: st.mtimeMs });
    } catch {
      // broken symlink, or removed meanwhile: not listed
    }
  }
  out.sort((a, b) => (a.dir !== b.dir ? (a.dir ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return out;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function formatSize(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** `displayPath` is the decoded request path of the directory, shown in the title. */
export function renderListing(displayPath: string, entries: readonly ListingEntry[], atRoot: boolean): string {
  const title = escapeHtml(displayPath);
  const rows: string[] = [];
  if (!atRoot) rows.push('<tr><td><a href="../">../</a></td><td></td><td></td></tr>');
  for (const e of entries) {
    const href = encodeURIComponent(e.name) + (e.dir ? '/' : '');
    const label = escapeHtml(e.name) + (e.dir ? '/' : '');
    const size = e.dir ? '-' : formatSize(e.size);
    const when = new Date(e.mtimeMs).toISOString().replace('T', ' ').slice(0, 19);
    rows.push(`<tr><td><a href="./${href}">${label}</a></td><td>${size}</td><td>${when}</td></tr>`);
  }
  return (
    `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Index of ${title}</title>` +
    '<style>body{font-family:sans-serif}td{padding:2px 12px}td:nth-child(2){text-align:right}</style></head>\n' +
    `<body><h1>Index of ${title}</h1>\n<table>\n<tr><th>Name</th><th>Size</th><th>Modified (UTC)</th></tr>\n` +
    rows.join('\n') +
    '\n</table></body></html>\n'
  );
}
