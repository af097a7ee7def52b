// Weight initialization.

import type { Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * He et al., "Delving Deep into Rectifiers" (2015): N(0, 2 / fan_out) with
 * fan_out = out_channels · kh · kw, the mode torchvision's ResNet uses.
 */
export function kaimingNormalFanOut(weight: Tensor, rng: Rng): void {
  const [cOut, , kh = 1, kw = 1] = weight.shape;
  const std = Math.sqrt(2 / (cOut * kh * kw));
  const values = new Float64Array(weight.size);
  for (let i = 0; i < values.length; i++) values[i] = std * rng.normal();
  weight.set(values);
}

export function uniform(t: Tensor, low: number, high: number, rng: Rng): void {
  const values = new Float64Array(t.size);
  for (let i = 0; i < values.length; i++) values[i] = low + (high - low) * rng.float();
  t.set(values);
}
