// SPDX-License-Identifier: Apache-2.0
/**
 * log2 histograms as the BPF side fills them (ft_hist_slot in bpf/include/ft_common.h):
 * slot s counts values in [2^s, 2^(s+1)); slot 0 also counts 0; the last slot
 * counts everything above.
 */

export function slotLow(s: number): number {
  return s === 0 ? 0 : 2 ** s;
}

/**
 * The q-quantile (0 < q <= 1), interpolated linearly inside its slot. A log2
 * histogram only brackets a value within a factor of two; this is an estimate.
 */
export function quantile(hist: ArrayLike<number>, q: number): number {
  let total = 0;
  for (let i = 0; i < hist.length; i++) total += hist[i] as number;
  if (total === 0) return 0;
  const rank = q * total;
  let seen = 0;
  for (let s = 0; s < hist.length; s++) {
    const n = hist[s] as number;
    if (n > 0 && seen + n >= rank) {
      const lo = slotLow(s);
      const hi = 2 ** (s + 1);
      return lo + ((rank - seen) / n) * (hi - lo);
    }
    seen += n;
  }
  return 2 ** hist.length;
}
