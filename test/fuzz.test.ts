// Property-based fuzzing of every reader (fast-check): a few hundred mutated seeds per reader, each
// parsed or refused with a FormatError; nothing else may escape; inputs known to be bad (a file cut to
// its first byte) run in every run and must be refused. `npm run fuzz` (tools/fuzz.mjs) runs
// the same properties at 10,000+ cases per reader, with a time and memory limit on each input.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type FuzzCase, check, fuzzCase, input } from './fuzz/mutate.js';
import { TARGETS } from './fuzz/targets.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
const scratch = mkdtempSync(join(tmpdir(), 'fuzz-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

for (const target of TARGETS) {
  test(`fuzz ${target.name}: ${RUNS} mutated files are each read or refused with a FormatError`, async () => {
    const seeds = await target.seeds();
    const counts = { parsed: 0, refused: 0, limit: 0 };
    // the seeds themselves are valid
    for (const s of seeds) await target.parse(target.wrap ? target.wrap(s.bytes) : s.bytes, scratch);
    // Inputs every reader must refuse, in every run whatever FUZZ_RUNS: each seed cut to its first byte
    // (a compressed container's contents, and the container itself).
    const knownBad: FuzzCase[] = seeds.flatMap((_, seed) => [false, true].map((outer) => ({ seed, outer, mutations: [{ kind: 'truncate' as const, at: 1 }] })));
    await fc.assert(
      fc.asyncProperty(fuzzCase, async (c) => {
        const outcome = await check(target, input(target, seeds, c), scratch);
        if (outcome === 'parsed' && knownBad.includes(c)) throw new Error(`a file cut to its first byte was read as valid: ${JSON.stringify(c)}`);
        counts[outcome]++;
      }),
      { numRuns: RUNS + knownBad.length, seed: SEED, examples: knownBad.map((c) => [c]) },
    );
    assert.ok(counts.refused + counts.limit >= knownBad.length, `the known-bad inputs ran (as fast-check examples) and were refused: ${JSON.stringify(counts)}`);
  });
}
