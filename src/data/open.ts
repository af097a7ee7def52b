// Re-opens a dataset from its plain-data spec (dataset.ts DatasetSpec): used by the loader's
// worker thread, which cannot receive class instances.

import { ArrayDataset, SubsetDataset, type Dataset, type DatasetSpec } from './dataset.js';
import { CachedImageDataset } from './image-cache.js';
import { ImageFolderDataset } from './image-folder.js';

export function openDataset(spec: DatasetSpec): Dataset {
  switch (spec.kind) {
    case 'arrays':
      return new ArrayDataset(spec.images, spec.labels, spec.channels, spec.height, spec.width, spec.classes);
    case 'subset':
      return new SubsetDataset(openDataset(spec.base), spec.indices);
    case 'imageFolder':
      return new ImageFolderDataset(spec.root);
    case 'imageCache':
      return new CachedImageDataset(spec.index);
  }
}
