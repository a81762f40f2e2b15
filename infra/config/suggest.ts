/** "Did you mean …?": the known name nearest a misspelt one. */

/** Levenshtein distance, case-insensitive (a wrong case is a one-letter slip, not a new word). */
export function editDistance(a: string, b: string): number {
  const [s, t] = [a.toLowerCase(), b.toLowerCase()];
  let previous = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const current = [i];
    for (let j = 1; j <= t.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (s[i - 1] === t[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[t.length];
}

/**
 * The known name nearest `name`, when it is near enough to be a slip (at most a third of its
 * letters, at least 2, or the same letters in another case); undefined otherwise.
 */
export function nearest(name: string, known: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    if (!best || distance < best.distance) best = { name: candidate, distance };
  }
  if (!best) return undefined;
  const allowed = Math.max(2, Math.floor(Math.max(name.length, best.name.length) / 3));
  return best.distance <= allowed ? best.name : undefined;
}
