#!/usr/bin/env node
// Lines per folder, to keep the size of each part of resnet-ts in view (printed by CI, never
// enforced). Counts the files git tracks: lines, and code lines (neither blank nor only a comment).
//
//   node tools/size-report.mjs [--json]

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, extname } from 'node:path';

const CODE = new Set(['.ts', '.mjs', '.js', '.py', '.css', '.html']);
const COMMENT = { '.py': /^\s*#/, default: /^\s*(\/\/|\/\*|\*)/ };
/** Folders reported one level deeper (src/models, src/kernels/wasm, …); others as a whole. */
const DEEP = ['src', 'src/kernels', 'web'];

const files = execFileSync('git', ['ls-files'], { encoding: 'utf8' }).split('\n').filter((f) => CODE.has(extname(f)));
const rows = new Map();
for (const file of files) {
  const parts = dirname(file).split('/');
  let folder = parts[0] === '.' ? '(root)' : parts[0];
  for (let depth = 1; depth < parts.length && DEEP.includes(folder); depth++) folder = parts.slice(0, depth + 1).join('/');
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const comment = COMMENT[extname(file)] ?? COMMENT.default;
  const row = rows.get(folder) ?? { folder, files: 0, lines: 0, code: 0 };
  row.files++;
  row.lines += lines.length;
  row.code += lines.filter((l) => l.trim() !== '' && !comment.test(l)).length;
  rows.set(folder, row);
}
const sorted = [...rows.values()].sort((a, b) => a.folder.localeCompare(b.folder));
const src = sorted.filter((r) => r.folder === 'src' || r.folder.startsWith('src/'));
const total = (rs, folder) => rs.reduce((t, r) => ({ folder, files: t.files + r.files, lines: t.lines + r.lines, code: t.code + r.code }), { folder, files: 0, lines: 0, code: 0 });
const all = [...sorted, total(src, 'src (all)'), total(sorted, 'total')];

if (process.argv.includes('--json')) {
  console.log(JSON.stringify(all, null, 2));
} else {
  const width = Math.max(...all.map((r) => r.folder.length));
  console.log(`${'folder'.padEnd(width)}  ${'files'.padStart(5)}  ${'lines'.padStart(6)}  ${'code'.padStart(6)}`);
  for (const r of all) {
    if (r.folder === 'src (all)') console.log('-'.repeat(width + 23));
    console.log(`${r.folder.padEnd(width)}  ${String(r.files).padStart(5)}  ${String(r.lines).padStart(6)}  ${String(r.code).padStart(6)}`);
  }
}
