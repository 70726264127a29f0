/**
 * Kernels the tfjs wasm backend lacks, registered so every built-in backbone trains on wasm.
 * (Filled in by the performance work; importing it registers them.)
 */
export {};
