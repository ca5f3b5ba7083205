// casebook studio: the pages' script. Plain JavaScript, no build step; every
// result comes from the server's API (/api/...), which runs the same library
// code as the command line.
"use strict";

const $ = (id) => document.getElementById(id);

function showError(text, id) {
  const box = $(id || "error");
  if (!box) return;
  box.textContent = text || "";
  box.hidden = !text;
}

// POSTs `body` and returns the response; a failure throws the server's
// one-line reason.
async function send(url, body, type) {
  const response = await fetch(url, {
    method: "POST",
    body,
    headers: { "Content-Type": type || "application/octet-stream" },
  });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (await response.json()).error || message;
    } catch (_) {
      // not JSON: keep the status line
    }
    throw new Error(message);
  }
  return response;
}

// Fills every model list (`<select data-kind=KIND>`) with the models on offer.
async function fillModels() {
  for (const select of document.querySelectorAll("select[data-kind]")) {
    const offers = await (await fetch(`/api/models/${select.dataset.kind}`)).json();
    const chosen = select.value;
    select.replaceChildren(
      ...offers.map((offer) => {
        const option = document.createElement("option");
        option.value = offer.name;
        option.textContent = offer.label;
        return option;
      }),
    );
    if (offers.some((offer) => offer.name === chosen)) select.value = chosen;
    select.dataset.filled = offers.length;
    if (!offers.length && select.id === "model") {
      showError("No model of this kind under the runs folder yet: train one on the command line, then reload.");
    }
  }
}

const modelQuery = () => "model=" + encodeURIComponent($("model").value);

function cell(row, content, className) {
  const td = row.insertCell();
  if (content instanceof Node) td.append(content);
  else td.textContent = content;
  if (className) td.className = className;
  return td;
}

// ---- Day or night? -------------------------------------------------------

function initDaynight() {
  const input = $("files");
  const drop = $("drop");
  input.addEventListener("change", () => classify([...input.files]));
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    classify([...e.dataTransfer.files]);
  });
}

async function classify(files) {
  showError("");
  const progress = $("progress");
  const text = $("progress-text");
  const table = $("results");
  progress.hidden = false;
  progress.max = files.length;
  progress.value = 0;
  table.hidden = false;
  let failed = 0;
  for (const file of files) {
    const row = table.tBodies[0].insertRow();
    const thumb = document.createElement("img");
    thumb.className = "thumb";
    thumb.alt = file.name;
    thumb.src = URL.createObjectURL(file);
    cell(row, thumb);
    cell(row, file.name);
    try {
      const response = await send(`/api/image/predict?${modelQuery()}`, file, file.type);
      const answer = await response.json();
      row.className = "result";
      row.dataset.label = answer.label;
      cell(row, answer.label);
      cell(row, `${(100 * answer.probability).toFixed(1)} %`, "num");
    } catch (err) {
      failed += 1;
      row.className = "failed";
      thumb.remove();
      const reason = cell(row, err.message, "error");
      reason.colSpan = 2;
    }
    progress.value += 1;
    text.textContent =
      `${progress.value} of ${files.length} photos` + (failed ? `; ${failed} could not be read` : "");
  }
}

// ---- Trigger word --------------------------------------------------------

function initTrigger() {
  const input = $("wav");
  input.addEventListener("change", () => {
    if (input.files[0]) detect(input.files[0], input.files[0].name);
  });
  $("record").addEventListener("click", record);
  $("live").addEventListener("click", toggleLive);
}

async function detect(blob, name) {
  showError("");
  const status = $("status");
  status.textContent = `Listening to ${name}…`;
  try {
    const response = await send(`/api/trigger/detect?${modelQuery()}`, blob, "audio/wav");
    const answer = await response.json();
    plot(answer);
    const table = $("detections");
    table.tBodies[0].replaceChildren();
    for (const d of answer.detections) {
      const row = table.tBodies[0].insertRow();
      row.className = "detection";
      cell(row, d.time.toFixed(2), "num");
      cell(row, d.score.toFixed(3), "num");
    }
    table.hidden = answer.detections.length === 0;
    status.textContent =
      `${name}: ${answer.seconds.toFixed(1)} s at ${answer.rate} Hz; ` +
      `${answer.detections.length} detection${answer.detections.length === 1 ? "" : "s"} of ` +
      `"${answer.word}" at threshold ${answer.threshold}`;
    status.dataset.detections = answer.detections.length;
    if (answer.detections.length) {
      status.classList.add("lit");
      setTimeout(() => status.classList.remove("lit"), 1500);
    }
  } catch (err) {
    status.textContent = "";
    showError(err.message);
  }
}

