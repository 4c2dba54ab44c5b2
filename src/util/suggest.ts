/** Edit distance, for "did you mean …" hints on misspelt options and URL schemes. */
export function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] ?? 0;
      row[j] = Math.min(cur + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] ?? 0;
}

/** The closest candidate within a small distance, or null. Case-insensitive. */
export function didYouMean(input: string, candidates: Iterable<string>): string | null {
  let best: string | null = null;
  let bestDistance = Math.max(input.length > 5 ? 3 : 2, Math.floor(input.length / 3)) + 1;
  const lower = input.toLowerCase();
  for (const c of candidates) {
    const d = levenshtein(lower, c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

export function hint(input: string, candidates: Iterable<string>): string {
  const s = didYouMean(input, candidates);
  return s ? ` (did you mean "${s}"?)` : '';
}
