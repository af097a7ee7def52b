// Vega-Lite specification → SVG, in Node, with no browser: vega-lite compiles to a Vega spec and a
// headless Vega view renders it (text widths are estimated, no canvas needed).

import * as vega from 'vega';
import { type TopLevelSpec, compile } from 'vega-lite';

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // Warnings of the compiler (e.g. a legend property set twice) are not the reader's concern.
  const compiled = compile(spec, { logger: vega.logger(vega.None) }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.None });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
