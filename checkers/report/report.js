// Draws the timeline from the JSON blob in #data. Every element is made
// with createElement and filled with textContent or title, so no string
// from the history is ever parsed as HTML. Times are microseconds.
"use strict";
window.addEventListener("error", function (e) {
  document.body.setAttribute("data-error", String(e.message));
});
(function () {
  var D = JSON.parse(document.getElementById("data").textContent);
  var LABEL = 120; // px, the sticky label column
  var END = Math.max(1, D.end);
  var S = D.strs;
  var scroll = document.getElementById("scroll");
  var canvas = document.getElementById("canvas");
  var zoomInput = document.getElementById("zoom");
  var zoomValue = document.getElementById("zoom-value");
  var axisTrack, gridLayer;

  function pct(t) { return (t / END) * 100 + "%"; }
  function sec(t) { return (t / 1e6).toFixed(3) + " s"; }
  function el(tag, cls, parent) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (parent) parent.appendChild(e);
    return e;
  }
  function span(parent, cls, from, to, title) {
    var e = el("div", cls, parent);
    e.style.left = pct(from);
    e.style.width = pct(Math.max(0, to - from));
    if (title) e.title = title;
    return e;
  }
  function point(parent, cls, at, title) {
    var e = el("div", cls, parent);
    e.style.left = pct(at);
    if (title) e.title = title;
    return e;
  }
  function safeClass(s) { return /^[a-z][a-z0-9-]*$/.test(s) ? s : "other"; }
  function row(cls, label, parent) {
    var r = el("div", "row " + cls, parent || canvas);
    var l = el("div", "label", r);
    l.textContent = label;
    l.title = label;
    var t = el("div", "track", r);
    return { row: r, label: l, track: t };
  }
  function heading(text) {
    var r = row("heading", text);
    return r;
  }

  var GLYPH = { crash: "\u2715", fault: "\u25c6", shift: "\u25cf" };
  function drawMarks(track, marks) {
    for (var i = 0; i < marks.length; i++) {
      var m = marks[i];
      var e = point(track, "mark mark-" + safeClass(m[1]), m[0],
        m[1] + (m[2] ? ": " + m[2] : "") + " at " + sec(m[0]));
      e.textContent = GLYPH[m[1]] || "\u2022";
    }
  }

  function drawAxis() {
    var r = row("axis", "time (s)");
    axisTrack = r.track;
    r.track.addEventListener("wheel", function (e) {
      e.preventDefault();
      zoomInput.value = String(Number(zoomInput.value) + (e.deltaY < 0 ? 1 : -1));
      applyZoom();
    }, { passive: false });
  }

  function drawMesh() {
    var r = row("mesh", "mesh");
    var ps = D.mesh.partitions;
    for (var i = 0; i < ps.length; i++) {
      var p = ps[i];
      var e = span(r.track, "partition", p[0], p[1],
        "partition " + p[2] + "\n" + sec(p[0]) + " \u2192 " + sec(p[1]));
      e.textContent = p[2];
    }
    drawMarks(r.track, D.mesh.marks);
  }

  function drawLanes() {
    var box = el("div", "lanes", canvas);
    for (var i = 0; i < D.nodes.length; i++) {
      var n = D.nodes[i], L = D.lanes[i];
      var r = row("lane", n, box);
      r.row.setAttribute("data-node", n);
      var j, s, e;
      for (j = 0; j < L.states.length; j++) {
        s = L.states[j];
        var term = s[3] >= 0 ? " term " + s[3] : "";
        e = span(r.track, "st st-" + safeClass(s[2]), s[0], s[1],
          n + " " + s[2] + term + "\n" + sec(s[0]) + " \u2192 " + sec(s[1]));
        if (s[2] === "leader") e.textContent = "leader" + (s[3] >= 0 ? " t" + s[3] : "");
      }
      for (j = 0; j < L.roles.length; j++) {
        s = L.roles[j];
        span(r.track, "role role-" + safeClass(s[2]), s[0], s[1],
          n + " " + s[2] + "\n" + sec(s[0]) + " \u2192 " + sec(s[1]));
      }
      for (j = 0; j < L.down.length; j++) {
        s = L.down[j];
        span(r.track, "down", s[0], s[1],
          n + " down (" + s[2] + ")\n" + sec(s[0]) + " \u2192 " + sec(s[1]));
      }
      for (j = 0; j < L.paused.length; j++) {
        s = L.paused[j];
        span(r.track, "paused", s[0], s[1],
          n + " paused\n" + sec(s[0]) + " \u2192 " + sec(s[1]));
      }
      drawMarks(r.track, L.marks);
    }
    // Partitions shade every node lane; the mesh row carries their labels.
    var shade = el("div", "overlay", box);
    var ps = D.mesh.partitions;
    for (var k = 0; k < ps.length; k++) span(shade, "partition-shade", ps[k][0], ps[k][1]);
  }

  var CLASS = ["ok", "refused", "unknown"];
  var SUBROWS_MAX = 6; // overlapping operations of one client stack this deep, then overlap
  function opTitle(o) {
    var t = "client " + o[0] + " \u2192 " + S[o[10]] + "\n" + S[o[4]];
    if (S[o[5]]) t += " " + S[o[5]];
    if (o[13] & 1) t += " (local)";
    if (S[o[7]]) t += "\nvalue: " + S[o[7]];
    if (o[12] >= 0) t += "\nexpect rev " + o[12];
    t += "\n" + S[o[6]];
    if (o[8]) t += " rev " + o[8];
    if (o[9]) t += " served " + o[9];
    if (o[11]) t += ", " + o[11] + " items";
    t += "\n" + sec(o[1]) + " \u2192 " + ((o[13] & 2) ? "(no return)" : sec(o[2])) +
      " (" + ((o[2] - o[1]) / 1000).toFixed(1) + " ms)";
    return t;
  }
  function drawClients() {
    if (D.ops.length === 0) return;
    heading("clients");
    var i = 0;
    while (i < D.ops.length) {
      var c = D.ops[i][0];
      var r = row("client", "client " + c);
      r.row.setAttribute("data-client", String(c));
      var ends = [];
      for (; i < D.ops.length && D.ops[i][0] === c; i++) {
        var o = D.ops[i];
        var sub = 0;
        while (sub < ends.length && ends[sub] > o[1]) sub++;
        if (sub >= SUBROWS_MAX) sub = SUBROWS_MAX - 1;
        ends[sub] = Math.max(ends[sub] || 0, o[2]);
        var e = span(r.track, "op " + CLASS[o[3]], o[1], o[2], opTitle(o));
        e.style.top = (2 + sub * 9) + "px";
      }
      r.row.style.height = (4 + ends.length * 9) + "px";
    }
  }

  function drawMonitors() {
    if (D.monitors.length === 0) return;
    heading("monitors");
    for (var i = 0; i < D.monitors.length; i++) {
      var m = D.monitors[i];
      var r = row("monitor" + (m.failed ? " failed" : ""), (m.failed ? "\u2717 " : "") + m.name);
      r.row.setAttribute("data-monitor", m.name);
      for (var j = 0; j < m.hot.length; j++) {
        var h = m.hot[j];
        span(r.track, "hot", h[0], h[1],
          m.name + " hot\n" + sec(h[0]) + " \u2192 " + sec(h[1]));
      }
    }
  }

  function drawViolations() {
    var layer = el("div", "overlay violations-layer", canvas);
    for (var i = 0; i < D.violations.length; i++) {
      var v = D.violations[i];
      var e = point(layer, "violation", v[0],
        v[1] + " at " + sec(v[0]) + (v[2] ? " on " + v[2] : "") + (v[3] ? "\n" + v[3] : ""));
      e.setAttribute("data-at", String(v[0]));
    }
  }

  // Axis ticks and grid lines are redrawn for each zoom so that they stay
  // about a readable distance apart.
  function drawTicks() {
    var trackPx = Math.max(1, canvas.clientWidth - LABEL);
    var pxPerSec = trackPx / (END / 1e6);
    var step = 1e-3;
    var steps = [1, 2, 5];
    for (var k = 0; ; k++) {
      var s = steps[k % 3] * Math.pow(10, Math.floor(k / 3) - 3);
      if (s * pxPerSec >= 80 || s > 1e6) { step = s; break; }
    }
    var digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    axisTrack.textContent = "";
    gridLayer.textContent = "";
    for (var t = 0; t * 1e6 <= END + 1e-6; t += step) {
      var us = t * 1e6;
      var e = point(axisTrack, "tick", us);
      e.textContent = t.toFixed(digits);
      point(gridLayer, "gridline", us);
    }
  }

  function applyZoom() {
    var v = Math.min(Number(zoomInput.max), Math.max(0, Number(zoomInput.value)));
    var z = Math.pow(2, v / 4);
    zoomValue.textContent = (z < 10 ? z.toFixed(1) : Math.round(z)) + "\u00d7";
    var view = scroll.clientWidth;
    var oldTrack = Math.max(1, canvas.clientWidth - LABEL);
    var centre = (scroll.scrollLeft + view / 2 - LABEL) / oldTrack;
    var track = Math.max(200, (view - LABEL) * z);
    canvas.style.width = (LABEL + track) + "px";
    scroll.scrollLeft = Math.max(0, centre * track + LABEL - view / 2);
    drawTicks();
  }

  function showAt(us) {
    var track = canvas.clientWidth - LABEL;
    scroll.scrollLeft = Math.max(0, (us / END) * track + LABEL - scroll.clientWidth / 2);
    scroll.scrollIntoView({ block: "nearest" });
  }

  gridLayer = el("div", "overlay grid", canvas);
  drawAxis();
  drawMesh();
  drawLanes();
  drawClients();
  drawMonitors();
  drawViolations();
  zoomInput.addEventListener("input", applyZoom);
  window.addEventListener("resize", applyZoom);
  var rows = document.querySelectorAll(".violation-row");
  for (var i = 0; i < rows.length; i++) {
    rows[i].addEventListener("click", function () { showAt(Number(this.getAttribute("data-at"))); });
  }
  applyZoom();
  document.body.setAttribute("data-rendered", "true");
})();
