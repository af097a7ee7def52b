// `resnet report DIR`: an experiment folder (experiment.json) or a single training run folder
// (log.jsonl) turned into a report: SVG figures, an HTML page and a Markdown summary (README.md).
// Every number comes from the folder's logs; nothing in the report depends on when it is made.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Experiment, getExperiment } from '../experiments/catalog.js';
import type { PaperRow } from '../experiments/paper.js';
import { type Manifest, RESPONSES, type ResponsesFile, readManifest } from '../experiments/runner.js';
import { summarize } from '../models/summary.js';
import { isNetName } from '../models/registry.js';
import { formatDuration } from '../train/progress.js';
import { getRecipe } from '../train/recipe.js';
import { type CurveSeries, curvesSpec, responsesSpec, runSpec } from './charts.js';
import { type Block, toHtml, toMarkdown } from './document.js';
import { type RunLog, finalTrainingError, readRunLog } from './logs.js';
import { renderSvg } from './render.js';

export interface ReportResult {
  out: string;
  /** Files written, relative to `out`. */
  files: string[];
  markdown: string;
}

/** Writes the report of `dir` into `out` (default DIR/report). */
export async function writeReport(dir: string, options: { out?: string } = {}): Promise<ReportResult> {
  const root = resolve(dir);
  const out = resolve(options.out ?? join(root, 'report'));
  const manifest = readManifest(root);
  let content: { title: string; blocks: Block[]; figures: Record<string, string> };
  if (manifest) content = await experimentReport(root, manifest);
  else if (existsSync(join(root, 'log.jsonl'))) content = await runReport(root);
  else throw new Error(`${root} holds neither an experiment (experiment.json) nor a training run (log.jsonl)`);
  mkdirSync(out, { recursive: true });
  const files: string[] = [];
  for (const [name, svg] of Object.entries(content.figures)) {
    writeFileSync(join(out, name), svg);
    files.push(name);
  }
  const markdown = toMarkdown(content.blocks);
  writeFileSync(join(out, 'README.md'), markdown);
  writeFileSync(join(out, 'index.html'), toHtml(content.title, content.blocks));
  files.push('README.md', 'index.html');
  return { out, files, markdown };
}

const pct = (x: number | null | undefined) => (x === null || x === undefined ? '–' : x.toFixed(2));
const millions = (n: number) => `${(n / 1e6).toFixed(2)}M`;

interface RunView {
  id: string;
  label: string;
  family: 'plain' | 'residual';
  depth: number;
  log: RunLog | null;
  finished: boolean;
  params: number | null;
  paper: PaperRow | undefined;
}

function runViews(root: string, m: Manifest, e: Experiment): RunView[] {
  return m.runs.map((r) => {
    const log = readRunLog(resolve(root, r.dir));
    // The options the run was built with; a run not started yet: the scale's, on the data's channels.
    const options = (log?.start?.options ?? { ...e.scales[m.scale].net, ...r.options, inChannels: m.data.channels ?? 3 }) as Record<string, unknown>;
    const params = isNetName(r.net) ? summarize(r.net, options).params : null;
    const paper = e.table?.rows.find((p) => p.id === (r.paperRow ?? r.id));
    return { id: r.id, label: r.label, family: r.family, depth: r.depth, log, finished: log?.end !== null && log?.end !== undefined, params, paper };
  });
}

/** What was run, in a few lines (the figures' subtitles and the report's opening). */
function whatWasRun(m: Manifest, runs: RunView[]): string[] {
  const wall = m.sessions.reduce((s, x) => s + x.wallSeconds, 0);
  const v = m.recipe.validation;
  const held = 'count' in v ? v.count : Math.round(v.fraction * m.data.train);
  const images = held > 0 ? `${m.data.train - held} training images (${held} more held out for validation)` : `${m.data.train} training images`;
  return [
    `${runs.map((r) => r.label).join(', ')}; data: ${m.data.name}, ${images}, ${m.data.test} test images`,
    `scale ${m.scale}: ${m.scaleSummary}`,
    `commit ${m.commit}; ${m.machine.cpus} × ${m.machine.cpu}; ${m.machine.backend} kernels; wall time ${formatDuration(wall)}`,
  ];
}

