// index.ts: the entry of the WebAssembly kernel module (built twice by tools/build-wasm.mjs:
// with SIMD128, and with relaxed SIMD for fused multiply-add).
//
// The module imports its memory (shared between the threads of src/kernels/wasm/pool.ts) and
// owns no data: every buffer, scratch area and shape block is placed by the host. Kernels that
// can run on several threads end with (tid, nt) and do their share of the work.

export { packA, packedASize, matmulPacked, matmulScratch, matmulFewRowsTransB } from './gemm';
export {
  conv2dForward, conv2dForwardScratch, packFlippedWeights,
  pointwisePackedSize, conv2dPackPointwise, conv2dForwardPointwise,
  pixelPanelsSize, conv2dPackPixels, packWeightsTransposed, conv2dForwardPixels,
  conv2dBackwardInputCol2im, conv2dBackwardInputScratch, conv2dBackwardInputPhases, conv2dBackwardInputPhasesScratch,
  conv2dBackwardWeight, conv2dBackwardWeightScratch, conv2dBackwardWeightReduce, conv2dBackwardWeightPartial,
} from './conv';
export {
  winogradWeights, winogradWeightsSize, winogradForward, winogradScratch,
  winogradWeightGrad, winogradGradScratch, winogradGradReduce, winogradBlocks, winogradPhases,
} from './winograd';
export {
  fill, copy, add, mul, axpy, scale, relu, reluBackward, sum, addBiasRows, sumRows, sgdStep, channelBiasRelu,
} from './elementwise';
export {
  batchNormEval, batchNormPlaneSums, batchNormMeans, batchNormPlaneSquares,
  batchNormVariances, batchNormApply, batchNormBackwardPlanes, batchNormBackwardStats, batchNormBackwardApply,
} from './norm';
export {
  maxPool2d, maxPool2dBackward, globalAvgPool, globalAvgPoolBackward, shortcutA, shortcutABackward,
} from './pool';
