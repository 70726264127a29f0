import { deepStrictEqual as assertEquals, rejects, throws } from "node:assert/strict";
import { Registry } from "../core/registry.ts";
import { int, num, str } from "../core/options.ts";
import { DmlError } from "../core/errors.ts";
import { applySet, mergeRecipe } from "../core/recipe.ts";
import type { Plugin } from "../core/types.ts";

const demo: Plugin = {
  name: "demo",
  components: [{
    kind: "loss",
    name: "demo-loss",
    doc: "a loss for registry tests",
    options: { margin: num(0.5, { min: 0 }), size: int(undefined, { min: 1 }), mode: str("a", ["a", "b"]) },
    create: (o) => ({ ...o }),
  }],
};

Deno.test("create validates options and fills defaults", async () => {
  const r = new Registry();
  r.register(demo);
  assertEquals(await r.create("loss", "demo-loss", { size: 3 }), { margin: 0.5, size: 3, mode: "a" });
  assertEquals(r.list("loss").map((d) => d.name), ["demo-loss"]);
  assertEquals(r.list("memory"), []);
});

Deno.test("create names the recipe path in every option error", async () => {
  const r = new Registry();
  r.register(demo);
  const err = (o: Record<string, unknown>) => rejects(r.create("loss", "demo-loss", o, { path: "loss" }), DmlError);
  await err({});
  await rejects(r.create("loss", "demo-loss", {}), /loss\.size: required option is missing/);
  await rejects(r.create("loss", "demo-loss", { size: 0 }), /loss\.size: expected an integer >= 1, got 0/);
  await rejects(r.create("loss", "demo-loss", { size: 1.5 }), /loss\.size: expected an integer >= 1, got 1\.5/);
  await rejects(
    r.create("loss", "demo-loss", { size: 2, margin: "x" }),
    /loss\.margin: expected a number >= 0, got "x"/,
  );
  await rejects(r.create("loss", "demo-loss", { size: 2, mode: "c" }), /loss\.mode: expected one of a, b, got "c"/);
  await rejects(
    r.create("loss", "demo-loss", { size: 2, margn: 1 }),
    /loss\.margn: unknown option \(did you mean 'margin'\?\)/,
  );
  await rejects(
    r.create("loss", "demo-los", {}),
    /loss\.use: unknown loss 'demo-los' \(did you mean 'demo-loss'\?\); known: demo-loss/,
  );
});

Deno.test("a name taken by another plugin is refused; re-registering the same plugin is not", () => {
  const r = new Registry();
  r.register(demo);
  r.register(demo);
  throws(() => r.register({ ...demo, name: "other" }), /loss 'demo-loss' is already registered by demo/);
});

Deno.test("extends merges sections unless their component changes, and --set reads YAML values", () => {
  const parent = { loss: { use: "a", margin: 1, p: 2 }, train: { epochs: 3 } };
  const child = { loss: { margin: 5 }, memory: { use: "xbm" } };
  assertEquals(mergeRecipe(parent, child), {
    loss: { use: "a", margin: 5, p: 2 },
    train: { epochs: 3 },
    memory: { use: "xbm" },
  });
  assertEquals(mergeRecipe(parent, { loss: { use: "b" } }).loss, { use: "b" });
  const raw: Record<string, unknown> = {};
  applySet(raw, "train.epochs=4");
  applySet(raw, "eval.recallAt=[1, 10]");
  applySet(raw, "train.backend=cpu");
  applySet(raw, "memory.adaptive=true");
  assertEquals(raw, { train: { epochs: 4, backend: "cpu" }, eval: { recallAt: [1, 10] }, memory: { adaptive: true } });
  throws(() => applySet(raw, "x"), /--set x: expected key\.path=value/);
});
