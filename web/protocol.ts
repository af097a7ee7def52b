// The messages between the page (app.ts) and the worker (worker.ts). A request carries an id and
// gets one reply with that id (its result or an error); events (progress while training) carry none.

import type { LayerResponse, NetSummary } from '../src/browser.js';

/** What the worker needs to start. */
export interface InitRequest {
  type: 'init';
  /** The app's base URL: data and kernel modules are fetched relative to it. */
  base: string;
  /** Kernel set: 'wasm' (default) or 'ref'; threads of the wasm set (default: the cores). */
  backend?: 'wasm' | 'ref';
  threads?: number;
}

export interface TrainSettings {
  net: string;
  epochs: number;
  batchSize: number;
  lr: number;
  /** The paper's pad-4 crop and flip; the demo runs without (too short a run to pay off). */
  augment: boolean;
  seed: number;
  /** Test-set evaluations per epoch (for the test error curve). */
  evalsPerEpoch: number;
  /** Stop after this many steps (tests, quick looks; 0 or absent: the whole run). */
  maxSteps?: number;
  /** Evaluate on the first this many test images only (absent: all 2,000). */
  testLimit?: number;
}

export type Request =
  | InitRequest
  | ({ type: 'train' } & TrainSettings)
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' }
  | { type: 'save' }
  | { type: 'load'; bytes: ArrayBuffer; fileName: string; net?: string; strideIn?: '1x1' | '3x3' }
  | { type: 'summary'; net?: string }
  | { type: 'responses'; limit?: number }
  | { type: 'predict'; image: ImagePixels }
  | { type: 'bench'; workload: string; warmup: number; runs: number }
  | { type: 'logits'; count?: number; input?: { data: Float32Array; shape: [number, number, number, number] } };

/** Pixels as the page reads them from a canvas: RGBA bytes, row-major. */
export interface ImagePixels {
  rgba: Uint8ClampedArray;
  height: number;
  width: number;
}

export interface ReadyInfo {
  backend: string;
  variant: string | null;
  threads: number;
  /** Cores the browser reports (navigator.hardwareConcurrency). */
  cores: number;
  isolated: boolean;
  /** Why the page runs fewer threads than it could, when it does. */
  note: string | null;
}

export interface NetInfo {
  net: string;
  options: Record<string, unknown>;
  /** 'trained' here, or the file it was loaded from. */
  source: string;
  /** Input the network was trained on: 28×28 gray (Fashion-MNIST), or photos (ImageNet preprocessing). */
  input: { channels: number; size: number; kind: 'fashion-mnist' | 'imagenet' | 'other' };
  testError: number | null;
}

export interface TrainEnd {
  status: 'completed' | 'stopped';
  iteration: number;
  total: number;
  testError: number | null;
  imagesPerSecond: number;
  /** The training loss of every step. */
  losses: number[];
}

export interface Prediction {
  top: { index: number; label: string; probability: number }[];
  /** The input the net saw (after preprocessing), for showing: gray or RGB bytes [h, w(, 3)]. */
  input: { data: Uint8ClampedArray; height: number; width: number };
}

export interface Replies {
  init: ReadyInfo;
  train: TrainEnd;
  /** Sent once the run has paused between two steps (or ended): the steps taken. */
  pause: { iteration: number };
  resume: null;
  stop: null;
  save: { bytes: ArrayBuffer; fileName: string };
  load: NetInfo;
  summary: NetSummary;
  responses: LayerResponse[];
  predict: Prediction;
  logits: { logits: Float32Array; classes: number; labels: number[] };
  /** Milliseconds of each timed batch. */
  bench: { timesMs: number[]; batch: number; threads: number; variant: string | null };
}

export interface ProgressEvent {
  type: 'progress';
  iteration: number;
  total: number;
  epoch: number;
  /** Mean loss and error of the steps since the previous event. */
  loss: number;
  error: number;
  lr: number;
  imagesPerSecond: number;
  etaSeconds: number;
}

export interface EvalEvent {
  type: 'eval';
  iteration: number;
  epoch: number;
  testError: number;
  testLoss: number;
}

export interface StatusEvent {
  type: 'status';
  text: string;
}

export type WorkerEvent = ProgressEvent | EvalEvent | StatusEvent;

export type Reply = { id: number; result: unknown } | { id: number; error: string };