async function experimentReport(root: string, m: Manifest) {
  const e = getExperiment(m.experiment);
  const runs = runViews(root, m, e);
  const lines = whatWasRun(m, runs);
  const figures: Record<string, string> = {};
  const blocks: Block[] = [
    { kind: 'h1', text: `${e.name}: ${e.title}` },
    { kind: 'p', text: `Reproduces the paper's ${e.paper}. ${e.description}` },
    { kind: 'list', items: [...lines, `data found in \`${m.data.dir}\` (${m.data.how})`, ...(m.from ? [`networks trained by the experiment in \`${m.from}\``] : [])] },
    { kind: 'p', text: 'Reproduce with:' },
    { kind: 'code', text: `${m.command}\nresnet report DIR    # DIR: the experiment's --out (default runs/${e.name})` },
  ];
  if (e.figures.includes('curves')) {
    const series: CurveSeries[] = runs.filter((r) => r.log).map((r) => ({ label: r.label, family: r.family, depth: r.depth, points: r.log!.points }));
    const length = Math.max(...runs.map((r) => r.log?.total ?? 0), m.recipe.iterations ?? 0);
    figures['curves.svg'] = await renderSvg(curvesSpec(`${e.paper}: ${e.title}`, [...lines, `reproduce: ${m.command}`], series, length));
    blocks.push({ kind: 'figure', file: 'curves.svg', alt: `training (dashed) and test (bold) error against iterations, ${e.paper}` });
    blocks.push({ kind: 'p', text: 'Dashed thin lines: training error (mean of the logged steps, on the augmented training batches); ' +
      `bold lines: test error ${curveTestImages(e, m)}. As in the paper's figures.` });
  }
  if (e.table) blocks.push(...tableBlocks(e, m, runs));
  if (e.name.startsWith('degradation')) blocks.push(...degradationBlocks(runs));
  if (e.figures.includes('responses')) blocks.push(...await responseBlocks(root, e, m, runs, lines, figures));
  blocks.push(...sessionBlocks(m));
  return { title: `${e.name} (${e.paper})`, blocks, figures };
}

function tableBlocks(e: Experiment, m: Manifest, runs: RunView[]): Block[] {
  const t = e.table!;
  const top5 = t.rows.some((r) => r.top5 !== undefined);
  const headers = ['network', 'params (ours)', 'params (paper)', 'iterations', 'training error (ours)', 'test error (ours)', 'error (paper)'];
  if (top5) headers.push('top-5 (ours)', 'top-5 (paper)');
  const rows = runs.map((r) => {
    const end = r.log?.end;
    const row = [
      r.label, r.params === null ? '–' : millions(r.params), r.paper?.params ?? '–',
      `${r.log?.iteration ?? 0}${r.finished ? '' : ` of ${r.log?.total ?? '?'} (unfinished)`}`,
      pct(r.log ? finalTrainingError(r.log) : null), pct(typeof end?.testError === 'number' ? 100 * end.testError : null),
      r.paper ? (r.paper.top1 === null ? `– (${r.paper.note ?? 'not given'})` : `${r.paper.top1.toFixed(2)}${r.paper.note ? ` (${r.paper.note})` : ''}`) : '–',
    ];
    if (top5) row.push(pct(typeof end?.testTop5Error === 'number' ? 100 * end.testTop5Error : null), r.paper?.top5?.toFixed(2) ?? '–');
    return row;
  });
  return [
    { kind: 'h2', text: t.caption },
    { kind: 'table', headers, rows },
    { kind: 'p', text: 'Errors in %. Training error: the mean over the logged steps of the last tenth of the run. Test error: the whole ' +
      `test set (${count(m.data.test)} images), single view, at the end of the run${e.figures.includes('curves') ? ' (the last point of the test curves)' : ''}. ` +
      `The paper: ${t.paperSetting}.` },
    { kind: 'p', text: `Where this run departs from the paper: ${departures(e, m).join('; ')}.` },
  ];
}

