// The status page: one self-contained HTML file that polls /status.json every 2 s and draws the run's
// state, its learning curves (SVG), the workers table and the latest validation picture.

enum StatusPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>keypoints: run status</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 20px; background: #fafafa; color: #222; }
  h1 { font-size: 18px; margin: 0 0 8px; }
  #summary { margin-bottom: 14px; }
  #summary span { display: inline-block; margin-right: 18px; }
  .curves { display: flex; gap: 16px; flex-wrap: wrap; }
  svg { background: #fff; border: 1px solid #ccc; }
  .axis { stroke: #999; stroke-width: 1; }
  .label { font-size: 11px; fill: #555; }
  polyline { fill: none; stroke-width: 2; }
  #loss-line { stroke: #1f77b4; } #nme-line { stroke: #d62728; } #mean-shape-line { stroke: #7f7f7f; stroke-dasharray: 5 4; }
  table { border-collapse: collapse; margin-top: 16px; background: #fff; }
  th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
  th:first-child, td:first-child, td:nth-child(2) { text-align: left; }
  #overlay { margin-top: 16px; max-width: 100%; border: 1px solid #ccc; }
</style>
</head>
<body>
<h1>keypoints run: <span id="state">loading</span></h1>
<div id="summary"></div>
<div class="curves">
  <svg id="loss-curve" width="520" height="260"><text class="label" x="8" y="16">training loss by step</text><polyline id="loss-line" points=""/></svg>
  <svg id="nme-curve" width="520" height="260"><text class="label" x="8" y="16">validation NME by epoch (grey: mean shape)</text><polyline id="mean-shape-line" points=""/><polyline id="nme-line" points=""/></svg>
</div>
<table id="workers">
  <thead><tr><th>worker</th><th>host</th><th>pid</th><th>threads</th><th>images/s</th><th>last seen</th><th>micro-batches done</th><th>taken over</th></tr></thead>
  <tbody></tbody>
</table>
<div><img id="overlay" alt="validation images: predictions (discs) and labels (rings)"></div>
<script>
// Polyline points of each series (arrays of [x, y]) on one shared scale; a diverged run sends
// "nan"/"inf" (strings), and such points are left out rather than drawn at NaN.
function polylines(series, w, h) {
  const ok = p => typeof p[0] === "number" && typeof p[1] === "number" && isFinite(p[1]);
  const all = series.flat().filter(ok);
  if (all.length === 0) return series.map(() => "");
  const pad = 30, xs = all.map(p => p[0]), ys = all.map(p => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(0, ...ys), y1 = Math.max(...ys);
  const sx = v => pad + (x1 > x0 ? (v - x0) / (x1 - x0) : 0.5) * (w - 2 * pad);
  const sy = v => h - pad - (y1 > y0 ? (v - y0) / (y1 - y0) : 0.5) * (h - 2 * pad);
  return series.map(points => points.filter(ok).map(p => sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1)).join(" "));
}
function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }
async function refresh() {
  let s;
  try { s = await (await fetch("/status.json", {cache: "no-store"})).json(); } catch (e) { document.getElementById("state").textContent = "unreachable"; return; }
  document.getElementById("state").textContent = s.state;
  const fmt = (v, d) => (typeof v === "number" ? v.toFixed(d) : v);
  document.getElementById("summary").innerHTML = "";
  for (const [k, v] of [["step", s.step + " / " + s.lastStep], ["epoch", s.epoch + " / " + s.epochs], ["loss", fmt(s.loss, 5)],
                        ["lr", typeof s.learningRate === "number" ? s.learningRate.toExponential(2) : s.learningRate], ["images/s", fmt(s.imagesPerSecond, 1)],
                        ["step s", fmt(s.stepSeconds, 3) + " = compute " + fmt(s.computeSeconds, 3) + " + transfer " + fmt(s.transferSeconds, 3) + " + update " + fmt(s.updateSeconds, 3)],
                        ["val NME", s.validationNME == null ? "-" : fmt(s.validationNME, 4) + " (mean shape " + fmt(s.meanShapeNME, 4) + ")"],
                        ["reassigned", s.cluster ? s.cluster.microBatchesReassigned : "-"], ["dropped", s.cluster ? s.cluster.messagesDropped : "-"]]) {
    const span = document.createElement("span"); span.textContent = k + ": " + v; document.getElementById("summary").appendChild(span);
  }
  document.getElementById("loss-line").setAttribute("points", polylines([s.lossCurve], 520, 260)[0]);
  const [model, meanShape] = polylines([s.epochCurve.map(e => [e.epoch, e.nme]), s.epochCurve.map(e => [e.epoch, e.meanShapeNME])], 520, 260);
  document.getElementById("nme-line").setAttribute("points", model);
  document.getElementById("mean-shape-line").setAttribute("points", meanShape);
  const body = document.querySelector("#workers tbody"); body.innerHTML = "";
  const now = s.now;
  for (const w of (s.cluster ? s.cluster.workers : [])) {
    const tr = document.createElement("tr"); tr.className = "worker";
    for (const v of [w.name, w.host, w.pid, w.threads, fmt(w.imagesPerSecond, 1), fmt(Math.max(0, now - w.lastSeen), 1) + " s ago",
                     w.microBatchesDone, w.microBatchesTakenOver]) tr.appendChild(cell(String(v)));
    body.appendChild(tr);
  }
  if (s.epochCurve.length > 0) document.getElementById("overlay").src = "/overlay.png?epoch=" + s.epochCurve.length;
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
"""#
}
