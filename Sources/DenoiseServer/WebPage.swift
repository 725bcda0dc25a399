// WebPage: the page served at `/` — one self-contained HTML document (no CDN, no build step, no
// external file) to try the server in a browser: pick a model, steps, sampler, seed, n and class;
// a progress bar fed by the event stream of `POST /v1/generate` (`Accept: text/event-stream`); the
// images with their seeds and download links; and for image-to-image / inpainting an uploaded
// picture with strength and a mask painted on a canvas over it (white = regenerate). It only
// calls the public API (`/v1/models`, `/v1/generate`), so it is also a worked example of it.
// `/?autorun=1&steps=…&seed=…` starts a generation on load (what scripts/check_web_page.sh uses
// to drive the page in headless Chromium).

enum WebPage {
    /// The page's bytes (UTF-8 HTML).
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>denoise</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #222; background: #f6f6f4; }
  [hidden] { display: none !important; }
  body { max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem; }
  h1 { font-size: 1.4rem; margin: 0 0 1rem; }
  fieldset { border: 1px solid #ccc; border-radius: 6px; margin: 0 0 1rem; padding: .6rem .8rem; }
  label { display: inline-block; margin: .25rem 1rem .25rem 0; }
  input[type=number] { width: 6rem; }
  button { font-size: 1rem; padding: .4rem 1.2rem; }
  #progress { width: 100%; height: 1rem; }
  #status { min-height: 1.2rem; margin: .4rem 0; }
  #status.error { color: #b00; }
  #results { display: flex; flex-wrap: wrap; gap: 1rem; }
  figure { margin: 0; text-align: center; font-size: .85rem; }
  figure img { width: 8rem; height: 8rem; image-rendering: pixelated; border: 1px solid #999; background: #000; }
  #editor { position: relative; display: inline-block; }
  #editor canvas { width: 12rem; height: 12rem; image-rendering: pixelated; border: 1px solid #999; }
  #mask { position: absolute; left: 0; top: 0; opacity: .55; cursor: crosshair; }
</style>
</head>
<body>
<h1>denoise</h1>
<form id="form">
  <fieldset>
    <legend>Generate</legend>
    <label>model <select id="model"></select></label>
    <label>steps <input id="steps" type="number" min="1" value="50"></label>
    <label>sampler <select id="sampler"><option value="">default</option><option>ddim</option><option>ddpm</option><option>dpm-solver++</option></select></label>
    <label>n <input id="n" type="number" min="1" value="4"></label>
    <label>seed <input id="seed" type="number" min="0" placeholder="random"></label>
    <label id="classLabel" hidden>class <select id="class"><option value="">random</option></select></label>
    <label>API key <input id="key" type="password" placeholder="when the server needs one" autocomplete="off"></label>
  </fieldset>
  <fieldset>
    <legend>Image to image (optional)</legend>
    <label>picture <input id="picture" type="file" accept="image/png"></label>
    <label>strength <input id="strength" type="number" min="0.01" max="1" step="0.05" value="0.6"></label>
    <label><input id="inpaint" type="checkbox"> inpaint: paint the area to regenerate</label>
    <label><button type="button" id="clearMask">clear mask</button></label>
    <div id="editor" hidden><canvas id="picturePreview"></canvas><canvas id="mask"></canvas></div>
  </fieldset>
  <button id="go" type="submit">Generate</button>
</form>
<progress id="progress" max="1" value="0"></progress>
<div id="status"></div>
<div id="results"></div>
<script>
"use strict";
const $ = id => document.getElementById(id);
let models = [], picturePNG = null, imageShape = null, painting = false;

function status(text, error) { $("status").textContent = text; $("status").className = error ? "error" : ""; }

function currentModel() { return models.find(m => m.name === $("model").value) || models[0]; }

function showClasses() {
  const m = currentModel(), select = $("class");
  select.length = 1;
  $("classLabel").hidden = !(m && m.class_conditional);
  if (!m || !m.class_conditional) return;
  const count = m.num_classes || 0;
  for (let k = 0; k < count; k++) {
    const o = document.createElement("option");
    o.value = String(k);
    o.textContent = m.class_names && m.class_names[k] ? `${k}: ${m.class_names[k]}` : String(k);
    select.appendChild(o);
  }
}

function headers(extra) {
  const key = $("key").value;
  return key ? Object.assign({ "Authorization": "Bearer " + key }, extra) : extra;
}

async function loadModels() {
  $("model").length = 0;
  const reply = await fetch("/v1/models", { headers: headers({}) });
  if (!reply.ok) { status(`cannot list models: HTTP ${reply.status}${reply.status === 401 ? " (enter the API key)" : ""}`, true); return; }
  status("");
  models = (await reply.json()).models;
  for (const m of models) {
    const o = document.createElement("option");
    o.value = m.name;
    o.textContent = `${m.name} (${m.image_shape.join("x")})`;
    $("model").appendChild(o);
  }
  showClasses();
}

function base64Of(canvas) { return canvas.toDataURL("image/png").split(",")[1]; }

function loadPicture(file) {
  const reader = new FileReader();
  reader.onload = () => {
    const img = new Image();
    img.onload = () => {
      const m = currentModel();
      const [c, h, w] = m ? m.image_shape : [3, img.height, img.width];
      imageShape = [c, h, w];
      for (const id of ["picturePreview", "mask"]) { $(id).width = w; $(id).height = h; }
      const ctx = $("picturePreview").getContext("2d");
      ctx.drawImage(img, 0, 0, w, h);
      picturePNG = base64Of($("picturePreview"));
      clearMask();
      $("editor").hidden = false;
    };
    img.src = reader.result;
  };
  reader.readAsDataURL(file);
}

function clearMask() {
  const ctx = $("mask").getContext("2d");
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, $("mask").width, $("mask").height);
}

function paint(event) {
  if (!painting || !$("inpaint").checked) return;
  const canvas = $("mask"), rect = canvas.getBoundingClientRect();
  const x = (event.clientX - rect.left) / rect.width * canvas.width, y = (event.clientY - rect.top) / rect.height * canvas.height;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.beginPath();
  ctx.arc(x, y, Math.max(1, canvas.width / 10), 0, 2 * Math.PI);
  ctx.fill();
}

function request() {
  const body = { steps: Number($("steps").value), n: Number($("n").value) };
  if ($("seed").value !== "") body.seed = Number($("seed").value);
  if ($("sampler").value) body.sampler = $("sampler").value;
  if (models.length) body.model = $("model").value;
  if (!$("classLabel").hidden && $("class").value !== "") body.class = Number($("class").value);
  if (picturePNG) {
    body.init_image = picturePNG;
    body.strength = Number($("strength").value);
    if ($("inpaint").checked) body.mask = base64Of($("mask"));
  }
  return body;
}

function show(image) {
  const figure = document.createElement("figure"), img = document.createElement("img"), link = document.createElement("a");
  img.src = "data:image/png;base64," + image.png;
  img.alt = `sample ${image.index}`;
  img.className = "result";
  link.href = img.src;
  link.download = `denoise-seed${image.seed}-${image.index}.png`;
  link.textContent = "download";
  const caption = document.createElement("figcaption");
  caption.textContent = `seed ${image.seed}, sample ${image.index} `;
  caption.appendChild(link);
  figure.append(img, caption);
  $("results").appendChild(figure);
}

// Reads `text/event-stream` from a fetch body: calls onEvent(name, data) per event.
async function readEvents(reply, onEvent) {
  const reader = reply.body.getReader(), decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      // Seeds are 64-bit: JSON.parse would round them past 2^53, so keep the digits as written.
      const parsed = data ? JSON.parse(data) : null, seed = /"seed"\s*:\s*(\d+)/.exec(data);
      if (parsed && seed) parsed.seed = seed[1];
      onEvent(name, parsed);
    }
  }
}