// The waveform above, the score curve below with the threshold (dashed)
// and each detection (orange).
function plot(answer) {
  const canvas = $("plot");
  canvas.hidden = false;
  const g = canvas.getContext("2d");
  const W = canvas.width;
  const H = canvas.height;
  const x = (t) => 40 + (t / Math.max(answer.seconds, 1e-9)) * (W - 50);
  g.clearRect(0, 0, W, H);
  g.font = "12px sans-serif";
  const waveMid = 55;
  g.fillStyle = "#8a9bc0";
  const span = (W - 50) / Math.max(answer.waveform.length, 1);
  answer.waveform.forEach(([lo, hi], i) => {
    g.fillRect(40 + i * span, waveMid - hi * 45, Math.max(span, 1), Math.max((hi - lo) * 45, 1));
  });
  const top = 115;
  const h = H - top - 25;
  const y = (p) => top + h - p * h;
  g.strokeStyle = "#ccc";
  g.strokeRect(40, top, W - 50, h);
  g.fillStyle = "#444";
  g.fillText("score", 2, top + 10);
  g.fillText("1", 28, top + 10);
  g.fillText("0", 28, top + h);
  for (let t = 0; t <= answer.seconds; t += Math.max(1, Math.round(answer.seconds / 10))) {
    g.fillText(`${t} s`, x(t) - 8, H - 8);
  }
  g.setLineDash([5, 4]);
  g.strokeStyle = "#c00";
  g.beginPath();
  g.moveTo(40, y(answer.threshold));
  g.lineTo(W - 10, y(answer.threshold));
  g.stroke();
  g.setLineDash([]);
  g.strokeStyle = "#1f5fbf";
  g.beginPath();
  answer.scores.forEach(([t, p], i) => (i ? g.lineTo(x(t), y(p)) : g.moveTo(x(t), y(p))));
  g.stroke();
  g.strokeStyle = "#e07b00";
  g.lineWidth = 2;
  for (const d of answer.detections) {
    g.beginPath();
    g.moveTo(x(d.time), 5);
    g.lineTo(x(d.time), top + h);
    g.stroke();
  }
  g.lineWidth = 1;
}

// The microphone, its samples handed to `onSamples` in blocks of `block`;
// null (and the reason shown) when there is none. `stop()` releases it.
async function microphone(block, onSamples) {
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    showError(`No microphone: ${err.message}`);
    return null;
  }
  const context = new AudioContext();
  const source = context.createMediaStreamSource(stream);
  const tap = context.createScriptProcessor(block, 1, 1);
  tap.onaudioprocess = (e) => onSamples(e.inputBuffer.getChannelData(0));
  source.connect(tap);
  tap.connect(context.destination);
  return {
    rate: context.sampleRate,
    async stop() {
      tap.disconnect();
      source.disconnect();
      stream.getTracks().forEach((track) => track.stop());
      await context.close();
    },
  };
}

// Records 5 s from the microphone as 16-bit mono WAV and detects in it.
async function record() {
  const button = $("record");
  showError("");
  const chunks = [];
  const mic = await microphone(4096, (samples) => chunks.push(new Float32Array(samples)));
  if (!mic) return;
  button.disabled = true;
  button.textContent = "Recording…";
  await new Promise((done) => setTimeout(done, 5000));
  await mic.stop();
  const rate = mic.rate;
  button.disabled = false;
  button.textContent = "Record 5 s";
  const samples = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    samples.set(c, at);
    at += c.length;
  }
  await detect(wavBlob(samples, rate), "the recording");
}

