// Property-based fuzzing of every reader (fast-check): a few hundred mutated seeds per reader, each
// parsed or refused with a FormatError; nothing else may escape. `npm run fuzz` (tools/fuzz.mjs) runs
// the same properties at 10,000+ cases per reader, with a time and memory limit on each input.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { check, fuzzCase, input } from './fuzz/mutate.js';
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
    await fc.assert(
      fc.asyncProperty(fuzzCase, async (c) => {
        counts[await check(target, input(target, seeds, c), scratch)]++;
      }),
      { numRuns: RUNS, seed: SEED },
    );
    // the mutations must reach past the first check: some inputs are refused, and not all by one message
    if (RUNS >= 100) {
      if (counts.refused + counts.limit === 0) throw new Error(`no input was refused: ${JSON.stringify(counts)}`);
    }
  });
}
