#!/usr/bin/env node
// `npm run fuzz`: every reader of test/fuzz/targets.ts under 10,000 mutated inputs (FUZZ_RUNS),
// each reader in a child process of its own. An input fails the run when reading it throws anything
// but a FormatError (TypeError, RangeError, SyntaxError, a bare Error), takes more than 2 s
// (FUZZ_TIME_MS), or raises the process's peak RSS by more than 1 GiB (FUZZ_MEMORY_MB); a child
// that does not finish within FUZZ_CHILD_S seconds is a hang. Prints the counts per reader (read,
// refused, refused by a limit) and writes them to FUZZ_OUT (default fuzz-results.json) when set.
//
//   npm run build && nice -n 19 npm run fuzz                 all readers, 10,000 inputs each
//   FUZZ_RUNS=1000 node tools/fuzz.mjs pth-zip pickle        some readers, fewer inputs
//   FUZZ_SEED=123 node tools/fuzz.mjs idx                    replay a run

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
process.env.FUZZ_LARGE_SEEDS ??= '1'; // torch's full-size fixtures among the seeds
const TIME_MS = Number(process.env.FUZZ_TIME_MS ?? 2000);
const MEMORY_MB = Number(process.env.FUZZ_MEMORY_MB ?? 1024);
const CHILD_S = Number(process.env.FUZZ_CHILD_S ?? 1800);
const dist = new URL('../dist/test/fuzz/', import.meta.url);

if (process.argv[2] === '--child') await child(process.argv[3], Number(process.argv[4]));
else process.exitCode = await parent(process.argv.slice(2));

async function parent(names) {
  const { TARGETS } = await import(new URL('targets.js', dist).href);
  const targets = names.length ? TARGETS.filter((t) => names.includes(t.name)) : TARGETS;
  if (targets.length === 0) {
    console.error(`unknown reader; known: ${TARGETS.map((t) => t.name).join(', ')}`);
    return 2;
  }
  const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
  console.log(`fuzz: ${RUNS} inputs per reader, seed ${seed}, ${TIME_MS} ms of CPU time and ${MEMORY_MB} MiB per input`);
  const results = [];
  let failed = false;
  for (const t of targets) {
    const started = Date.now();
    const r = await runChild(t.name, seed);
    r.seconds = Math.round((Date.now() - started) / 100) / 10;
    results.push(r);
    failed ||= !r.ok;
    const c = r.counts ?? {};
    console.log(`${t.name.padEnd(14)} ${r.ok ? 'ok  ' : 'FAIL'} ${String(c.cases ?? 0).padStart(6)} inputs: ${c.parsed ?? 0} read, ${c.refused ?? 0} refused, ${c.limit ?? 0} over a limit; slowest ${c.slowestMs ?? '?'} ms CPU (${c.slowestWallMs ?? '?'} ms wall), peak RSS +${c.rssGrowthMb ?? '?'} MiB, ${r.seconds} s${r.ok ? '' : `\n  ${r.error}`}`);
  }
  if (process.env.FUZZ_OUT) writeFileSync(process.env.FUZZ_OUT, JSON.stringify({ runs: RUNS, seed, timeMs: TIME_MS, memoryMb: MEMORY_MB, results }, null, 2));
  return failed ? 1 : 0;
}

function runChild(name, seed) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', name, String(seed)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), CHILD_S * 1000);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      let report;
      try {
        report = JSON.parse(last);
      } catch {
        report = { ok: false, error: signal === 'SIGKILL' ? `hang: did not finish within ${CHILD_S} s` : `exited with ${code ?? signal}: ${out.slice(-2000)}` };
      }
      resolve({ name, ...report });
    });
  });
}

async function child(name, seed) {
  const fc = (await import('fast-check')).default;
  const { TARGETS } = await import(new URL('targets.js', dist).href);
  const { check, fuzzCase, input } = await import(new URL('mutate.js', dist).href);
  const target = TARGETS.find((t) => t.name === name);
  const seeds = await target.seeds();
  const scratch = mkdtempSync(join(tmpdir(), `fuzz-${name}-`));
  const counts = { cases: 0, parsed: 0, refused: 0, limit: 0, slowestMs: 0, slowestWallMs: 0, rssGrowthMb: 0 };
  for (const s of seeds) await target.parse(target.wrap ? target.wrap(s.bytes) : s.bytes, scratch); // warm up: valid, and compiled
  const baseKb = process.resourceUsage().maxRSS;
  let report;
  try {
    await fc.assert(
      fc.asyncProperty(fuzzCase, async (c) => {
        const bytes = input(target, seeds, c);
        const t0 = performance.now();
        const cpu0 = process.cpuUsage();
        const outcome = await check(target, bytes, scratch);
        const cpu = process.cpuUsage(cpu0);
        const ms = (cpu.user + cpu.system) / 1000;
        counts.slowestWallMs = Math.max(counts.slowestWallMs, Math.round(performance.now() - t0));
        const growthMb = (process.resourceUsage().maxRSS - baseKb) / 1024;
        counts.cases++;
        counts[outcome]++;
        counts.slowestMs = Math.max(counts.slowestMs, Math.round(ms));
        counts.rssGrowthMb = Math.max(counts.rssGrowthMb, Math.round(growthMb));
        if (ms > TIME_MS) throw new Error(`an input of ${bytes.length} bytes took ${Math.round(ms)} ms of CPU time (limit ${TIME_MS})`);
        if (growthMb > MEMORY_MB) throw new Error(`an input of ${bytes.length} bytes raised the peak RSS by ${Math.round(growthMb)} MiB (limit ${MEMORY_MB})`);
      }),
      { numRuns: RUNS, seed, endOnFailure: true },
    );
    report = { ok: true, counts };
  } catch (e) {
    report = { ok: false, counts, error: String(e.message ?? e).slice(0, 4000) };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  console.log(JSON.stringify(report));
  process.exit(0); // a reader may leave handles (sharp's threads) that would keep the child alive
}
