// SPDX-License-Identifier: MIT — the walkthrough page: HTML, CSS and the script that replays the states, all inline.
// `@TITLE@` and `@DATA@` are filled in by `Walkthrough.html`.

extension Walkthrough {
    static let page = #"""
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>@TITLE@</title>
<style>
body { font: 13px/1.35 monospace; margin: 0; background: #fafafa; color: #222; }
header { padding: 8px 12px; background: #263238; color: #eceff1; }
header h1 { font-size: 15px; margin: 0 0 4px 0; }
header .cmd { color: #b0bec5; word-break: break-all; }
main { padding: 8px 12px; }
section { background: #fff; border: 1px solid #ddd; border-radius: 4px; margin: 0 0 10px 0; padding: 6px 10px; }
h2 { font-size: 13px; margin: 2px 0 6px 0; color: #37474f; }
.notes { color: #6d4c41; }
.row { display: flex; gap: 10px; flex-wrap: wrap; }
.row > section { flex: 1 1 420px; }
#controls { display: flex; align-items: center; gap: 8px; }
#slider { flex: 1; }
button { font: inherit; }
#event .fn { color: #555; }
#event .kind { font-weight: bold; }
.grid { display: inline-grid; gap: 2px; margin: 2px 0 6px 0; }
.cell { display: inline-block; width: 2.6em; text-align: center; border: 1px solid #bbb; border-radius: 2px; padding: 1px 0; }
.cell.chg { outline: 3px solid #000; outline-offset: -1px; font-weight: bold; }
.maplabel { color: #37474f; }
.tlb .chg { background: #000; color: #fff; }
table { border-collapse: collapse; }
td { padding: 1px 8px 1px 0; vertical-align: top; }
.bad { color: #b71c1c; font-weight: bold; }
.ok { color: #2e7d32; }
#log div.cur { background: #fff59d; }
pre { margin: 0; overflow-x: auto; }
canvas { display: block; }
.legend span.cell { width: auto; padding: 1px 4px; }
</style>
</head>
<body>
<header><h1 id="title"></h1><div class="cmd" id="cmd"></div></header>
<main>
<section><div class="notes" id="notes"></div></section>
<section>
<h2>Timeline <span id="tlinfo"></span></h2>
<canvas id="timeline" height="100"></canvas>
<div id="controls">
<button id="prev" title="ArrowLeft">◀</button>
<input type="range" id="slider" min="1" max="1" value="1">
<button id="next" title="ArrowRight">▶</button>
<button id="nextFault" title="f">next fault</button>
<button id="nextWorker" title="w">next worker pass</button>
<span id="pos"></span>
</div>
<div>keys: ← → step · Home/End · f next fault · w next worker pass · link to a step with #step=N</div>
</section>
<section id="event"></section>
<div class="row">
<section><h2>Page tables (PTE of each framebuffer page, per mapping)</h2><div class="legend" id="legend"></div><div id="ptes"></div></section>
<section><h2>TLB (framebuffer entries per CPU; w: stores go through without a fault)</h2><div id="tlb" class="tlb"></div>
<h2>fb_defio</h2><table id="defio"></table>
<h2>Checkers</h2><table id="checkers"></table></section>
</div>
<section><h2>Log (the events before this one)</h2><div id="log"></div></section>
<section id="racebox"><h2>Race diagram (two columns: tasks | worker)</h2><pre id="race"></pre></section>
<div class="row">
<section id="heatbox"><h2>Heatmap: page_mkwrite per page over the screen</h2><div id="heatinfo"></div><img id="heat" alt="heatmap" style="image-rendering: pixelated; max-width: 100%"></section>
<section id="latbox"><h2>Latency store → panel</h2><div id="latinfo"></div><canvas id="lat" width="560" height="180"></canvas></section>
</div>
</main>
<script type="application/json" id="data">@DATA@</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const N = D.to - D.from + 1, P = D.pages, M = D.mappings.length, E = D.ev;
const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };

// PTE cells as the terminal view draws them.
function symbol(r) {
  if (r === 128) return "  ";
  if ((r & 17) === 0) return ". ";
  const first = (r & 16) ? "p" : (r & 2) ? "w" : "r";
  const d = (r & 4) !== 0, y = (r & 8) !== 0;
  return first + (d && y ? "D" : d ? "d" : y ? "y" : "-");
}
function words(r) {
  if (r === 128) return "not mapped here";
  if ((r & 17) === 0) return "not present";
  let w = (r & 16) ? "PROT_NONE" : (r & 2) ? "writable" : "read-only";
  if (r & 4) w += ", dirty"; if (r & 8) w += ", young";
  return w;
}
function colour(r) {
  if (r === 128) return "#ffffff";
  if ((r & 17) === 0) return "#e0e0e0";
  if (r & 16) return "#9e9e9e";
  if (r & 2) return (r & 4) ? "#e53935" : "#fb8c00";
  return (r & 4) ? "#1565c0" : "#64b5f6";
}

// The state after step i (0-based in the carried range): PTE cells, the page list and the TLBs, rebuilt by applying
// each step's changes forward from the nearest checkpoint (one every 256 steps, made on the way).
const cells = []; for (let m = 0; m < M; m++) cells.push(new Uint8Array(P).fill(128));
let list = []; const tlb = []; for (let c = 0; c < D.cpus; c++) tlb.push(new Set());
const checkpoints = new Map(); let at = -1;
function seek(i) {
  if (i < at) {
    let c = Math.floor(i / 256) * 256;
    while (c >= 0 && !checkpoints.has(c)) c -= 256;
    if (c < 0) { for (const a of cells) a.fill(128); list = []; for (const t of tlb) t.clear(); at = -1; }
    else {
      const saved = checkpoints.get(c);
      for (let m = 0; m < M; m++) cells[m].set(saved.cells[m]);
      list = saved.list.slice(); saved.tlb.forEach((s, k) => { tlb[k] = new Set(s); });
      at = c;
    }
  }
  while (at < i) {
    at++;
    const d = E.delta[at];
    for (let k = 0; k < d.length; k += 3) cells[d[k]][d[k + 1]] = d[k + 2];
    const l = E.list[at]; if (l.length) list = list.slice(0, l[0]).concat(l.slice(1));
    for (const [cpu, added, removed] of E.tlb[at]) { for (const s of removed) tlb[cpu].delete(s); for (const s of added) tlb[cpu].add(s); }
    if (at % 256 === 0 && !checkpoints.has(at)) checkpoints.set(at, { cells: cells.map((a) => a.slice()), list: list.slice(), tlb: tlb.map((t) => new Set(t)) });
  }
}

let cur = 0;
function show(i) {
  i = Math.max(0, Math.min(N - 1, i));
  cur = i;
  seek(i);
  const n = D.from + i, side = D.sides[E.side[i]], prevSide = i > 0 ? D.sides[E.side[i - 1]] : null;
  $("slider").value = n;
  $("pos").textContent = "event " + n + " of " + D.total;
  // The event.
  const ev = $("event"); ev.innerHTML = "";
  ev.appendChild(el("h2", null, "Event " + n + " / " + D.total + " — t=" + fmtNs(E.t[i]) + " — cpu" + E.cpu[i] + " — " + E.who[i] + " (" + D.tracks[E.track[i]] + ")"));
  const line = el("div"); line.appendChild(el("span", "kind", "[" + D.kinds[E.kind[i]] + "] ")); line.appendChild(el("span", null, E.text[i])); ev.appendChild(line);
  ev.appendChild(el("div", "fn", "in " + D.fns[E.fn[i]]));
  if (E.ctx[i] >= 0) ev.appendChild(el("div", "fn", "the last trace line this task started: " + D.contexts[E.ctx[i]]));
  // PTE grids.
  const changed = new Set(); const d = E.delta[i];
  for (let k = 0; k < d.length; k += 3) changed.add(d[k] * 1000003 + d[k + 1]);
  const ptes = $("ptes"); ptes.innerHTML = "";
  const rows = D.rowSets[E.rows[i]];
  if (rows.length === 0) ptes.appendChild(el("div", null, "(no process maps the framebuffer)"));
  for (const m of rows) {
    const box = el("div", "mapping"); box.dataset.mapping = D.mappings[m];
    box.appendChild(el("div", "maplabel", D.mappings[m]));
    let first = P, last = -1;
    for (let p = 0; p < P; p++) if (cells[m][p] !== 128) { if (p < first) first = p; last = p; }
    if (P <= 256) {
      const cols = Math.min(16, P);
      const g = el("div", "grid"); g.style.gridTemplateColumns = "repeat(" + cols + ", auto)";
      for (let p = 0; p < P; p++) {
        const r = cells[m][p];
        const c = el("span", "cell" + (changed.has(m * 1000003 + p) ? " chg" : ""), symbol(r));
        c.style.background = colour(r); if (r & 2 && r !== 128) c.style.color = "#fff";
        c.dataset.page = p; c.dataset.state = symbol(r).trim(); c.title = "page " + p + ": " + words(r);
        g.appendChild(c);
      }
      box.appendChild(g);
    } else {
      const cols = 64, size = Math.max(4, Math.min(12, Math.floor(900 / cols)));
      const lines = Math.ceil(P / cols);
      const cv = el("canvas"); cv.width = cols * size; cv.height = lines * size;
      const g = cv.getContext("2d");
      for (let p = 0; p < P; p++) {
        const x = (p % cols) * size, y = Math.floor(p / cols) * size;
        g.fillStyle = colour(cells[m][p]); g.fillRect(x, y, size - 1, size - 1);
      }
      g.strokeStyle = "#000"; g.lineWidth = 2;
      for (let p = 0; p < P; p++) if (changed.has(m * 1000003 + p)) {
        g.strokeRect((p % cols) * size + 1, Math.floor(p / cols) * size + 1, size - 2, size - 2);
      }
      cv.title = P + " pages, " + cols + " a row";
      cv.addEventListener("mousemove", (e) => {
        const r = cv.getBoundingClientRect();
        const p = Math.floor((e.clientY - r.top) / size) * cols + Math.floor((e.clientX - r.left) / size);
        if (p >= 0 && p < P) cv.title = "page " + p + ": " + words(cells[m][p]);
      });
      box.appendChild(cv);
    }
    const summary = []; for (let k = 0; k < d.length; k += 3) if (d[k] === m) summary.push("page " + d[k + 1] + " → " + words(d[k + 2]));
    box.appendChild(el("div", "changes", summary.length ? "changed: " + summary.slice(0, 12).join("; ") + (summary.length > 12 ? " … (" + summary.length + ")" : "") : ""));
    ptes.appendChild(box);
  }
  // TLBs.
  const tl = $("tlb"); tl.innerHTML = "";
  const tlbChanges = new Map(); for (const [cpu, added, removed] of E.tlb[i]) tlbChanges.set(cpu, [new Set(added), removed]);
  tlb.forEach((set, cpu) => {
    const entries = [...set].sort((a, b) => { const [pa, ga] = a.split(":"), [pb, gb] = b.split(":"); return pa < pb ? -1 : pa > pb ? 1 : parseInt(ga) - parseInt(gb); });
    const ch = tlbChanges.get(cpu);
    const div = el("div", null, "cpu" + cpu + ": "); div.dataset.cpu = cpu;
    if (entries.length === 0) div.appendChild(el("span", null, "-"));
    for (const s of entries.slice(0, 64)) { div.appendChild(el("span", ch && ch[0].has(s) ? "chg" : "", s)); div.appendChild(document.createTextNode(" ")); }
    if (entries.length > 64) div.appendChild(el("span", null, "… " + (entries.length - 64) + " more"));
    if (ch && ch[1].length) div.appendChild(el("span", "bad", "  flushed: " + ch[1].slice(0, 16).join(" ") + (ch[1].length > 16 ? " …" : "")));
    tl.appendChild(div);
  });
  // fb_defio.
  const defio = $("defio"); defio.innerHTML = "";
  const tr = (k, v, changedNow) => { const r = el("tr"); r.appendChild(el("td", null, k)); const c = el("td", changedNow ? "bad" : null, v); r.appendChild(c); defio.appendChild(r); return c; };
  const shown = list.length > 64 ? list.slice(0, 64).join(", ") + " … (" + list.length + " pages)" : list.join(", ");
  tr("pagereflist", "[" + shown + "]", E.list[i].length > 0).id = "list";
  tr("delayed work", side.work, prevSide && prevSide.work !== side.work).id = "work";
  tr(side.mutex, (side.holder ? "held by " + side.holder : "free") + (side.waiters.length ? ", waiting: " + side.waiters.join(", ") : ""), prevSide && prevSide.holder !== side.holder).id = "mutex";
  if (side.infoLock) tr("fb_info->lock", "held by " + side.infoLock, false);
  tr("page locks", side.pageLocks.length ? side.pageLocks.map((l) => "page " + l[0] + " by " + l[1]).join(", ") : "none", false);
  tr("so far", E.mkwrites[i] + " page_mkwrite, " + E.batches[i] + " batches", false);
  // Checkers.
  const ch = $("checkers"); ch.innerHTML = "";
  for (const [name, v] of side.checkers) { const r = el("tr"); r.appendChild(el("td", null, name)); r.appendChild(el("td", v ? "bad" : "ok", v || "quiet")); ch.appendChild(r); }
  // Log.
  const log = $("log"); log.innerHTML = "";
  for (let j = Math.max(0, i - 12); j <= i; j++) {
    log.appendChild(el("div", j === i ? "cur" : null, String(D.from + j).padStart(7) + " " + fmtNs(E.t[j]).padStart(14) + " cpu" + E.cpu[j] + " " + E.who[j].padEnd(16) + " " + E.text[j]));
  }
  drawTimeline();
  document.body.dataset.step = n;
  if (!/press=/.test(location.hash) && location.hash !== "#step=" + n) history.replaceState(null, "", "#step=" + n);
}

function fmtNs(ns) { const ms = Math.floor(ns / 1e6), f = String(ns % 1e6).padStart(6, "0"); return ms + "." + f + "ms"; }

// Timeline: a track per process, the worker, interrupts and the bus; x is the event number. A run small enough for
// one event a bin colours each by its kind.
const oneEventABin = D.bins === D.total && D.from === 1 && D.to === D.total;
function kindColour(k) {
  if (k === "fault" || k === "fault-result" || k === "retry" || k === "signal" || k === "livelock") return "#e53935";
  if (k === "page-mkwrite" || k === "fault-hook" || k === "pfn-mkwrite") return "#fb8c00";
  if (k.startsWith("pte") || k === "wrprotect") return "#1565c0";
  if (k.startsWith("tlb")) return "#8e24aa";
  if (k.startsWith("defio")) return "#2e7d32";
  if (k.startsWith("timer")) return "#f9a825";
  return "#90a4ae";
}
const TRACK_H = 16, LEFT = 130;
function drawTimeline() {
  const cv = $("timeline"), w = Math.max(600, cv.parentElement.clientWidth - 24);
  cv.width = w; cv.height = D.tracks.length * TRACK_H + 18;
  const g = cv.getContext("2d"), span = w - LEFT - 4, bins = D.bins;
  g.clearRect(0, 0, cv.width, cv.height);
  g.font = "11px monospace";
  const x = (n) => LEFT + ((n - 1) / Math.max(1, D.total)) * span;
  g.fillStyle = "#fff8e1"; g.fillRect(x(D.from), 0, Math.max(2, x(D.to + 1) - x(D.from)), cv.height - 14);
  let max = 1; for (const row of D.binCounts) for (const c of row) if (c > max) max = c;
  D.tracks.forEach((name, t) => {
    const y = t * TRACK_H;
    g.fillStyle = "#37474f"; g.fillText(name.slice(0, 17), 2, y + 12);
    g.fillStyle = "#eceff1"; g.fillRect(LEFT, y + 2, span, TRACK_H - 4);
    const row = D.binCounts[t];
    for (let b = 0; b < bins; b++) {
      if (!row[b]) continue;
      const a = 0.25 + 0.75 * Math.log(row[b] + 1) / Math.log(max + 1);
      g.fillStyle = "rgba(" + (t === D.tracks.length - 1 ? "46,125,50" : "21,101,192") + "," + a + ")";
      if (oneEventABin && t !== D.tracks.length - 1) g.fillStyle = kindColour(D.kinds[E.kind[b]]);
      const x0 = LEFT + (b / bins) * span, x1 = LEFT + ((b + 1) / bins) * span;
      g.fillRect(x0, y + 2, Math.max(1, x1 - x0 - (bins < 200 ? 1 : 0)), TRACK_H - 4);
    }
  });
  const mid = span / Math.max(1, D.total) / 2;  // marks sit in the middle of their event's slot
  if (D.violationEvent) { g.fillStyle = "#b71c1c"; g.fillRect(x(D.violationEvent) + mid - 2, 0, 4, cv.height - 14); }
  g.fillStyle = "#000"; g.fillRect(x(D.from + cur) + mid - 1, 0, 2, cv.height - 14);
  g.fillStyle = "#555";
  const times = D.binTimes;
  if (times.length) { g.fillText(fmtNs(times[0]), LEFT, cv.height - 3); const last = fmtNs(times[times.length - 1]); g.fillText(last, LEFT + span - g.measureText(last).width, cv.height - 3); }
}
$("timeline").addEventListener("click", (e) => {
  const r = e.target.getBoundingClientRect(), span = r.width - LEFT - 4;
  const n = Math.round(1 + ((e.clientX - r.left - LEFT) / span) * D.total);
  show(n - D.from);
});

function nextWhere(pred) { for (let j = cur + 1; j < N; j++) if (pred(j)) return show(j); }
const isFault = (j) => D.kinds[E.kind[j]] === "fault";
const isWorkerPass = (j) => D.tracks[E.track[j]] === "worker" && (j === 0 || D.tracks[E.track[j - 1]] !== "worker");
$("slider").addEventListener("input", (e) => show(Number(e.target.value) - D.from));
$("prev").onclick = () => show(cur - 1); $("next").onclick = () => show(cur + 1);
$("nextFault").onclick = () => nextWhere(isFault); $("nextWorker").onclick = () => nextWhere(isWorkerPass);
document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT" && e.target.type !== "range") return;
  if (e.key === "ArrowRight") { show(cur + 1); e.preventDefault(); }
  else if (e.key === "ArrowLeft") { show(cur - 1); e.preventDefault(); }
  else if (e.key === "Home") show(0); else if (e.key === "End") show(N - 1);
  else if (e.key === "f") nextWhere(isFault); else if (e.key === "w") nextWhere(isWorkerPass);
});
window.addEventListener("resize", drawTimeline);

// Static parts.
$("title").textContent = "fbdefio-emu walkthrough — " + D.title;
$("cmd").textContent = D.command + " · " + D.total + " events · event hash " + D.hash;
const notes = $("notes");
if (D.violation) notes.appendChild(el("div", "bad", "Violation at event " + (D.violationEvent || "end") + ": " + D.violation));
for (const r of D.reports) notes.appendChild(el("div", "bad", r));
for (const t of D.notes) notes.appendChild(el("div", null, t));
$("tlinfo").textContent = "(" + D.total + " events; shaded: the events this page can step through; black: this event" + (D.violationEvent ? "; red: the violation" : "") + "; click to go there" + (oneEventABin ? "; colours: fault red, page_mkwrite orange, PTE blue, TLB purple, fb_defio list/batch green, timer yellow, other grey" : "") + ")";
$("slider").min = D.from; $("slider").max = D.to;
const legend = $("legend");
for (const r of [0, 1 | 8, 1 | 4 | 8, 1 | 2 | 8, 1 | 2 | 4 | 8]) { const c = el("span", "cell", symbol(r) + " " + words(r)); c.style.background = colour(r); if (r & 2) c.style.color = "#fff"; legend.appendChild(c); legend.appendChild(document.createTextNode(" ")); }
legend.appendChild(el("span", "cell chg", "changed in this step"));
if (D.diagram) $("race").textContent = D.diagram; else $("racebox").style.display = "none";
if (D.heatmap) { $("heat").src = D.heatmap; $("heat").onload = (e) => { const im = e.target; if (im.naturalHeight * 16 < im.naturalWidth) im.style.height = "48px", im.style.width = "100%"; }; $("heatinfo").textContent = D.mkwritesTotal + " page_mkwrite on " + D.mkwritesPages + " pages (black: none; blue → red → yellow: more, square-root scale)"; }
else $("heatbox").style.display = "none";
if (D.latency) {
  const L = D.latency; $("latinfo").textContent = L.summary + " — bars: the share of stores in each power-of-two bucket, from the 100 percentiles of the HdrHistogram";
  const buckets = new Map(); for (const v of L.percentiles) { const b = Math.floor(Math.log2(Math.max(1, v))); buckets.set(b, (buckets.get(b) || 0) + 1); }
  const keys = [...buckets.keys()].sort((a, b) => a - b), lo = keys[0], hi = keys[keys.length - 1];
  const cv = $("lat"), g = cv.getContext("2d"), n = hi - lo + 1, bw = Math.max(6, Math.floor((cv.width - 20) / n));
  g.font = "10px monospace";
  for (let b = lo; b <= hi; b++) {
    const c = buckets.get(b) || 0, h = (c / 100) * (cv.height - 40), x = 10 + (b - lo) * bw;
    g.fillStyle = "#1565c0"; g.fillRect(x, cv.height - 24 - h, bw - 2, h);
    g.fillStyle = "#333"; if (c) g.fillText(c + "%", x, cv.height - 28 - h);
    if ((b - lo) % Math.ceil(n / 8) === 0) g.fillText(fmtNs(2 ** b).replace(/0+ms$/, "ms"), x, cv.height - 8);
  }
} else { $("latinfo").textContent = "This run does not measure it (the explorer's scenarios have no panel latency)."; $("lat").style.display = "none"; }

const m = /step=(\d+)/.exec(location.hash);
show(m ? Number(m[1]) - D.from : 0);
// #…&press=ArrowRight,ArrowRight,f replays key presses after loading (how the tests drive the keys headless).
const pressed = /press=([^&]*)/.exec(location.hash);
if (pressed) for (const key of decodeURIComponent(pressed[1]).split(",")) document.dispatchEvent(new KeyboardEvent("keydown", { key }));
document.body.dataset.loadMs = Math.round(performance.now());
document.body.dataset.ready = "1";
</script>
</body>
</html>
"""#
}
