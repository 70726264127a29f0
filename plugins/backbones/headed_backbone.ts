/**
 * A backbone made of features and an {@link EmbeddingHead} on them, as every built-in one is: the embedding,
 * the embedding with its features (for a loss that `usesFeatures`) and the head's weights (the optimizer's
 * `head` group) follow from those two, here once.
 */
import type { Tensor, Tensor2D, Variable } from "@tensorflow/tfjs-core";
import { tf } from "../../core/tf.ts";
import type { EmbeddingHead } from "./embedding_head.ts";

export abstract class HeadedBackbone {
  protected abstract readonly head: EmbeddingHead;

  /** The features before the head, [B, F]. */
  abstract features(x: Tensor, training: boolean): Tensor2D;

  embed(x: Tensor, training: boolean): Tensor2D {
    return tf.tidy(() => this.head.apply(this.features(x, training)));
  }

  embedWithFeatures(x: Tensor, training: boolean): { e: Tensor2D; features: Tensor2D } {
    return tf.tidy(() => {
      const features = this.features(x, training);
      return { e: this.head.apply(features), features };
    });
  }

  /** The embedding head's kernel and bias (none when dim is 0). */
  get headWeights(): Variable[] {
    return this.head.weights;
  }
}
