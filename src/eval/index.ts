// Testing: top-1/top-5 error with 1-crop, 10-crop and multi-scale views; what trained weights carry;
// classifying photographs (predict, softmax, top-k).
export { CROP_MODES, type CropMode, type EvalOptions, type EvalResult, type ViewOptions, evaluate, scaledSides, viewsOf } from './evaluate.js';
export { type DataInfo, type InputView, type StoredNormalization, type TrainedMetadata, decodeNormalization, encodeMeanImage, inputView, normalizationMetadata, readTrainedMetadata } from './metadata.js';
export { type PredictOptions, type Prediction, classLabels, imageInput, imagenetClasses, predict } from './predict.js';
export { countWrong, softmax, topK } from './scores.js';
export { type ClassScore, classify } from './classify.js';
