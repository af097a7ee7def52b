// The figures as Vega-Lite specifications, drawn as the paper draws them: training error thin and
// dashed, test error bold, iterations on x, one panel per family (plain | residual), legends by
// depth (Fig. 4, Fig. 6); Fig. 7's two panels of layer-response stds. render.ts turns them into SVG.

import type { TopLevelSpec } from 'vega-lite';
import type { CurvePoint } from './logs.js';

export interface CurveSeries {
  label: string;
  family: 'plain' | 'residual';
  depth: number;
  points: CurvePoint[];
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const CURVES = ['training', 'validation', 'test'];
const DASH = [[4, 3], [1, 2], [1, 0]];
const WIDTH = [1, 1.5, 2.5];

function panel(title: string, series: CurveSeries[], y: 'error' | 'loss', yTitle: string, length?: number) {
  const ordered = [...series].sort((a, b) => a.depth - b.depth);
  const values = ordered.flatMap((s) => s.points.filter((p) => p[y] !== null).map((p) => ({ net: s.label, iteration: p.iteration, curve: p.curve, value: p[y] })));
  const kinds = CURVES.filter((k) => values.some((v) => v.curve === k)); // the legend names only the curves drawn
  const dash = kinds.map((k) => DASH[CURVES.indexOf(k)]);
  const width = kinds.map((k) => WIDTH[CURVES.indexOf(k)]);
  const x = { field: 'iteration', type: 'quantitative' as const, title: 'iterations', axis: { format: '~s' }, ...(length ? { scale: { domain: [0, length] } } : {}) };
  const yEnc = { field: 'value', type: 'quantitative' as const, title: yTitle };
  const color = { field: 'net', type: 'nominal' as const, sort: ordered.map((s) => s.label), title: null };
  return {
    title,
    width: 340,
    height: 260,
    data: { values },
    layer: [
      {
        mark: { type: 'line' as const, clip: true },
        encoding: {
          x, y: yEnc, color: { ...color, legend: { orient: 'right' as const } },
          strokeDash: { field: 'curve', type: 'nominal' as const, scale: { domain: kinds, range: dash }, title: null, legend: { orient: 'bottom' as const } },
          strokeWidth: { field: 'curve', type: 'ordinal' as const, sort: kinds, scale: { domain: kinds, range: width }, legend: null },
        },
      },
      // Dots on the evaluated points (test, validation): a curve of one point still shows.
      {
        transform: [{ filter: "datum.curve !== 'training'" }],
        mark: { type: 'point' as const, filled: true, size: 14, clip: true },
        encoding: { x, y: yEnc, color: { ...color, legend: null } },
      },
    ],
  };
}

/** Fig. 4 / Fig. 6: training (dashed) and test (bold) error against iterations (0 to `length`); plain | residual. */
export function curvesSpec(title: string, subtitle: string[], series: CurveSeries[], length?: number): TopLevelSpec {
  const families = (['plain', 'residual'] as const).filter((f) => series.some((s) => s.family === f));
  return {
    $schema: SCHEMA,
    title: { text: title, subtitle, anchor: 'start' },
    hconcat: families.map((f) => panel(f, series.filter((s) => s.family === f), 'error', 'error (%)', length)),
    resolve: { scale: { color: 'independent', y: 'shared' } },
  } as TopLevelSpec;
}

/** One run: loss and error against iterations (training steps, validation, test). */
export function runSpec(title: string, subtitle: string[], series: CurveSeries): TopLevelSpec {
  return {
    $schema: SCHEMA,
    title: { text: title, subtitle, anchor: 'start' },
    hconcat: [panel('loss', [series], 'loss', 'cross-entropy loss'), panel('error', [series], 'error', 'error (%)')],
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

export interface ResponseSeries {
  label: string;
  depth: number;
  stds: number[];
}

/** Fig. 7: std of each 3×3 layer's response, in layer order (top) and sorted by magnitude (bottom). */
export function responsesSpec(title: string, subtitle: string[], series: ResponseSeries[]): TopLevelSpec {
  const ordered = [...series].sort((a, b) => a.depth - b.depth);
  const original = ordered.flatMap((s) => s.stds.map((std, i) => ({ net: s.label, layer: i + 1, std })));
  const sorted = ordered.flatMap((s) => [...s.stds].sort((a, b) => b - a).map((std, i) => ({ net: s.label, layer: i + 1, std })));
  const chart = (values: object[], xTitle: string) => ({
    width: 520,
    height: 200,
    data: { values },
    mark: { type: 'line' as const, point: { size: 12 } },
    encoding: {
      x: { field: 'layer', type: 'quantitative' as const, title: xTitle },
      y: { field: 'std', type: 'quantitative' as const, title: 'std' },
      color: { field: 'net', type: 'nominal' as const, sort: ordered.map((s) => s.label), title: null },
    },
  });
  return {
    $schema: SCHEMA,
    title: { text: title, subtitle, anchor: 'start' },
    vconcat: [chart(original, 'layer index (original)'), chart(sorted, 'layer index (sorted by magnitude)')],
  } as TopLevelSpec;
}
