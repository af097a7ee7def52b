// IDX image and label files already in memory (gzip or not) as a dataset: what the Node host reads
// from disk (idx-dataset.ts) and the browser fetches.

import { readIdx } from '../io/idx.js';
import { ArrayDataset, sharedBytes } from './dataset.js';

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];
export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** The images [n, h, w] and labels [n] of an IDX pair as a 1-channel dataset; `source` names the files in errors. */
export function idxDataset(
  imageBytes: Uint8Array, labelBytes: Uint8Array, classes: string[], source = { images: 'images', labels: 'labels' },
): ArrayDataset {
  const img = readIdx(imageBytes, source.images);
  const lab = readIdx(labelBytes, source.labels);
  if (img.shape.length !== 3) throw new Error(`${source.images}: expected images of shape [n, h, w], got [${img.shape.join(', ')}]`);
  if (lab.shape.length !== 1) throw new Error(`${source.labels}: expected labels of shape [n], got [${lab.shape.join(', ')}]`);
  const [n, h, w] = img.shape;
  if (lab.shape[0] !== n) throw new Error(`${source.images} has ${n} images but ${source.labels} has ${lab.shape[0]} labels`);
  for (let i = 0; i < n; i++) {
    if (lab.data[i] >= classes.length) throw new Error(`${source.labels}: label ${lab.data[i]} at ${i} ≥ ${classes.length} classes`);
  }
  const images = sharedBytes(n * h * w); // [n, 1, h, w]
  images.set(img.data);
  const labels = sharedBytes(n); // [n]
  labels.set(lab.data);
  return new ArrayDataset(images, labels, 1, h, w, classes);
}
