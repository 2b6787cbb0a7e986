/** Finds the known name closest to a misspelt one, for "did you mean ...?" hints. */
export function closestName(name: string, known: Iterable<string>): string | null {
  const wanted = simplify(name);
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const simple = simplify(candidate);
    // "maxBody" or "max-body" for "max_body" is a spelling convention, not a typo: always suggest.
    const distance = simple === wanted ? 0 : editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best === null) return null;
  // About two edits in five letters: "plane" finds "plain", "tls" does not find "key".
  const allowed = Math.max(1, Math.floor(Math.max(name.length, best.length) * 0.4));
  return bestDistance <= allowed ? best : null;
}

function simplify(name: string): string {
  return name.toLowerCase().replace(/[-_\s]/g, '');
}

/** Damerau-Levenshtein (optimal string alignment): a swapped pair of letters counts as one edit. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(d[(i - 1) * cols + j] + 1, d[i * cols + j - 1] + 1, d[(i - 1) * cols + j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, d[(i - 2) * cols + j - 2] + 1);
      d[i * cols + j] = value;
    }
  }
  return d[rows * cols - 1];
}
