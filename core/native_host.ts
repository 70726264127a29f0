/**
 * The worker that keeps FFI after the main thread gave it up (core/sandbox.ts). It starts only the
 * worker modules it was told about first, before any plugin code ran, and relays messages to them.
 */
/// <reference lib="deno.worker" />

type HostMessage =
  | { kind: "allow"; urls: string[] }
  | { kind: "start"; id: number; url: string }
  | { kind: "post"; id: number; data: unknown }
  | { kind: "end"; id: number };

let allowed: ReadonlySet<string> | null = null;
const workers = new Map<number, Worker>();

self.onmessage = (e: MessageEvent<HostMessage>) => {
  const m = e.data;
  switch (m.kind) {
    case "allow":
      // Only the first list counts: the main thread sends it before it runs any plugin.
      allowed ??= new Set(m.urls);
      return;
    case "start":
      if (allowed?.has(m.url)) workers.set(m.id, new Worker(m.url, { type: "module" }));
      return;
    case "post":
      workers.get(m.id)?.postMessage(m.data);
      return;
    case "end":
      workers.get(m.id)?.terminate();
      workers.delete(m.id);
      return;
  }
};