async function generate(event) {
  if (event) event.preventDefault();
  $("go").disabled = true;
  $("results").textContent = "";
  $("progress").value = 0;
  status("starting…");
  try {
    const reply = await fetch("/v1/generate", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json", "Accept": "text/event-stream" }),
      body: JSON.stringify(request()),
    });
    if (!reply.ok) {
      const text = await reply.text();
      let message = text;
      try { message = JSON.parse(text).error; } catch (_) {}
      status(`HTTP ${reply.status}: ${message}`, true);
      return;
    }
    await readEvents(reply, (name, data) => {
      if (name === "progress") { $("progress").max = data.steps; $("progress").value = data.step; status(`step ${data.step} of ${data.steps}`); }
      else if (name === "image") show(data);
      else if (name === "done") { $("progress").value = $("progress").max; status("done"); document.body.dataset.done = "1"; }
      else if (name === "error") status(data && data.error ? data.error : "error", true);
    });
  } catch (error) {
    status(String(error), true);
  } finally {
    $("go").disabled = false;
  }
}

$("form").addEventListener("submit", generate);
$("model").addEventListener("change", showClasses);
$("key").addEventListener("change", loadModels);
$("picture").addEventListener("change", e => { if (e.target.files[0]) loadPicture(e.target.files[0]); });
$("clearMask").addEventListener("click", clearMask);
$("mask").addEventListener("pointerdown", e => { painting = true; paint(e); });
$("mask").addEventListener("pointermove", paint);
window.addEventListener("pointerup", () => { painting = false; });

loadModels().then(() => {
  const params = new URLSearchParams(location.search);
  for (const key of ["steps", "n", "seed"]) if (params.has(key)) $(key).value = params.get(key);
  if (params.get("autorun") === "1") generate();
});
</script>
</body>
</html>
"""#
}
