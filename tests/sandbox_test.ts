/**
 * The plugin sandbox (core/sandbox.ts) through the real CLI with `deno task train`'s own flags: a recipe's
 * plugin cannot open a native library, load sharp's addon (whose native code writes anywhere), start a
 * process, reach the network, write outside runs/ and .cache/, or ask for a permission back. Each is one
 * line and exit code 2, and leaves nothing behind. The libraries the core loaded before the seal (BLAS)
 * keep working; image decoding under the seal is covered by image_cli_test.ts with the same flags.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { assertOneLineError, ROOT, runCli, taskFlags } from "./cli_process.ts";

const ESCAPE = "escaped.txt";

/** A plugin whose module body runs `attack` when the recipe loads it. */
function plugin(attack: string): string {
  return `${attack}\nexport default { name: "probe", components: [] };\n`;
}

const ATTACKS: Record<string, [string, RegExp]> = {
  "dlopen libc": [
    `Deno.dlopen("libc.so.6", { getpid: { parameters: [], result: "i32" } });`,
    /^error: plugins: cannot load .*probe\.ts.*ffi/,
  ],
  "dlopen a library by path": [
    `Deno.dlopen("/lib/x86_64-linux-gnu/libc.so.6", {});`,
    /^error: plugins: cannot load .*probe\.ts.*ffi/,
  ],
  "a function pointer": [
    `new Deno.UnsafeFnPointer(Deno.UnsafePointer.create(4096n)!, { parameters: [], result: "void" }).call();`,
    /^error: plugins: cannot load .*probe\.ts.*ffi/,
  ],
  "sharp's native writer": [
    `const sharp = (await import("npm:sharp@0.35.5")).default;
     await sharp({ create: { width: 2, height: 2, channels: 3, background: "#000" } }).png().toFile("${ESCAPE}");`,
    /^error: plugins: cannot load .*probe\.ts.*sharp/,
  ],
  "asking for FFI back": [
    `Deno.permissions.requestSync({ name: "ffi" }); Deno.dlopen("libc.so.6", {});`,
    /^error: plugins: cannot load .*probe\.ts.*ffi/,
  ],
  "a subprocess": [
    `new Deno.Command("sh", { args: ["-c", "touch ${ESCAPE}"] }).outputSync();`,
    /^error: plugins: cannot load .*probe\.ts.*run/,
  ],
  "the network": [`await fetch("http://127.0.0.1:8765/");`, /^error: plugins: cannot load .*probe\.ts.*net/],
  "a write outside runs/": [
    `Deno.writeTextFileSync("${ESCAPE}", "x");`,
    /^error: plugins: cannot load .*probe\.ts.*write/,
  ],
};

async function trainWith(attack: string) {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/probe.ts`, plugin(attack));
  await Deno.writeTextFile(
    `${dir}/recipe.yaml`,
    `extends: ${ROOT}tests/fixtures/toy.yaml\nplugins: [./probe.ts]\ntrain: { epochs: 1, maxSteps: 2 }\n`,
  );
  const r = await runCli(dir, taskFlags("train"), ["train", "recipe.yaml", "--quiet"]);
  const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  await Deno.remove(dir, { recursive: true });
  return { ...r, left };
}

for (const [name, [attack, pattern]] of Object.entries(ATTACKS)) {
  Deno.test(`sandbox: a plugin is refused ${name}, in one line`, async () => {
    const r = await trainWith(attack);
    assertOneLineError(r, pattern);
    assertEquals(r.left, ["probe.ts", "recipe.yaml"]);
  });
}

Deno.test("sandbox: the core's BLAS, loaded before the seal, still computes; a harmless plugin trains", async () => {
  const r = await trainWith(
    `import { blas } from "${ROOT}core/blas.ts";
     const c = new Float32Array(1);
     blas()?.gemmNT(Float32Array.of(1, 2), 1, Float32Array.of(3, 4), 1, 2, c);
     console.log("blas:", blas()?.name ?? "none", c[0]);`,
  );
  assertEquals(r.code, 0, r.stderr);
  // This machine has OpenBLAS (the quickstart's speed depends on it); elsewhere the plugin says none.
  const line = r.stdout.split("\n").find((l) => l.startsWith("blas:"));
  ok(line === "blas: none 0" || /^blas: \S*blas\S* 11$/.test(line ?? ""), r.stdout);
});

Deno.test("sandbox: through `deno task train` itself, a plugin's dlopen of libc is refused in one line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/probe.ts`, plugin(ATTACKS["dlopen libc"][0]));
    await Deno.writeTextFile(
      `${dir}/recipe.yaml`,
      `extends: ${ROOT}tests/fixtures/toy.yaml\nname: sandbox-probe\nplugins: [./probe.ts]\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "train", `${dir}/recipe.yaml`],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    // deno task echoes the command it runs first; the CLI's own output is the rest.
    const lines = new TextDecoder().decode(out.stderr).trim().split("\n").filter((l) => !l.startsWith("Task train "));
    assertOneLineError({ code: out.code, stderr: lines.join("\n") }, ATTACKS["dlopen libc"][1]);
    ok(!(await Deno.stat(`${ROOT}runs/sandbox-probe`).then(() => true, () => false)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
