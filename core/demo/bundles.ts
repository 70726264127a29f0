/**
 * tfjs's own browser bundles (core, the cpu backend, the converter's GraphModel loader), copied
 * from node_modules beside a page so that it runs without network: they define `window.tf`.
 */
const BUNDLES = [
  ["tfjs-core", "tf-core.min.js"],
  ["tfjs-backend-cpu", "tf-backend-cpu.min.js"],
  ["tfjs-converter", "tf-converter.min.js"],
];

/** Copies the bundles into `dir`; returns their file names in load order. */
export async function copyTfjsBundles(dir: string): Promise<string[]> {
  const root = new URL("../../node_modules/@tensorflow/", import.meta.url).pathname;
  for (const [pkg, file] of BUNDLES) await Deno.copyFile(`${root}${pkg}/dist/${file}`, `${dir}/${file}`);
  return BUNDLES.map(([, f]) => f);
}
