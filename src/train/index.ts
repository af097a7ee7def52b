// Training: the loop, its recipes, checkpoints and logs.
export { type TrainConfig, type TrainResult, TrainingDiverged, train } from './loop.js';
export { type Augmentation, CIFAR_PAPER, ConfigError, IMAGENET_PAPER, PAPER_WARMUP, PAPER_WARMUP_NETS, RECIPES, type Recipe, type RecipeChoice, type RecipeOverrides, type RecipeWarmup, applyOverrides, chooseRecipe, describeRecipe, getRecipe, recipeForNet, scheduleSpec, totalIterations } from './recipe.js';
export { type Checkpoint, type CheckpointInfo, readCheckpoint, writeCheckpoint } from './checkpoint.js';
export { DATA_NAMES, type DataSplits, dataSearchPaths, defaultDataDir, holdOut, openData } from './data.js';
export { JsonlLog, type LogRecord, Progress, type ProgressMode, readLog } from './progress.js';
