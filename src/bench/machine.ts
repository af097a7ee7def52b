// The machine line of the benchmark report: which CPU, and how wide its vectors are. The peers'
// native code runs 256- or 512-bit vectors where the CPU has them and our WebAssembly 128-bit ones
// everywhere, so the ratios depend on it, and "AMD EPYC" alone names several generations.

import { readFileSync } from 'node:fs';

/** /proc/cpuinfo's text, or undefined where there is none (not Linux). */
export function readCpuinfo(): string | undefined {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * The CPU's model name, with its family and model numbers and widest vector extension when
 * `cpuinfo` (/proc/cpuinfo's text) tells them: "AMD EPYC (family 26 model 2, AVX-512)".
 */
export function describeCpu(modelName: string, cpuinfo: string | undefined): string {
  const name = modelName.trim() || 'unknown CPU';
  if (cpuinfo === undefined) return name;
  const field = (key: string) => new RegExp(`^${key}\\s*:\\s*(.*)$`, 'm').exec(cpuinfo)?.[1]?.trim();
  const flags = new Set((field('flags') ?? field('Features') ?? '').split(/\s+/));
  const isa = flags.has('avx512f') ? 'AVX-512' : flags.has('avx2') ? 'AVX2' : flags.has('avx') ? 'AVX'
    : flags.has('asimd') ? 'NEON' : undefined;
  const family = field('cpu family'), model = field('model');
  const parts = [family !== undefined && model !== undefined ? `family ${family} model ${model}` : undefined, isa]
    .filter((p) => p !== undefined);
  return parts.length > 0 ? `${name} (${parts.join(', ')})` : name;
}
