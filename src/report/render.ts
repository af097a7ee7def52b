// Vega-Lite specification → SVG, in Node, with no browser: vega-lite compiles to a Vega spec and a
// headless Vega view renders it (text widths are estimated, no canvas needed).

import * as vega from 'vega';
import { type TopLevelSpec, compile } from 'vega-lite';

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // Warnings of the compiler (e.g. a legend property set twice) are not the reader's concern.
  const compiled = compile(spec, { logger: vega.logger(vega.None) }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.None });
  try {
    return numberClipsFromOne(await view.toSVG());
  } finally {
    view.finalize();
  }
}

/**
 * Vega numbers clip paths with a counter shared by every view of the process (clip1, clip2, … then
 * clip11 in the next figure): renumbered here in order of appearance, a figure's SVG depends only on
 * its specification.
 */
function numberClipsFromOne(svg: string): string {
  const ids = new Map<string, number>();
  return svg.replace(/\bclip(\d+)\b/g, (_, n: string) => {
    if (!ids.has(n)) ids.set(n, ids.size + 1);
    return `clip${ids.get(n)}`;
  });
}
