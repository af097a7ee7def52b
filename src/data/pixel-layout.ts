// Pixel layouts. Images here are planar bytes [c, h, w], as tensors are; image libraries (sharp) and
// canvases give and take interleaved pixels [h, w, c] (RGBA: four bytes a pixel). No host API: the
// browser app uses it too.

/** Interleaved pixels [h·w, stride] to planar bytes [c, h·w]: the first `c` bytes of each pixel (stride 4, c 3: RGBA read as RGB). */
export function toPlanar(pixels: ArrayLike<number>, hw: number, c: number, stride = c): Uint8Array {
  if (pixels.length < hw * stride) throw new Error(`toPlanar: ${pixels.length} bytes are fewer than ${hw} pixels of ${stride}`);
  const out = new Uint8Array(c * hw);
  for (let ch = 0; ch < c; ch++) for (let p = 0; p < hw; p++) out[ch * hw + p] = pixels[p * stride + ch]!;
  return out;
}

/** Planar bytes [c, h·w] to interleaved pixels [h·w, c]. */
export function toInterleaved(planar: Uint8Array, hw: number, c: number): Uint8Array {
  if (planar.length !== c * hw) throw new Error(`toInterleaved: ${planar.length} bytes are not ${c} planes of ${hw} pixels`);
  const out = new Uint8Array(c * hw);
  for (let ch = 0; ch < c; ch++) for (let p = 0; p < hw; p++) out[p * c + ch] = planar[ch * hw + p]!;
  return out;
}
