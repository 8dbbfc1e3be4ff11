// gwsim report.html: draws the charts from the embedded JSON blob with uPlot. All text in the page
// is static HTML; this script only fills the chart placeholders (data-chart, data-index).
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
  var CORRECTED = "#0b57d0", RAW = "#e8710a", P50 = "#0b57d0", P99 = "#c5221f";

  // Microseconds for people: 850us, 12.3ms, 1.05s (as in the tables).
  function human(us) {
    if (us == null) return "–";
    function sig3(x) { return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2); }
    if (us < 999.5) return us.toFixed(0) + "us";
    if (us < 999500) return sig3(us / 1e3) + "ms";
    return sig3(us / 1e6) + "s";
  }
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
  function usAxis() {
    return { size: 64, values: function (u, vals) { return vals.map(human); } };
  }

  function spectrum(div, s) {
    var tables = [[s.corrected.x, s.corrected.us]];
    if (s.raw) tables.push([s.raw.x, s.raw.us]);
    // Corrected and raw have their own quantile steps; join aligns them on one x column and
    // spanGaps draws through the holes.
    var d = tables.length > 1 ? uPlot.join(tables) : tables[0];
    var series = [
      { label: "percentile", value: function (u, v) { return v == null ? "–" : pct(v); } },
      { label: s.raw ? "corrected" : s.has_raw ? "corrected = raw" : "latency", stroke: CORRECTED, width: 2,
        spanGaps: true, value: function (u, v) { return human(v); } }
    ];
    if (s.raw) series.push({ label: "raw", stroke: RAW, width: 1.5, dash: [6, 3],
      spanGaps: true, value: function (u, v) { return human(v); } });
    var xMax = d[0][d[0].length - 1];
    // A spectrum of one or two samples is a dot or two: draw the points big enough to see.
    var few = d[0].length <= 3;
    for (var k = 1; k < series.length; k++) series[k].points = { show: few, size: 7 };
    new uPlot({
      width: width(div), height: 240, series: series,
      scales: { x: { time: false, distr: 3, log: 10, range: function () {
        return [1, Math.max(10, Math.pow(10, Math.ceil(Math.log10(xMax))))]; } },
        y: { range: function (u, min, max) { return [0, Math.max(1, max * 1.1)]; } } },
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

  function timeAxis() {
    return { label: "seconds since load start", size: 40 };
  }

  function latency(div, l) {
    var t = data.timeline;
    new uPlot({
      width: width(div), height: 200,
      series: [
        { label: "t (s)" },
        { label: "p50", stroke: P50, width: 1.5, spanGaps: false, value: function (u, v) { return human(v); } },
        { label: "p99", stroke: P99, width: 1.5, spanGaps: false, value: function (u, v) { return human(v); } }
      ],
      scales: { x: { time: false }, y: { range: function (u, min, max) { return [0, Math.max(1, max * 1.1)]; } } },
      axes: [timeAxis(), usAxis()]
    }, [t.t_s, l.p50_us, l.p99_us], div);
  }

  function throughput(div) {
    var t = data.timeline;
    new uPlot({
      width: width(div), height: 240,
      series: [
        { label: "t (s)" },
        { label: "operations/s", stroke: CORRECTED, width: 2, scale: "ops" },
        { label: "error rate %", stroke: P99, width: 1.5, scale: "pct",
          value: function (u, v) { return v == null ? "–" : v.toFixed(2) + "%"; } }
      ],
      scales: { x: { time: false }, ops: { range: function (u, min, max) { return [0, Math.max(1, max * 1.1)]; } },
        pct: { range: function (u, min, max) { return [0, Math.max(1, max * 1.1)]; } } },
      axes: [timeAxis(), { scale: "ops", label: "operations/s", size: 60 },
        { scale: "pct", side: 1, label: "error rate %", size: 60, grid: { show: false } }]
    }, [t.t_s, t.ops_per_s, t.error_pct], div);
  }

  function violations(div) {
    var t = data.timeline;
    var bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.8, 20] }) : undefined;
    new uPlot({
      width: width(div), height: 200,
      series: [
        { label: "t (s)" },
        { label: "violations", stroke: P99, fill: "rgba(197,34,31,0.35)", paths: bars },
        { label: "missed starts", stroke: RAW, width: 1.5 }
      ],
      scales: { x: { time: false }, y: { range: function (u, min, max) { return [0, Math.max(1, max * 1.1)]; } } },
      axes: [timeAxis(), { label: "per interval", size: 50 }]
    }, [t.t_s, t.violations, t.missed_starts], div);
  }

  document.querySelectorAll(".chart").forEach(function (div) {
    var kind = div.getAttribute("data-chart"), i = Number(div.getAttribute("data-index"));
    try {
      if (kind === "spectrum") spectrum(div, data.spectra[i]);
      else if (kind === "latency") latency(div, data.timeline.latency[i]);
      else if (kind === "throughput") throughput(div);
      else if (kind === "violations") violations(div);
    } catch (e) {
      div.textContent = "(chart failed: " + e + ")";
    }
  });
})();
