/**
 * A plain static file server for a folder (the demo page, its model and gallery): GET and HEAD of
 * files under the root, nothing else; paths that leave the root are refused. No server code of
 * the demo runs here: everything happens in the page.
 *
 * ```ts
 * const server = serveFolder("runs/x/demo", { port: 8000 });
 * await server.finished;
 * ```
 */
const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  json: "application/json",
  css: "text/css",
  png: "image/png",
  jpg: "image/jpeg",
  bin: "application/octet-stream",
  f32: "application/octet-stream",
};

/** Serves `root` on 127.0.0.1:`port` (0: any free port; the server's `addr` says which). */
export function serveFolder(root: string, o: { port: number; signal?: AbortSignal }): Deno.HttpServer<Deno.NetAddr> {
  const base = root.replace(/\/+$/, "");
  return Deno.serve({ hostname: "127.0.0.1", port: o.port, signal: o.signal, onListen: () => {} }, async (req) => {
    if (req.method !== "GET" && req.method !== "HEAD") return new Response("method not allowed", { status: 405 });
    let path = decodeURIComponent(new URL(req.url).pathname);
    if (path.endsWith("/")) path += "index.html";
    if (path.split("/").some((part) => part === "..")) return new Response("forbidden", { status: 403 });
    try {
      const file = await Deno.open(`${base}${path}`, { read: true });
      const type = TYPES[path.slice(path.lastIndexOf(".") + 1)] ?? "application/octet-stream";
      return new Response(req.method === "HEAD" ? null : file.readable, { headers: { "content-type": type } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
}

// `deno run --allow-read=DIR --allow-net=127.0.0.1 core/demo/serve.ts DIR [PORT]`: serves DIR, prints the port.
if (import.meta.main) {
  const server = serveFolder(Deno.args[0], { port: Number(Deno.args[1] ?? 0) });
  console.log(server.addr.port);
}
