// A ResNet image classifier with CSG's classification head (recipe §5): layer4 → global average pool
// → `fc_new` = Linear(C4, 512) → ReLU → Linear(512, classes), standard strides (output stride 32).
import { Tensor } from '../tensor/index.js';
import { globalAvgPool, reshape } from '../ops/index.js';
import { releaseIntermediate } from './module.js';
import { Linear, ReLU, Sequential } from './layers.js';
import { ResNet, type ResNetOptions, type ModelOutput } from './resnet.js';

/** Width of fc_new's hidden layer in the reference. */
export const CLASSIFIER_HIDDEN = 512;

export interface ClassifierOptions extends Omit<ResNetOptions, 'outputStride' | 'frozenBn'> {
  classes?: number;
  hidden?: number;
}

export class ResNetClassifier extends ResNet {
  readonly fc_new: Sequential;
  readonly classes: number;
  constructor(options: ClassifierOptions = {}) {
    super({ ...options, outputStride: 32, frozenBn: false });
    this.classes = options.classes ?? 12;
    const hidden = options.hidden ?? CLASSIFIER_HIDDEN;
    this.fc_new = this.child(
      'fc_new',
      new Sequential([new Linear(this.channels.layer4, hidden, {}, this.init), new ReLU(), new Linear(hidden, this.classes, {}, this.init)]),
    );
    this.assignNames();
  }

  /** Logits [N, classes] plus the layer3/layer4 features (kept for CSG; the input is not freed). */
  forward(x: Tensor): ModelOutput {
    if (x.rank !== 4 || x.shape[1] !== 3) throw new RangeError(`ResNetClassifier: expected images [N, 3, H, W], got [${x.shape.join(', ')}]`);
    const { layer3, layer4 } = this.features(x);
    const pooled = globalAvgPool(layer4);
    const flat = reshape(pooled, [pooled.shape[0]!, pooled.shape[1]!]);
    releaseIntermediate(pooled, flat);
    const logits = this.fc_new.forward(flat);
    releaseIntermediate(flat, logits);
    return { logits, layer3, layer4 };
  }
}
