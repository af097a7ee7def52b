// The paper's experiments: the catalog (networks, recipes, scales, the paper's numbers), the runner,
// and Fig. 7's layer responses.
export { EXPERIMENTS, type Experiment, type RunSpec, SCALES, type Scale, type ScaleSpec, getExperiment, isScale } from './catalog.js';
export { type PaperRow, TABLE_2, TABLE_3, TABLE_6 } from './paper.js';
export { type ExperimentConfig, type ExperimentResult, MANIFEST, type Manifest, RESPONSES, type ResponsesFile, readManifest, resolveData, runExperiment, runFinished, runRecipe } from './runner.js';
export { type LayerResponse, type ResponseOptions, addMoments, layerResponses } from './responses.js';
