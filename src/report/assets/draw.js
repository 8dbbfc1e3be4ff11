// gwsim report.html: draws the charts from the embedded JSON blob with uPlot. All text in the page
// is static HTML; this script only fills the chart placeholders (data-chart, data-index). Every
// time chart is shaded by run phase; every legend shows a value with its unit: the one under the
// cursor, or a summary of the load (its peak or mean) when the cursor is elsewhere.
(function () {
  "use strict";
  var el = document.getElementById("gwsim-data");
  var data = el ? JSON.parse(el.textContent) : null;
  if (!data || typeof uPlot === "undefined") {
    document.querySelectorAll(".chart").forEach(function (c) {
      c.textContent = "(charts unavailable)";
    });
    return;
  }
  var BLUE = "#0b57d0", ORANGE = "#e8710a", RED = "#c5221f", GREEN = "#188038", PURPLE = "#8430ce",
    GREY = "#5f6368";
  // Phase shading, the same colours as the key above the charts (page.css .sw.*).
  var SHADE = { warmup: "rgba(251,188,4,0.16)", drain: "rgba(66,133,244,0.12)",
    logout: "rgba(95,99,104,0.14)" };
  var t = data.timeline, phases = data.phases || [];

  // Microseconds for people: 850us, 12.3ms, 1.05s (as in the tables).
  function human(us) {
    if (us == null) return "–";
    function sig3(x) { return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2); }
    if (us < 999.5) return us.toFixed(0) + "us";
    if (us < 999500) return sig3(us / 1e3) + "ms";
    return sig3(us / 1e6) + "s";
  }
  // A number to about 3 significant digits.
  function num(x) {
    if (x == null) return "–";
    var a = Math.abs(x);
    return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : a >= 1 || a === 0 ? x.toFixed(2) :
      x.toPrecision(2);
  }
  function perS(x) { return x == null ? "–" : num(x) + "/s"; }
  function pctText(x) { return x == null ? "–" : num(x) + "%"; }
  function count(x) { return x == null ? "–" : String(Math.round(x)); }
  // Position x = 1/(1-q) as a percentile label: 2 -> 50%, 1000 -> 99.9%.
  function pct(x) {
    if (x == null) return "";
    var p = 100 * (1 - 1 / x);
    if (p <= 0) return "0%";
    var digits = Math.max(0, Math.ceil(Math.log10(x)) - 2);
    var text = p.toFixed(Math.min(digits, 8));
    // Trailing zeros only after a decimal point: "99.900" -> "99.9", but "50" stays "50".
    if (text.indexOf(".") >= 0) text = text.replace(/\.?0+$/, "");
    return text + "%";
  }
  function width(div) { return Math.max(300, div.clientWidth || 400); }
  function zeroTo(max) { return [0, Math.max(1, max * 1.1)]; }

  // The interval indexes of the measured load (warmup, drain and logout left out), for the
  // legends' summaries: the intervals the headline's rates are taken over.
  var loadIdx = [];
  for (var i = 0; i < t.t_s.length; i++) if (t.measured[i]) loadIdx.push(i);
  // `f` of a column's values in the load phase; null when it has none there.
  function over(col, f) {
    var xs = [];
    loadIdx.forEach(function (i) { if (col[i] != null) xs.push(col[i]); });
    return xs.length ? f(xs) : null;
  }
  // `f` of all a column's values (a metric measured only at login or logout).
  function overAll(col, f) {
    var xs = col.filter(function (v) { return v != null; });
    return xs.length ? f(xs) : null;
  }
  function mean(xs) { return xs.reduce(function (a, b) { return a + b; }, 0) / xs.length; }
  function peak(xs) { return Math.max.apply(null, xs); }

  // A legend value: the value under the cursor, or `summary` (already formatted) without one.
  function legendValue(fmt, summary) {
    return function (u, v, sidx, idx) { return idx == null ? summary : fmt(v); };
  }
  // A time series: its label, column, colour, formatter and load-phase summary.
  function series(label, col, stroke, fmt, summarize, extra) {
    var s = over(col, summarize.f), name = "load " + summarize.name;
    if (s == null) { s = overAll(col, summarize.f); name = summarize.name; }
    var o = { label: label, stroke: stroke, width: 1.75, spanGaps: false,
      value: legendValue(fmt, s == null ? "none" : name + " " + fmt(s)) };
    for (var k in extra || {}) o[k] = extra[k];
    return o;
  }
  var MEAN = { name: "mean", f: mean }, PEAK = { name: "peak", f: peak };

  // Shades the phases behind the series, and names them along the top.
  var shade = {
    hooks: {
      drawClear: [function (u) {
        var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
        ctx.save();
        ctx.font = (11 * devicePixelRatio) + "px system-ui, sans-serif";
        phases.forEach(function (p) {
          var x0 = u.valToPos(p.from_s, "x", true), x1 = u.valToPos(p.to_s, "x", true);
          x0 = Math.max(x0, u.bbox.left);
          x1 = Math.min(x1, u.bbox.left + u.bbox.width);
          if (x1 <= x0) return;
          if (SHADE[p.phase]) {
            ctx.fillStyle = SHADE[p.phase];
            ctx.fillRect(x0, top, x1 - x0, h);
          }
          if (p.phase !== "load" && x1 - x0 > 30 * devicePixelRatio) {
            ctx.fillStyle = GREY;
            ctx.fillText(p.phase, x0 + 3 * devicePixelRatio, top + 12 * devicePixelRatio);
          }
        });
        ctx.restore();
      }]
    }
  };

  function timeAxis() { return { label: "seconds since load start", size: 40 }; }
  function usAxis() { return { size: 64, values: function (u, vals) { return vals.map(human); } }; }
  // Without a cursor the x legend says what the others show instead.
  function timeX() {
    return { label: "t", value: function (u, v) { return v == null ? "(hover for values)" : v.toFixed(1) + " s"; } };
  }
  function timeChart(div, series, cols, scales, axes, height) {
    scales.x = { time: false };
    new uPlot({ width: width(div), height: height || 220, series: [timeX()].concat(series),
      scales: scales, axes: [timeAxis()].concat(axes), plugins: [shade] }, [t.t_s].concat(cols), div);
  }

  function spectrum(div, s) {
    var tables = [[s.corrected.x, s.corrected.us]];
    if (s.raw) tables.push([s.raw.x, s.raw.us]);
    // Corrected and raw have their own quantile steps; join aligns them on one x column and
    // spanGaps draws through the holes.
    var d = tables.length > 1 ? uPlot.join(tables) : tables[0];
    function maxOf(col) { return human(Math.max.apply(null, col.filter(function (v) { return v != null; }))); }
    var series = [
      { label: "percentile", value: function (u, v) { return v == null ? "" : pct(v); } },
      { label: s.raw ? "corrected" : s.has_raw ? "corrected = raw" : "latency", stroke: BLUE,
        width: 2, spanGaps: true, value: legendValue(human, "max " + maxOf(d[1])) }
    ];
    if (s.raw) series.push({ label: "raw", stroke: ORANGE, width: 1.5, dash: [6, 3],
      spanGaps: true, value: legendValue(human, "max " + maxOf(d[2])) });
    var xMax = d[0][d[0].length - 1];
    // A spectrum of one or two samples is a dot or two: draw the points big enough to see.
    var few = d[0].length <= 3;
    for (var k = 1; k < series.length; k++) series[k].points = { show: few, size: 7 };
    new uPlot({
      width: width(div), height: 220, series: series,
      scales: { x: { time: false, distr: 3, log: 10, range: function () {
        return [1, Math.max(10, Math.pow(10, Math.ceil(Math.log10(xMax))))]; } },
        y: { range: function (u, min, max) { return zeroTo(max); } } },
      axes: [
        { label: "percentile", size: 40,
          splits: function (u) {
            var out = [1, 2], max = u.scales.x.max;
            for (var v = 10; v <= max * 1.0001; v *= 10) out.push(v);
            return out;
          },
          // uPlot's default filter for log axes keeps only "nice" splits and blanks the others
          // (it would drop 50%); ours are all wanted.
          filter: function (u, splits) { return splits; },
          values: function (u, vals) { return vals.map(pct); } },
        usAxis()
      ]
    }, d, div);
  }

  function latency(div, l) {
    timeChart(div, [
      series("p50", l.p50_us, BLUE, human, PEAK),
      series("p99", l.p99_us, RED, human, PEAK)
    ], [l.p50_us, l.p99_us], { y: { range: function (u, min, max) { return zeroTo(max); } } },
    [usAxis()], 200);
  }

  function throughput(div) {
    var clip = t.ops_clip;
    // The logout burst would flatten the load: the axis stops at `ops_clip` (the page says so).
    var range = function (u, min, max) { return clip ? [0, clip] : zeroTo(max); };
    var list = [series("operations/s", t.ops_per_s, BLUE, perS, MEAN, { width: 2, scale: "ops" })];
    var cols = [t.ops_per_s];
    var axes = [{ scale: "ops", label: "operations/s", size: 56 }];
    var scales = { ops: { range: range } };
    if (t.has_gauges) {
      list.push(series("chats/s", t.chats_per_s, GREEN, perS, MEAN, { scale: "done" }));
      list.push(series("flows/s", t.flows_per_s, PURPLE, perS, MEAN, { scale: "done", dash: [5, 3] }));
      cols.push(t.chats_per_s, t.flows_per_s);
      scales.done = { range: function (u, min, max) { return zeroTo(max); } };
      axes.push({ scale: "done", side: 1, label: "completed/s", size: 56, grid: { show: false } });
    }
    timeChart(div, list, cols, scales, axes, 240);
  }

  function concurrency(div) {
    timeChart(div, [
      series("active chats", t.active_chats, BLUE, count, PEAK, { scale: "n" }),
      series("agents logged in", t.agents_logged_in, GREY, count, PEAK, { scale: "n", dash: [5, 3] }),
      series("agents busy", t.agents_busy, GREEN, count, PEAK, { scale: "n" }),
      series("occupancy", t.occupancy_pct, ORANGE, pctText, MEAN, { scale: "pct" })
    ], [t.active_chats, t.agents_logged_in, t.agents_busy, t.occupancy_pct],
    { n: { range: function (u, min, max) { return zeroTo(max); } }, pct: { range: [0, 100] } },
    [{ scale: "n", label: "count", size: 50 },
      { scale: "pct", side: 1, label: "occupancy %", size: 50, grid: { show: false } }], 240);
  }

  function waiting(div) {
    timeChart(div, [series("customers waiting", t.customers_waiting, RED, count, PEAK,
      { fill: "rgba(197,34,31,0.12)" })], [t.customers_waiting],
    { y: { range: function (u, min, max) { return zeroTo(max); } } },
    [{ label: "customers", size: 50 }], 200);
  }

  function errors(div) {
    timeChart(div, [series("error rate", t.error_pct, RED, pctText, MEAN)], [t.error_pct],
      { y: { range: function (u, min, max) { return zeroTo(max); } } },
      [{ label: "% of operations", size: 56 }], 200);
  }

  function violations(div) {
    var bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.8, 20] }) : undefined;
    var sum = { name: "total", f: function (xs) { return xs.reduce(function (a, b) { return a + b; }, 0); } };
    timeChart(div, [
      series("violations", t.violations, RED, count, sum, { fill: "rgba(197,34,31,0.35)", paths: bars }),
      series("missed starts", t.missed_starts, ORANGE, count, sum)
    ], [t.violations, t.missed_starts],
    { y: { range: function (u, min, max) { return zeroTo(max); } } },
    [{ label: "per interval", size: 50 }], 200);
  }

  document.querySelectorAll(".chart").forEach(function (div) {
    var kind = div.getAttribute("data-chart"), i = Number(div.getAttribute("data-index"));
    try {
      if (kind === "spectrum") spectrum(div, data.spectra[i]);
      else if (kind === "latency") latency(div, t.latency[i]);
      else if (kind === "throughput") throughput(div);
      else if (kind === "concurrency") concurrency(div);
      else if (kind === "waiting") waiting(div);
      else if (kind === "errors") errors(div);
      else if (kind === "violations") violations(div);
    } catch (e) {
      div.textContent = "(chart failed: " + e + ")";
    }
  });
})();
