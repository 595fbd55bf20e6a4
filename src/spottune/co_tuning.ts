// Co-Tuning (You et al., "Co-Tuning for Transfer Learning", NeurIPS 2020): the source
// classifier is kept on top of the fine-tuned features, beside the new target classifier.
// Before training, the source model's predictions on the target training set give the
// category relationship p(y_s | y_t): for each target class, the mean of the source softmax
// over its images (evaluation transform, evaluation mode: TLlib's "direct approach",
// tllib/regularization/co_tuning.py, get_category_relationship). Training then adds
// λ · CE(source logits, p(y_s | y)), the cross-entropy of the source head against the
// relationship row of each image's target label. Default λ = 2.3 (TLlib's
// examples/task_adaptation/image_classification/co_tuning.py, --trade-off).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Linear, Module, type Parameter } from '../nn/index.js';
import { backboneLayers, type Backbone } from '../models/index.js';
import type { FeatureOutput, ParamGroupSpec, TrainModel, TrainingSet } from './method.js';

export interface CoTuningOptions {
  /** Weight λ of the source-label loss. */
  lambda: number;
}

export const defaultCoTuningOptions: CoTuningOptions = { lambda: 2.3 };

/**
 * p(y_s | y_t) [T, S]: row t is the mean of the source probabilities [N, S] of the images
 * whose target label (labels [N], int64) is t. A class without images has no estimate.
 */
export function categoryRelationship(sourceProbs: Tensor, labels: Tensor, numTarget: number): Tensor {
  return torch.tidy(() => {
    const perClass = torch.toDtype(torch.oneHot(labels, numTarget), sourceProbs.dtype).transpose(0, 1); // [T, N]
    const counts = perClass.sum(1);
    const empty = torch.nonzero(counts.eq(0)).flatten().toArray();
    if (empty.length) throw new Error(`Co-Tuning: target class(es) ${empty.join(', ')} have no training image: no category relationship for them`);
    return torch.mm(perClass, sourceProbs).div(counts.unsqueeze(1));
  });
}

/** Mean over the batch of −Σ_s target[b, s] · log softmax(logits)[b, s]: cross-entropy against soft labels. */
export function softCrossEntropy(logits: Tensor, target: Tensor): Tensor {
  return target.mul(torch.logSoftmax(logits, 1)).sum(1).mean().neg();
}

/** The fine-tuned network with the target classifier (`net.fc`), the source classifier and the relationship. */
export class CoTuningNet extends Module<[Tensor], Tensor> {
  readonly net: Backbone;
  sourceFc: Linear;
  /** p(y_s | y_t) [T, S], filled by CoTuningModel.prepare. */
  relationship: Tensor;

  /** `net` carries the new target classifier; `sourceFc` is the pre-trained one (taken over, not copied). */
  constructor(net: Backbone, sourceFc: Linear) {
    super();
    this.net = this.registerModule('net', net);
    this.sourceFc = this.registerModule('sourceFc', sourceFc);
    this.relationship = this.registerBuffer('relationship', torch.zeros([net.numClasses, sourceFc.outFeatures]));
  }

  /** Target logits: the source classifier plays no part in evaluation. */
  forward(x: Tensor): Tensor {
    return this.net.forward(x);
  }

  /**
   * A trained run opens without its source weights (the engine's forLoading), so the source
   * classifier's size comes from the state dict: resized here before the strict load.
   */
  override loadStateDict(sd: ReadonlyMap<string, Tensor>, o: { strict?: boolean } = {}) {
    const w = sd.get('sourceFc.weight');
    if (w && w.ndim === 2 && w.shape[0] !== this.sourceFc.outFeatures) {
      this.sourceFc.dispose();
      this.sourceFc = this.registerModule('sourceFc', new Linear(this.sourceFc.inFeatures, w.shape[0]));
      this.relationship.dispose();
      this.relationship = this.registerBuffer('relationship', torch.zeros([this.net.numClasses, w.shape[0]]));
    }
    return super.loadStateDict(sd, o);
  }
}

export interface CoTuningOutput extends FeatureOutput {
  /** The source classifier's logits [B, S]. */
  sourceLogits: Tensor;
}

export class CoTuningModel implements TrainModel {
  readonly numBlocks: number;

  constructor(readonly module: CoTuningNet, private readonly o: CoTuningOptions) {
    this.numBlocks = module.net.blocks.length;
  }

  setTraining(on: boolean): void {
    this.module.train(on);
  }

  private features(x: Tensor): Tensor {
    const net = this.module.net;
    let h = net.stem(x);
    for (const b of net.blocks) h = b.forward(h);
    return net.features(h);
  }

  private decisions(x: Tensor): Tensor {
    return torch.ones([x.shape[0], this.numBlocks], { device: x.device });
  }

  forwardTrain(x: Tensor): CoTuningOutput {
    const features = this.features(x);
    return {
      logits: this.module.net.fc.forward(features),
      sourceLogits: this.module.sourceFc.forward(features),
      decisions: this.decisions(x),
      features,
    };
  }

  forwardEval(x: Tensor) {
    return torch.noGrad(() => ({ logits: this.module.forward(x), decisions: this.decisions(x) }));
  }

  paramGroups(): ParamGroupSpec[] {
    return [{ role: 'net', params: this.module.parameters() }];
  }

  /** The network's layers, the source classifier with the head. */
  layers(): Parameter[][] {
    const layers = backboneLayers(this.module.net);
    layers[layers.length - 1].push(...this.module.sourceFc.parameters());
    return layers;
  }

  regularizer(out: CoTuningOutput, y: Tensor): Tensor {
    return softCrossEntropy(out.sourceLogits, this.module.relationship.indexSelect(0, y)).mul(this.o.lambda);
  }

  /** The source model (pre-trained features and classifier, evaluation mode) on every training image. */
  async prepare(data: TrainingSet): Promise<void> {
    this.module.eval();
    const probs: Float32Array[] = [];
    const labels: number[] = [];
    await data.forEach((x, y) => {
      torch.noGrad(() => probs.push(torch.softmax(this.module.sourceFc.forward(this.features(x)), 1).data() as Float32Array));
      labels.push(...y.toArray());
    });
    const S = this.module.sourceFc.outFeatures;
    torch.tidy(() => {
      const all = torch.tensor(Float32Array.from(probs.flatMap((p) => Array.from(p))), { shape: [labels.length, S] });
      torch.noGrad(() => this.module.relationship.copy_(categoryRelationship(all, torch.tensor(labels).long(), data.numClasses)));
    });
  }

  dispose(): void {
    this.module.dispose();
  }
}

/** Co-Tuning from the pre-trained network (`source`, its classifier kept) and a copy with the target classifier (`net`). */
export function coTuningModel(net: Backbone, source: Backbone, o: CoTuningOptions): CoTuningModel {
  const sourceFc = source.fc as Linear;
  const kept = new Set(sourceFc.parameters());
  for (const p of source.parameters()) if (!kept.has(p)) p.dispose();
  for (const b of source.buffers()) b.dispose();
  return new CoTuningModel(new CoTuningNet(net, sourceFc), o);
}
