// The data layer draws from the engine's generator (one implementation for the
// whole project: initialization, shuffling, augmentation).
export { Rng, type RngState } from '../tensor/random.js';