function wavBlob(samples, rate) {
  const view = new DataView(new ArrayBuffer(44 + 2 * samples.length));
  const text = (at, s) => [...s].forEach((ch, i) => view.setUint8(at + i, ch.charCodeAt(0)));
  text(0, "RIFF");
  view.setUint32(4, 36 + 2 * samples.length, true);
  text(8, "WAVEfmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, rate, true);
  view.setUint32(28, 2 * rate, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  text(36, "data");
  view.setUint32(40, 2 * samples.length, true);
  samples.forEach((s, i) => view.setInt16(44 + 2 * i, Math.max(-1, Math.min(1, s)) * 32767, true));
  return new Blob([view], { type: "audio/wav" });
}

// Live: the microphone as 16-bit PCM over a WebSocket; each detection lights
// the lamp. A capture clock maps a detection's audio time to the moment that
// audio was captured, for the latency shown.
let live = null;

async function toggleLive() {
  const button = $("live");
  if (live) {
    live.stop();
    return;
  }
  showError("");
  let socket = null;
  let sent = 0;
  let started = null;
  const status = $("live-status");
  const mic = await microphone(2048, (samples) => {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    if (started === null) started = performance.now() - (1000 * samples.length) / mic.rate;
    const pcm = new Int16Array(samples.length);
    samples.forEach((x, i) => (pcm[i] = Math.max(-1, Math.min(1, x)) * 32767));
    socket.send(pcm.buffer);
    sent += samples.length;
    status.textContent = `listening: ${(sent / mic.rate).toFixed(0)} s sent`;
  });
  if (!mic) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/api/trigger/live?${modelQuery()}&rate=${mic.rate}`);
  socket.binaryType = "arraybuffer";
  socket.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.error) showError(data.error);
    if (data.time === undefined) return;
    const latency = performance.now() - (started + 1000 * data.time);
    const lamp = $("lamp");
    lamp.classList.add("on");
    setTimeout(() => lamp.classList.remove("on"), 1000);
    const table = $("live-detections");
    table.hidden = false;
    const row = table.tBodies[0].insertRow(0);
    row.className = "live-detection";
    cell(row, data.time.toFixed(2), "num");
    cell(row, data.score.toFixed(3), "num");
    cell(row, latency.toFixed(0), "num");
  };
  socket.onerror = () => showError("The live connection failed.");
  socket.onclose = () => live && live.stop();
  live = {
    stop() {
      live = null;
      mic.stop();
      // The server sends what the last audio still holds, then closes.
      if (socket.readyState === WebSocket.OPEN) socket.send("end");
      button.textContent = "Listen live";
      status.textContent = "stopped";
    },
  };
  button.textContent = "Stop";
}

// ---- Logistic regression -------------------------------------------------

function initLogreg() {
  const input = $("csv");
  input.addEventListener("change", async () => {
    const file = input.files[0];
    if (!file) return;
    showError("");
    const status = $("status");
    status.textContent = `Scoring ${file.name}…`;
    try {
      const response = await send(`/api/logreg/predict?${modelQuery()}`, file, file.type || "text/csv");
      const text = await response.text();
      status.textContent = `${file.name}: ${response.headers.get("x-rows")} rows scored; the first 20 below.`;
      const link = $("download");
      link.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
      link.hidden = false;
      preview(parseCsv(text).slice(0, 21));
    } catch (err) {
      status.textContent = "";
      showError(err.message);
    }
  });
}

// Training as a job: the page follows it over server-sent events and finds
// it again after a reload.
function initTraining() {
  const input = $("train-csv");
  const target = $("target");
  input.addEventListener("change", async () => {
    const file = input.files[0];
    if (!file) return;
    const header = parseCsv((await file.slice(0, 65536).text()).split(/\r?\n/)[0] + "\n")[0] || [];
    target.replaceChildren(
      ...header.map((name) => {
        const option = document.createElement("option");
        option.textContent = name;
        return option;
      }),
    );
    target.value = header[header.length - 1] || "";
    target.disabled = $("train").disabled = header.length === 0;
  });
  $("train").addEventListener("click", async () => {
    showError("");
    const query = `target=${encodeURIComponent(target.value)}&ignore=${encodeURIComponent($("ignore").value)}`;
    try {
      const job = await (await send(`/api/jobs/logreg-train?${query}`, input.files[0], "text/csv")).json();
      follow(job);
    } catch (err) {
      showError(err.message);
    }
  });
}

// ---- Jobs ------------------------------------------------------------------
// A page's jobs (`<div id=jobs data-kind=KIND>`): followed over server-sent
// events and found again after a reload.

function watchJobs() {
  const lists = [...document.querySelectorAll("div[data-kind]")];
  fetch("/api/jobs")
    .then((r) => r.json())
    .then((jobs) =>
      lists.forEach((list) =>
        jobs.filter((j) => j.kind === list.dataset.kind).slice(0, 5).reverse().forEach(follow),
      ),
    );
}

// Sends the files of a picked folder as one upload, each named by its path
// inside that folder (`day/IMG_0001.jpg`); returns the job it started.
async function sendFolder(url, files) {
  if (!files.length) throw new Error("Choose a folder first.");
  const form = new FormData();
  for (const file of files) {
    const path = (file.webkitRelativePath || file.name).split("/").slice(1).join("/") || file.name;
    form.append("file", file, path);
  }
  const response = await fetch(url, { method: "POST", body: form });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error || `${response.status} ${response.statusText}`);
  return answer;
}

// A folder picker whose button starts `start(files)` as a job.
function folderJob(inputId, buttonId, errorId, start) {
  const input = $(inputId);
  const button = $(buttonId);
  input.addEventListener("change", () => (button.disabled = input.files.length === 0));
  button.addEventListener("click", async () => {
    showError("", errorId);
    button.disabled = true;
    try {
      follow(await start([...input.files]));
    } catch (err) {
      showError(err.message, errorId);
    } finally {
      button.disabled = input.files.length === 0;
    }
  });
}

function jobBox(job) {
  let box = document.getElementById(`job-${job.id}`);
  if (!box) {
    box = document.createElement("div");
    box.id = `job-${job.id}`;
    box.className = "job";
    box.innerHTML =
      '<p><b class=title></b>: <span class=state></span> <button type=button class=cancel>Cancel</button></p>' +
      '<progress max=1 value=0></progress> <span class=reading></span>' +
      '<img class=forming alt="the picture so far" hidden>';
    box.querySelector(".title").textContent = job.title;
    box.querySelector(".cancel").addEventListener("click", () =>
      fetch(`/api/jobs/${job.id}/cancel`, { method: "POST" }),
    );
    document.querySelector(`div[data-kind="${job.kind}"]`).prepend(box);
  }
  return box;
}

function showJob(job) {
  const box = jobBox(job);
  box.dataset.status = job.status;
  const state = box.querySelector(".state");
  state.textContent = job.status === "running" ? job.phase : job.status;
  const bar = box.querySelector("progress");
  bar.max = Math.max(job.total, 1);
  bar.value = job.status === "done" ? bar.max : job.done;
  box.querySelector(".reading").textContent = job.error || job.reading;
  box.querySelector(".cancel").hidden = !["queued", "running"].includes(job.status);
  const picture = box.querySelector("img.forming");
  if (job.pictures > Number(picture.dataset.shown || 0)) {
    picture.dataset.shown = job.pictures;
    picture.src = `/api/jobs/${job.id}/picture?n=${job.pictures}`;
    picture.hidden = false;
  }
  if (job.status === "done" && job.run && !box.querySelector("a")) {
    const link = document.createElement("a");
    const run = encodeURIComponent(job.run);
    if (job.kind === "human-study") {
      link.href = `/human/${run}`;
      link.textContent = "open the study's page";
    } else {
      link.href = `/runs/${run}/report.html`;
      link.textContent = `report of run ${job.run}`;
    }
    state.after(" — ", link);
    if (job.kind === "style-transfer") {
      picture.src = `/runs/${encodeURIComponent(job.run)}/result.png`;
      picture.hidden = false;
    }
    fillModels().catch(() => {});
  }
}

function follow(job) {
  showJob(job);
  if (!["queued", "running"].includes(job.status)) return;
  const events = new EventSource(`/api/jobs/${job.id}/events`);
  events.onmessage = (message) => {
    const now = JSON.parse(message.data);
    showJob(now);
    if (!["queued", "running"].includes(now.status)) events.close();
  };
}

function preview(rows) {
  const table = $("preview");
  table.replaceChildren();
  rows.forEach((fields, i) => {
    const row = table.insertRow();
    for (const field of fields) {
      const c = document.createElement(i === 0 ? "th" : "td");
      c.textContent = field;
      row.append(c);
    }
  });
  table.hidden = rows.length === 0;
}

// RFC 4180: quoted fields may hold commas, quotes ("") and line breaks.
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += ch;
  }
  if (field || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

// ---- Faces ----------------------------------------------------------------

const base64Of = (file) =>
  new Promise((done, fail) => {
    const reader = new FileReader();
    reader.onload = () => done(String(reader.result).split(",")[1] || "");
    reader.onerror = () => fail(reader.error);
    reader.readAsDataURL(file);
  });

function initFaces() {
  $("verify").addEventListener("click", async () => {
    showError("");
    const [first, second] = [$("first").files[0], $("second").files[0]];
    const verdict = $("verdict");
    if (!first || !second) {
      showError("Choose two photos.");
      return;
    }
    verdict.textContent = "Comparing…";
    try {
      const body = JSON.stringify({ first: await base64Of(first), second: await base64Of(second) });
      const answer = await (await send(`/api/faces/verify?${modelQuery()}`, body, "application/json")).json();
      $("chip-first").src = answer.faces[0].chip;
      $("chip-second").src = answer.faces[1].chip;
      $("pair").hidden = false;
      verdict.dataset.same = answer.same_person;
      verdict.textContent =
        `${answer.same_person ? "Same person" : "Different people"}: distance ${answer.distance.toFixed(3)} ` +
        `${answer.same_person ? "≤" : ">"} threshold ${answer.threshold.toFixed(3)} (${answer.threshold_source})`;
    } catch (err) {
      verdict.textContent = "";
      showError(err.message);
    }
  });
}

function initImageTraining() {
  folderJob("train-folder", "train-images", "train-error", (files) =>
    sendFolder(`/api/jobs/image-train?epochs=${$("epochs").value}&resolution=${$("resolution").value}`, files),
  );
}

function initClustering() {
  folderJob("cluster-folder", "cluster", "cluster-error", (files) =>
    sendFolder(`/api/jobs/face-cluster?method=${$("cluster-method").value}&k=${$("cluster-k").value}`, files),
  );
}

function initIdentify() {
  folderJob("enroll-folder", "enroll", "enroll-error", (files) => sendFolder("/api/jobs/face-enroll", files));
  const input = $("identify-photo");
  input.addEventListener("change", async () => {
    const photo = input.files[0];
    if (!photo) return;
    showError("", "identify-error");
    const status = $("identify-status");
    const table = $("identified");
    table.tBodies[0].replaceChildren();
    table.hidden = true;
    if (!$("gallery").value) {
      showError("No gallery yet: enrol people first.", "identify-error");
      return;
    }
    status.textContent = `Looking at ${photo.name}…`;
    try {
      const query = `gallery=${encodeURIComponent($("gallery").value)}`;
      const answer = await (await send(`/api/faces/identify?${query}`, photo, photo.type)).json();
      for (const face of answer.faces) {
        const row = table.tBodies[0].insertRow();
        row.className = "identified";
        row.dataset.person = face.person || "";
        const chip = document.createElement("img");
        chip.className = "thumb";
        chip.src = face.chip;
        chip.alt = face.person || "unknown";
        cell(row, chip);
        cell(row, face.person || "unknown");
        cell(row, face.nearest ? `${face.nearest.distance.toFixed(3)} (${face.nearest.name})` : "", "num");
        cell(row, face.runner_up ? `${face.runner_up.name} ${face.runner_up.distance.toFixed(3)}` : "–");
      }
      table.hidden = answer.faces.length === 0;
      status.textContent =
        `${photo.name}: ${answer.faces.length} face${answer.faces.length === 1 ? "" : "s"} against ` +
        `${answer.people} enrolled ${answer.people === 1 ? "person" : "people"} (threshold ${answer.threshold.toFixed(3)})`;
    } catch (err) {
      status.textContent = "";
      showError(err.message, "identify-error");
    }
  });
}

// ---- Human baseline -------------------------------------------------------------

function initHuman() {
  $("rate-study").addEventListener("click", async () => {
    showError("");
    try {
      follow(await (await send(`/api/jobs/trigger-human-study?count=${$("rate-count").value}`, "", "text/plain")).json());
    } catch (err) {
      showError(err.message);
    }
  });
  folderJob("study-folder", "image-study", "error", (files) =>
    sendFolder(
      `/api/jobs/image-resolution-study?resolutions=${encodeURIComponent($("study-resolutions").value)}` +
        `&count=${$("study-count").value}`,
      files,
    ),
  );
}

// ---- Style -------------------------------------------------------------------

function initStyle() {
  $("transfer").addEventListener("click", async () => {
    showError("");
    const content = $("content").files[0];
    const style = $("style-picture").files[0];
    if (!content) {
      showError("Choose a photo to draw.");
      return;
    }
    try {
      const request = {
        content: await base64Of(content),
        size: Number($("size").value),
        iterations: Number($("iterations").value),
        style_weight: Number($("style-weight").value),
        features: $("features").value,
        preserve_colors: $("preserve-colors").checked,
      };
      if (style) request.style = await base64Of(style);
      const job = await (await send("/api/jobs/style-transfer", JSON.stringify(request), "application/json")).json();
      follow(job);
    } catch (err) {
      showError(err.message);
    }
  });
}

// ---- Start ---------------------------------------------------------------

fillModels().catch((err) => showError(`Cannot list the models: ${err.message}`));
if ($("files")) initDaynight();
if ($("wav")) initTrigger();
if ($("csv")) initLogreg();
if ($("train-csv")) initTraining();
if ($("verify")) initFaces();
if ($("train-folder")) initImageTraining();
if ($("cluster")) initClustering();
if ($("transfer")) initStyle();
if ($("enroll")) initIdentify();
if ($("rate-study")) initHuman();
if (document.querySelector("div[data-kind]")) watchJobs();
