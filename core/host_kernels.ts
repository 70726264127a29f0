/**
 * Fused JavaScript kernels for the backends whose tensors live in host memory (blas, wasm): a
 * kernel reads its inputs as Float32Arrays and returns its outputs the same way, so one loop serves
 * both backends. A backend says how to read and make its tensors (`registerHostBackend`); a kernel
 * is defined once (`defineHostKernel`) and registered on every such backend, whichever comes
 * first. Callers check `hasHostKernel` and fall back to tfjs ops elsewhere (cpu, webgpu).
 *
 * ```ts
 * defineHostKernel("DmlScale", ({ inputs: { x }, shapes, attrs }) => [[shapes.x, x.map((v) => v * (attrs.k as number))]]);
 * if (hasHostKernel("DmlScale")) y = tf.engine().runKernel("DmlScale", { x }, { k: 2 }) as Tensor;
 * ```
 */
import { tf } from "./tf.ts";
import type { KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";

/** How a host-memory backend's tensors are read (a float32 view or copy) and made. */
export interface KernelIo {
  read(t: TensorInfo): Float32Array;
  write(shape: number[], values: Float32Array): TensorInfo;
}

export interface HostKernelArgs {
  inputs: Record<string, Float32Array>;
  shapes: Record<string, number[]>;
  attrs: NamedAttrMap;
}

/** Outputs in order, each as [shape, values]. */
export type HostKernel = (args: HostKernelArgs) => Array<[number[], Float32Array]>;

const backends = new Map<string, (backend: unknown) => KernelIo>();
const kernels = new Map<string, HostKernel>();

function register(kernelName: string, backendName: string): void {
  if (tf.getKernel(kernelName, backendName)) return;
  const kernel = kernels.get(kernelName)!, io = backends.get(backendName)!;
  const kernelFunc = (
    { inputs, backend, attrs }: { inputs: Record<string, TensorInfo>; backend: unknown; attrs: NamedAttrMap },
  ) => {
    const { read, write } = io(backend);
    const names = Object.keys(inputs);
    const outputs = kernel({
      inputs: Object.fromEntries(names.map((n) => [n, read(inputs[n])])),
      shapes: Object.fromEntries(names.map((n) => [n, inputs[n].shape])),
      attrs,
    });
    return outputs.map(([shape, values]) => write(shape, values));
  };
  tf.registerKernel({ kernelName, backendName, kernelFunc: kernelFunc as unknown as KernelFunc });
}

/** Makes `backendName` run every host kernel, those defined so far and later. */
export function registerHostBackend(backendName: string, io: (backend: unknown) => KernelIo): void {
  backends.set(backendName, io);
  for (const name of kernels.keys()) register(name, backendName);
}

/** Defines a kernel for every host-memory backend, registered so far and later. */
export function defineHostKernel(kernelName: string, kernel: HostKernel): void {
  kernels.set(kernelName, kernel);
  for (const backendName of backends.keys()) register(kernelName, backendName);
}

/** Whether the active backend runs these kernels. */
export function hasHostKernel(...kernelNames: string[]): boolean {
  const backend = tf.getBackend();
  return kernelNames.every((k) => tf.getKernel(k, backend) !== undefined);
}
