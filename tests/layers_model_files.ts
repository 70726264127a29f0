/** Test helper: saving a tfjs-layers model as files, for the tests that load models by path. */
import { tf } from "../core/tf.ts";
import type * as tfl from "@tensorflow/tfjs-layers";

/** Saves `model` as dir/model.json + dir/weights.bin, the layout tensorflowjs_converter writes. */
export async function saveLayersModel(model: tfl.LayersModel, dir: string): Promise<string> {
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    const data = artifacts.weightData!;
    const bytes = data instanceof ArrayBuffer ? data : tf.io.concatenateArrayBuffers(data);
    await Deno.writeFile(`${dir}/weights.bin`, new Uint8Array(bytes));
    await Deno.writeTextFile(
      `${dir}/model.json`,
      JSON.stringify({
        format: "layers-model",
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ["weights.bin"], weights: artifacts.weightSpecs }],
      }),
    );
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
  }));
  return `${dir}/model.json`;
}
