// The reports committed under docs/results/NAME/ (of an experiment or of a single training run) are
// what `resnet report` makes of the logs committed beside them (docs/results/NAME/logs/): their
// numbers come from those logs.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeReport } from '../src/report/report.js';

const RESULTS = fileURLToPath(new URL('../../docs/results/', import.meta.url));
const reports = readdirSync(RESULTS, { withFileTypes: true })
  .filter((d) => d.isDirectory() && ['experiment.json', 'log.jsonl'].some((f) => existsSync(join(RESULTS, d.name, 'logs', f))))
  .map((d) => d.name);

for (const name of reports) {
  it(`docs/results/${name}: the committed report is regenerated from its committed logs`, async () => {
    const out = mkdtempSync(join(tmpdir(), `resnet-results-${name}-`));
    const r = await writeReport(join(RESULTS, name, 'logs'), { out });
    for (const file of r.files) {
      assert.equal(readFileSync(join(out, file), 'utf8'), readFileSync(join(RESULTS, name, file), 'utf8'), `${name}/${file}`);
    }
  });
}