/** Which test images the test curves' points are on: the first `curveImages` of the scale, the last point on all of them. */
function curveTestImages(e: Experiment, m: Manifest): string {
  const n = e.scales[m.scale].curveImages;
  const all = `the whole test set (${count(m.data.test)} images)`;
  return n !== undefined && n < m.data.test ? `on the first ${count(n)} test images, the last point on ${all}: the table's test error` : `on ${all}`;
}

/** A count with thousands grouped: 10,000. */
function count(n: number): string {
  return n.toLocaleString('en-US');
}

function departures(e: Experiment, m: Manifest): string[] {
  const paper = getRecipe(e.recipe);
  const out: string[] = [];
  const paperData = e.recipe === 'cifar-paper' ? 'CIFAR-10' : 'ImageNet';
  if (m.data.name !== 'cifar10' || e.recipe !== 'cifar-paper') out.push(`data: ${m.data.name}, not ${paperData}`);
  if (m.recipe.iterations !== paper.iterations) out.push(`length: ${m.recipe.iterations} iterations, not ${paper.iterations} (${m.scaleSummary})`);
  if (m.recipe.batchSize !== paper.batchSize) out.push(`batch ${m.recipe.batchSize}, not ${paper.batchSize}`);
  if (e.recipe === 'imagenet-paper') out.push('single center view, not 10-crop testing');
  if (e.name === 'shortcuts') out.push('ResNet-20 and plain-20, not the paper\'s 34-layer ImageNet nets');
  if (m.data.name === 'cifar10' && m.recipe.iterations === paper.iterations && out.length === 0) out.push('none in the recipe');
  return out;
}

/** The degradation problem in words, from the logs: shallowest against deepest of each family. */
function degradationBlocks(runs: RunView[]): Block[] {
  const items: string[] = [];
  for (const family of ['plain', 'residual'] as const) {
    const done = runs.filter((r) => r.family === family && r.finished && r.log).sort((a, b) => a.depth - b.depth);
    if (done.length < 2) continue;
    const [shallow, deep] = [done[0], done[done.length - 1]];
    const ts = finalTrainingError(shallow.log!)!;
    const td = finalTrainingError(deep.log!)!;
    const es = 100 * (shallow.log!.end!.testError as number);
    const ed = 100 * (deep.log!.end!.testError as number);
    const verdict = family === 'plain'
      ? (td > ts ? 'the deeper plain net trains worse: the degradation shows' : 'the deeper plain net does not train worse: no degradation at this scale')
      : (td <= ts ? 'the deeper residual net trains at least as well: as in the paper' : 'the deeper residual net trains worse here, unlike the paper');
    items.push(`${family}: ${deep.label} ends at ${td.toFixed(2)}% training error, ${shallow.label} at ${ts.toFixed(2)}%: ${verdict} ` +
      `(test error ${ed.toFixed(2)}% against ${es.toFixed(2)}%).`);
  }
  return items.length ? [{ kind: 'h2', text: 'Degradation, as measured' }, { kind: 'list', items }] : [];
}

async function responseBlocks(root: string, e: Experiment, m: Manifest, runs: RunView[], lines: string[], figures: Record<string, string>): Promise<Block[]> {
  const path = join(root, RESPONSES);
  if (!existsSync(path)) return [{ kind: 'p', text: 'No layer responses measured yet (responses.json is written when the runs are finished).' }];
  const file = JSON.parse(readFileSync(path, 'utf8')) as ResponsesFile;
  const measured = runs.filter((r) => file.runs[r.id]);
  const series = measured.map((r) => ({ label: r.label, depth: r.depth, stds: file.runs[r.id].map((l) => l.std) }));
  figures['responses.svg'] = await renderSvg(responsesSpec(`${e.paper}: ${e.title}`, [...lines, `reproduce: ${m.command}`], series));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const rows = measured.map((r) => {
    const stds = file.runs[r.id].map((l) => l.std);
    return [r.label, String(stds.length), mean(stds).toFixed(3), Math.max(...stds).toFixed(3), Math.min(...stds).toFixed(3)];
  });
  const missing = runs.filter((r) => !file.runs[r.id]).map((r) => r.label);
  return [
    { kind: 'h2', text: 'Fig. 7: standard deviations of the layer responses' },
    { kind: 'figure', file: 'responses.svg', alt: 'std of each 3×3 layer\'s response, in layer order and sorted by magnitude' },
    { kind: 'table', headers: ['network', '3×3 layers', 'mean std', 'largest', 'smallest'], rows },
    { kind: 'p', text: `Responses: each 3×3 layer's output after BN, before the ReLU and the addition, on ${file.testImages} test images ` +
      '(eval mode); the std of all its values. The paper finds residual nets\' responses generally smaller than their plain ' +
      `counterparts', and smaller in deeper residual nets.${missing.length ? ` Not measured (run not finished): ${missing.join(', ')}.` : ''}` },
  ];
}

