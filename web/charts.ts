// Live charts with Vega-Lite (compiled in the page) rendered by a Vega View: the same charting
// library as the experiment reports. Points are streamed into the named data set `points`.

import { View, parse } from 'vega';
import { type TopLevelSpec, compile } from 'vega-lite';

export interface Chart {
  add(rows: object[]): void;
  replace(rows: object[]): void;
}

function chart(container: HTMLElement, spec: TopLevelSpec): Chart {
  const view = new View(parse(compile(spec).spec), { renderer: 'svg', container, hover: true });
  void view.runAsync();
  let queue = Promise.resolve();
  const update = (fn: () => void) => {
    queue = queue.then(async () => {
      fn();
      await view.runAsync();
    });
  };
  return {
    add: (rows) => update(() => view.insert('points', rows)),
    replace: (rows) => update(() => view.remove('points', () => true).insert('points', rows)),
  };
}

const base = { width: 440, height: 220, data: { name: 'points' }, config: { font: 'system-ui, sans-serif' } } as const;

/** Training loss against epochs. */
export function lossChart(container: HTMLElement): Chart {
  return chart(container, {
    ...base,
    title: 'training loss',
    mark: { type: 'line', interpolate: 'monotone' },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickCount: 6 } },
      y: { field: 'loss', type: 'quantitative', title: 'cross-entropy', scale: { zero: true } },
    },
  });
}

/** Training error (running) and test error against epochs, in %. */
export function errorChart(container: HTMLElement): Chart {
  return chart(container, {
    ...base,
    title: 'error (%)',
    mark: { type: 'line', point: { size: 24 } },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickCount: 6 } },
      y: { field: 'error', type: 'quantitative', title: 'error (%)', scale: { zero: true } },
      color: { field: 'series', type: 'nominal', title: null, scale: { domain: ['train', 'test'], range: ['#2c6bb3', '#d1495b'] } },
    },
  });
}

/** Fig. 7: std of each 3×3 layer's response, in network order. */
export function responsesChart(container: HTMLElement): Chart {
  return chart(container, {
    ...base,
    width: 700,
    title: 'std of layer responses (Fig. 7)',
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'index', type: 'quantitative', title: 'layer index (3×3 convs, in network order)', scale: { zero: false } },
      y: { field: 'std', type: 'quantitative', title: 'std' },
      tooltip: [{ field: 'layer', type: 'nominal' }, { field: 'std', type: 'quantitative', format: '.3f' }],
    },
  });
}
