// hdr-histogram-js (a port of HdrHistogram's Java reader) against gwsim's outputs: reads
// fixture/latency.hlog interval by interval, checks the tags, timestamps and counts against
// fixture/expected.json, and checks that the percentile distribution it prints for the sum of
// each tag's intervals is gwsim's <tag>.hgrm, line for line.
//
// Usage: node check.mjs [FIXTURE_DIR]. Prints "hdr: N passed, M failed" last; exits 1 on failure.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as hdr from "hdr-histogram-js";

const dir = process.argv[2] ?? new URL("./fixture", import.meta.url).pathname;
const expected = JSON.parse(readFileSync(join(dir, "expected.json"), "utf8"));
const log = readFileSync(join(dir, "latency.hlog"), "utf8");

let passed = 0;
let failed = 0;
function check(name, ok, detail) {
  if (ok) {
    passed += 1;
    console.log(`ok   ${name}`);
  } else {
    failed += 1;
    console.log(`FAIL ${name}${detail ? `: ${detail}` : ""}`);
  }
}

// Tags, as the library lists them.
const tags = hdr.listTags(log).filter((t) => t !== "NO TAG").sort();
check("tags", JSON.stringify(tags) === JSON.stringify(Object.keys(expected).sort()), tags.join(","));

// Every interval, in order, per tag.
const reader = new hdr.HistogramLogReader(log);
const seen = {};
const sums = {};
for (let h = reader.nextIntervalHistogram(); h !== null; h = reader.nextIntervalHistogram()) {
  const tag = h.tag;
  (seen[tag] ??= []).push({ start: h.startTimeStampMsec, end: h.endTimeStampMsec, count: h.totalCount });
  sums[tag] ??= hdr.build({ numberOfSignificantValueDigits: 3, autoResize: true });
  sums[tag].add(h);
}
// The header is read along with the first interval; timestamps count from BaseTime.
check("StartTime and BaseTime", reader.startTimeSec === 1800000000 && reader.baseTimeSec === 1800000000,
  `${reader.startTimeSec} ${reader.baseTimeSec}`);
const first = Math.min(...Object.values(seen).map((s) => s[0].start));
check("first interval starts at BaseTime", first === 1800000000 * 1000, String(first));
for (const [tag, counts] of Object.entries(expected)) {
  const got = (seen[tag] ?? []).map((i) => i.count);
  check(`${tag}: interval counts`, JSON.stringify(got) === JSON.stringify(counts), JSON.stringify(got));
  const lengths = (seen[tag] ?? []).map((i) => i.end - i.start);
  check(`${tag}: one-second intervals`, lengths.every((l) => l === 1000), JSON.stringify(lengths));
}

// The .hgrm layout: the library's outputPercentileDistribution (5 ticks per half distance,
// microseconds printed as milliseconds) of the summed intervals. The Buckets line depends on
// how far each side's histogram auto-resized, so it is compared for shape only.
for (const tag of Object.keys(expected)) {
  const ours = readFileSync(join(dir, `${tag}.hgrm`), "utf8").split("\n");
  const theirs = sums[tag].outputPercentileDistribution(5, 1000).split("\n");
  const differ = [];
  for (let i = 0; i < Math.max(ours.length, theirs.length); i++) {
    const a = ours[i] ?? "";
    const b = theirs[i] ?? "";
    const bucketsLine = a.startsWith("#[Buckets") && b.startsWith("#[Buckets");
    if (a !== b && !bucketsLine) differ.push(`line ${i + 1}:\n  gwsim: ${a}\n  js:    ${b}`);
  }
  check(`${tag}.hgrm matches outputPercentileDistribution`, differ.length === 0, "\n" + differ.slice(0, 5).join("\n"));
}

console.log(`hdr: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