function sessionBlocks(m: Manifest): Block[] {
  return [
    { kind: 'h2', text: 'Runs and machine' },
    {
      kind: 'table', headers: ['session started', 'wall time', 'status', 'load average at start', 'at end'],
      rows: m.sessions.map((s) => [s.started.replace('T', ' ').slice(0, 19), formatDuration(s.wallSeconds), s.status,
        s.load.map((x) => x.toFixed(2)).join(' '), s.loadEnd?.map((x) => x.toFixed(2)).join(' ') ?? '–']),
    },
    { kind: 'p', text: `Wall time of each run: ${m.runs.map((r) => `${r.label} ${formatDuration(m.runSeconds[r.id] ?? NaN)}`).join(', ')}. ` +
      `Machine: ${m.machine.cpus} × ${m.machine.cpu}, ${m.machine.memoryGiB} GiB, ${m.machine.platform}, Node ${m.machine.node}.` },
  ];
}

/** A single training run folder: its loss and error curves and final numbers. */
async function runReport(root: string) {
  const log = readRunLog(root)!;
  const s: Record<string, unknown> = log.start ?? {};
  const data = (s.data ?? {}) as Record<string, unknown>;
  const recipe = (s.recipe ?? {}) as Record<string, unknown>;
  const net = String(s.net ?? 'network');
  const lines = [
    `${net} on ${String(data.name ?? '?')} (${String(data.train ?? '?')} training, ${String(data.val ?? 0)} validation, ${String(data.test ?? '?')} test images)`,
    `recipe ${String(recipe.name ?? '?')}, batch ${String(recipe.batchSize ?? '?')}, ${log.iteration} of ${log.total ?? '?'} iterations` +
      (typeof recipe.warmup === 'object' && recipe.warmup !== null ? `, warm-up at lr ${String((recipe.warmup as { lr?: number }).lr)}` : '') + '; ' +
      `${String(s.backend ?? '?')} kernels; training time ${formatDuration(log.seconds ?? NaN)}`,
  ];
  const series: CurveSeries = { label: net, family: 'residual', depth: 0, points: log.points };
  const figures = { 'run.svg': await renderSvg(runSpec(`${net}: loss and error`, lines, series)) };
  const end = log.end;
  const blocks: Block[] = [
    { kind: 'h1', text: `${net}: training run` },
    { kind: 'list', items: lines },
    { kind: 'figure', file: 'run.svg', alt: 'loss and error against iterations' },
    {
      kind: 'table', headers: ['iterations', 'training error (last tenth)', 'validation error', 'test error', 'test top-5'],
      rows: [[`${log.iteration}${end ? '' : ' (unfinished)'}`, pct(finalTrainingError(log)),
        pct(typeof end?.valError === 'number' ? 100 * end.valError : null), pct(typeof end?.testError === 'number' ? 100 * end.testError : null),
        pct(typeof end?.testTop5Error === 'number' ? 100 * end.testTop5Error : null)]],
    },
    { kind: 'p', text: 'Errors in %. Training curves: the logged steps (mean over each logging window); validation and test: their sets.' },
  ];
  return { title: `${net} training run`, blocks, figures };
}
