// The data layer's public surface: datasets, transforms, loader. See each file for details.
export * from './rng.js';
export * from './dataset.js';
export * from './cifar10.js';
export * from './idx-dataset.js';
export * from './decode.js';
export * from './image-folder.js';
export * from './open.js';
export * from './download.js';
export * from './resize.js';
export * from './transforms.js';
export * from './stats.js';
export * from './batch.js';
export * from './loader.js';
