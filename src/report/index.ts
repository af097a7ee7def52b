// Reports: figures (Vega-Lite specifications rendered to SVG), an HTML page and a Markdown summary from
// an experiment's or a run's logs.
export { type CurveSeries, type ResponseSeries, curvesSpec, responsesSpec, runSpec } from './charts.js';
export { type Block, toHtml, toMarkdown } from './document.js';
export { type CurveKind, type CurvePoint, type RunLog, finalTrainingError, readRunLog } from './logs.js';
export { renderSvg } from './render.js';
export { type ReportResult, writeReport } from './report.js';
