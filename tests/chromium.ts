/**
 * Headless Chromium for the browser tests (report, export, demo): no sandbox, no GPU, a fresh
 * profile, and the network-quiet flags a machine without network needs. `CHROMIUM` is null where
 * none is installed; callers skip then (except under CI).
 */

function findChromium(): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    for (const name of ["chromium", "chromium-browser", "google-chrome"]) {
      try {
        if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
      } catch { /* not here */ }
    }
  }
  return null;
}

export const CHROMIUM = findChromium();

/** Runs headless Chromium with `args` in a fresh profile; returns its stdout (e.g. --dump-dom). */
export async function chromium(args: string[], timeoutMs = 60_000): Promise<string> {
  const profile = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command(CHROMIUM!, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        `--user-data-dir=${profile}`,
        ...args,
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
    if (!out.success) throw new Error(`chromium failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`);
    return new TextDecoder().decode(out.stdout);
  } finally {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

/**
 * Serves `dir` over HTTP from a child process (core/demo/serve.ts with read access to `dir` and
 * the loopback network only, so the test itself needs no network permission).
 */
export async function serveInChild(dir: string): Promise<{ url: string; close: () => Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      `--allow-read=${dir}`,
      "--allow-net=127.0.0.1",
      new URL("../core/demo/serve.ts", import.meta.url).pathname,
      dir,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the file server ended before it listened");
    text += value;
  }
  reader.releaseLock();
  return {
    url: `http://127.0.0.1:${Number(text.trim())}/`,
    close: async () => {
      child.kill();
      await child.status;
      await child.stdout.cancel().catch(() => {});
    },
  };
}
