// The paper's own numbers, for the tables that put ours beside them (He et al., 2015).
//
//   Table 2: top-1 error (%, 10-crop testing) on ImageNet validation, plain and residual 18/34.
//   Table 3: top-1 and top-5 error (%, 10-crop testing) on ImageNet validation, ResNet-34 with
//            shortcut options A, B and C, and plain-34.
//   Table 6: error (%) on the CIFAR-10 test set and parameters of the CIFAR nets; ResNet-110 is
//            the best of 5 runs, with the mean ± std of the 5 beside it. The plain nets appear
//            only in Fig. 6 (left): their test errors are not printed as numbers.

export interface PaperRow {
  /** The run of an experiment that this row stands beside. */
  id: string;
  /** Top-1 error in percent; null where the paper draws a curve but prints no number. */
  top1: number | null;
  top5?: number;
  /** Parameters as the paper prints them. */
  params?: string;
  note?: string;
}

export const TABLE_6: PaperRow[] = [
  { id: 'plain20', top1: null, note: 'Fig. 6 left only' },
  { id: 'plain32', top1: null, note: 'Fig. 6 left only' },
  { id: 'plain44', top1: null, note: 'Fig. 6 left only' },
  { id: 'plain56', top1: null, note: 'Fig. 6 left only' },
  { id: 'resnet20', top1: 8.75, params: '0.27M' },
  { id: 'resnet32', top1: 7.51, params: '0.46M' },
  { id: 'resnet44', top1: 7.17, params: '0.66M' },
  { id: 'resnet56', top1: 6.97, params: '0.85M' },
  { id: 'resnet110', top1: 6.43, params: '1.7M', note: 'best of 5 runs; mean 6.61 ± 0.16' },
  { id: 'resnet1202', top1: 7.93, params: '19.4M' },
];

export const TABLE_2: PaperRow[] = [
  { id: 'plain18', top1: 27.94 },
  { id: 'plain34', top1: 28.54 },
  { id: 'resnet18', top1: 27.88 },
  { id: 'resnet34', top1: 25.03 },
];

export const TABLE_3: PaperRow[] = [
  { id: 'plain', top1: 28.54, top5: 10.02, note: 'plain-34' },
  { id: 'A', top1: 25.03, top5: 7.76, note: 'ResNet-34 A' },
  { id: 'B', top1: 24.52, top5: 7.46, note: 'ResNet-34 B' },
  { id: 'C', top1: 24.19, top5: 7.40, note: 'ResNet-34 C' },
];
