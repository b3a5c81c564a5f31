// The data of a segmentation task, opened from the run's options: the embedded synthetic→real digits
// task or GTA5 → Cityscapes from folders, each as a training source, the splits evaluated at the end,
// the split used to choose settings, and the class names and palette. Training (src/train) and the
// evaluation command read the same task through this.
import { loadDigitsTask } from './digits.js';
import { digitsSource, datasetSource, type SampleSource } from './sampler.js';
import { openSegDataset, CITYSCAPES_CLASSES, CITYSCAPES_PALETTE } from './cityscapes.js';
import { DataError } from './png.js';

/** The options that choose a task's data (a subset of src/train's TrainOptions). */
export interface TaskOptions {
  /** 'digits' or 'gta5:DIR[:LIST]'. */
  train: string;
  /** 'digits' or 'cityscapes:DIR[:LIST]'. */
  val: string;
  /** Embedded task: trainSyn,valSyn,valReal,testReal. */
  counts: string;
  /** Embedded task: image side. */
  size: number;
  /** Embedded task: 2 (stroke/background) or 11 classes. */
  digitClasses: number;
  /** Real data: training crop side. */
  crop: number;
}

export interface EvalSplit {
  name: string;
  source: SampleSource;
  /** Real-domain split whose stage-4 features give the reported hyperspherical energy. */
  hse?: boolean;
}

export interface TaskData {
  train: SampleSource;
  /** Evaluated at the end, in this order; the first real split is the headline mIoU. */
  evals: EvalSplit[];
  /** Evaluated every --eval-every steps to choose settings (never the test split). */
  select: EvalSplit | null;
  classNames: string[];
  palette: [number, number, number][];
  /** Crop for training (the digits are trained at their own size). */
  crop: [number, number];
}

export function openTaskData(o: TaskOptions): TaskData {
  if (o.train === 'digits' || o.val === 'digits') {
    if (o.train !== 'digits' || o.val !== 'digits') throw new DataError('--train digits goes with --val digits (the embedded task)');
    const [trainSyn, valSyn, valReal, testReal] = o.counts.split(',').map(Number);
    if (![trainSyn, valSyn, valReal, testReal].every((c) => Number.isInteger(c) && c! > 0)) {
      throw new DataError(`--counts: four positive counts expected (trainSyn,valSyn,valReal,testReal), got ${o.counts}`);
    }
    const classes = o.digitClasses === 11 ? 11 : 2;
    const task = loadDigitsTask({ seed: 0, size: o.size, classes, trainSyn: trainSyn!, valSyn: valSyn!, valReal: valReal!, testReal: testReal! });
    return {
      train: digitsSource('synthetic train', task.trainSyn),
      evals: [
        { name: 'real test', source: digitsSource('real test', task.testReal), hse: true },
        { name: 'synthetic val', source: digitsSource('synthetic val', task.valSyn) },
      ],
      select: { name: 'real val', source: digitsSource('real val', task.valReal) },
      classNames: task.classNames,
      palette: task.palette,
      crop: [o.size, o.size],
    };
  }
  const train = datasetSource(openSegDataset(o.train));
  const val = datasetSource(openSegDataset(o.val));
  return {
    train,
    evals: [{ name: 'real val', source: val, hse: true }],
    select: null,
    classNames: [...CITYSCAPES_CLASSES],
    palette: CITYSCAPES_PALETTE.map((c) => [...c] as [number, number, number]),
    crop: [o.crop, o.crop],
  };
}

export { recipeAugment } from './augment.js';
