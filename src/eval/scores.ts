// Class scores: probabilities from logits and the best classes.

/** Numerically stable softmax in float64. */
export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const p = Float64Array.from(logits, (v) => Math.exp(v - max));
  const total = p.reduce((a, b) => a + b, 0);
  return p.map((v) => v / total);
}

/** Indices of the k largest values, largest first (ties: lower index first). */
export function topK(values: ArrayLike<number>, k: number): number[] {
  const order = Array.from({ length: values.length }, (_, i) => i);
  order.sort((a, b) => values[b]! - values[a]! || a - b);
  return order.slice(0, k);
}

/** Rows of logits [n, classes] whose largest entry is not the label. */
export function countWrong(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number): number {
  let wrong = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let j = 1; j < classes; j++) if (logits[i * classes + j] > logits[i * classes + best]) best = j;
    if (best !== labels[i]) wrong++;
  }
  return wrong;
}
