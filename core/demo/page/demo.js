// The demo page: the exported model (model/, export.json) embeds a dropped image with tfjs in the
// browser, and the nearest gallery items (gallery.f32, gallery.json, thumbs.png) are found by an
// exact scan. Nothing runs on the server but a file server. `?drop=URL` drops that file through the
// same handler (how the headless test drives it); results land in <body data-results>.
(async () => {
  const $ = (id) => document.getElementById(id);
  const status = (text) => ($("status").textContent = text);
  try {
    await tf.setBackend("cpu");
    const info = await (await fetch("model/export.json")).json();
    const model = await tf.loadGraphModel("model/model.json");
    const gallery = await (await fetch("gallery.json")).json();
    const rows = new Float32Array(await (await fetch("gallery.f32")).arrayBuffer());
    const [h, w, c] = info.input.shape;
    const dim = gallery.dim, n = gallery.n;
    const mean = gallery.mean ? Float32Array.from(gallery.mean) : null;
    const prepare = (v) => {
      const out = Float32Array.from(v, (x, j) => x - (mean ? mean[j] : 0));
      if (gallery.metric === "cosine") {
        const norm = Math.sqrt(out.reduce((s, x) => s + x * x, 0)) || 1;
        for (let j = 0; j < dim; j++) out[j] /= norm;
      }
      return out;
    };
    const g = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) g.set(prepare(rows.subarray(i * dim, (i + 1) * dim)), i * dim);
    $("about").textContent = `${info.recipe} (${info.backbone}, ${info.loss}): ${n} gallery images, ` +
      `${dim}-d ${info.space}, ${gallery.metric}${gallery.center ? " (centred)" : ""}; input ${h}×${w}×${c}.`;

    // The image as the model's input: cover the input size, centre crop, grey or RGB, 0..255.
    const pixelsOf = async (blob) => {
      const bitmap = await createImageBitmap(blob);
      const canvas = document.createElement("canvas");
      canvas.width = w, canvas.height = h;
      const ctx = canvas.getContext("2d", { willReadFrequently: true });
      const scale = Math.max(w / bitmap.width, h / bitmap.height);
      const sw = w / scale, sh = h / scale;
      ctx.imageSmoothingQuality = "high";
      ctx.drawImage(bitmap, (bitmap.width - sw) / 2, (bitmap.height - sh) / 2, sw, sh, 0, 0, w, h);
      const rgba = ctx.getImageData(0, 0, w, h).data;
      const x = new Float32Array(h * w * c);
      for (let p = 0; p < h * w; p++) {
        if (c === 1) x[p] = Math.round(0.299 * rgba[4 * p] + 0.587 * rgba[4 * p + 1] + 0.114 * rgba[4 * p + 2]);
        else for (let k = 0; k < 3; k++) x[p * 3 + k] = rgba[4 * p + k];
      }
      return { x, canvas };
    };

    const thumb = (i) => {
      const t = gallery.thumbs, div = document.createElement("div");
      div.className = "thumb";
      const col = i % t.cols, row = Math.floor(i / t.cols), k = 112 / t.size;
      div.style.background = `url(thumbs.png) -${col * t.size * k}px -${row * t.size * k}px / ` +
        `${t.cols * t.size * k}px auto no-repeat`;
      return div;
    };

    const search = async (blob, name) => {
      status(`Embedding ${name}…`);
      const { x, canvas } = await pixelsOf(blob);
      $("query").replaceChildren(canvas);
      const e = tf.tidy(() => model.predict(tf.tensor(x, [1, h, w, c])));
      const q = prepare(await e.data());
      e.dispose();
      const scored = [];
      for (let i = 0; i < n; i++) {
        let d = 0;
        if (gallery.metric === "cosine") {
          let s = 0;
          for (let j = 0; j < dim; j++) s += q[j] * g[i * dim + j];
          d = 1 - s;
        } else {
          for (let j = 0; j < dim; j++) d += (q[j] - g[i * dim + j]) ** 2;
          d = Math.sqrt(d);
        }
        scored.push([d, i]);
      }
      scored.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      const top = scored.slice(0, gallery.k);
      const first = gallery.labels ? gallery.labels[top[0][1]] : null;
      $("results").replaceChildren(...top.map(([d, i], r) => {
        const hit = document.createElement("div");
        hit.className = "hit";
        const label = gallery.labels ? gallery.labels[i] : null;
        const name = label === null ? "" : gallery.classNames?.[label] ?? `class ${label}`;
        const caption = document.createElement("div");
        caption.innerHTML = `#${r + 1} · ${gallery.ids[i]}<br><span class="${
          label === first ? "same" : ""
        }">${name}</span><br>d = ${Math.max(0, d).toFixed(3)}`;
        hit.append(thumb(i), caption);
        return hit;
      }));
      status(`Nearest ${gallery.k} of ${n} gallery images to ${name}:`);
      document.body.dataset.results = JSON.stringify(
        top.map(([d, i]) => ({ row: i, id: gallery.ids[i], distance: d })),
      );
    };

    const drop = $("drop");
    drop.addEventListener("dragover", (ev) => (ev.preventDefault(), drop.classList.add("over")));
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (ev) => {
      ev.preventDefault();
      drop.classList.remove("over");
      const file = ev.dataTransfer.files[0];
      if (file) search(file, file.name).catch(fail);
    });
    $("file").addEventListener("change", (ev) => {
      const file = ev.target.files[0];
      if (file) search(file, file.name).catch(fail);
    });
    status("Ready: drop an image.");
    document.body.dataset.ready = "1";

    const url = new URL(location.href).searchParams.get("drop");
    if (url) {
      const blob = await (await fetch(url)).blob();
      const data = new DataTransfer();
      data.items.add(new File([blob], url.split("/").pop(), { type: blob.type }));
      drop.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
    }
  } catch (err) {
    fail(err);
  }
  function fail(err) {
    status(`Error: ${err}`);
    document.body.dataset.error = String(err);
  }
})();
