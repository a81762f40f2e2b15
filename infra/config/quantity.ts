/**
 * Kubernetes resource quantities (`100m`, `0.5`, `128Mi`, `1e3`, `1G`), parsed to a number so
 * that `mogi:resources` can be checked as the API server and the scheduler read it: no negative
 * or zero amounts, no request above its limit.
 */

/** The quantity grammar of k8s.io/apimachinery `resource.Quantity` (sign, number, one suffix). */
const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:([eE][+-]?\d+)|([numkMGTPE]|[KMGTPE]i))?$/;

const DECIMAL_SUFFIXES: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
const BINARY_SUFFIXES: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };

/** The amount a quantity stands for (cores for cpu, bytes for memory), or undefined when it is not one. */
export function quantityValue(text: string): number | undefined {
  const match = QUANTITY.exec(text.trim());
  if (!match) return undefined;
  const [, sign, digits, exponent, suffix = ""] = match;
  const scale = exponent !== undefined ? 10 ** Number(exponent.slice(1)) : (BINARY_SUFFIXES[suffix] ?? DECIMAL_SUFFIXES[suffix]);
  return (sign === "-" ? -1 : 1) * Number(digits) * scale;
}

export const QUANTITY_EXAMPLES = "e.g. 100m, 0.5, 128Mi, 1Gi";

/** Why `text` is not a usable amount of a resource, or undefined. */
export function quantityProblem(text: string): string | undefined {
  const value = quantityValue(text);
  if (value === undefined) return `is not a Kubernetes quantity (${QUANTITY_EXAMPLES})`;
  if (value <= 0) return `must be greater than zero (${QUANTITY_EXAMPLES})`;
  return undefined;
}
