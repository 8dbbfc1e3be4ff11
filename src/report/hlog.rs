//! `latency.hlog`: the run's latencies as an HdrHistogram interval log, written as the run goes.
//!
//! The format is HdrHistogram's own (as written by `HistogramLogWriter` in Java and read by
//! `HistogramLogProcessor`, HdrHistogramVisualizer, hdr-histogram-js and hdrhistogram's
//! `IntervalLogIterator`): header comments, `#[StartTime: ...]`, `#[BaseTime: ...]`, the CSV
//! legend, then one line per metric per interval:
//!
//! ```text
//! Tag=Accept.response,0.000,1.000,12.543,HISTFAAAA...
//! ```
//!
//! - one tag per latency metric, named as in thresholds (`Accept.response`, `Consult.settle`,
//!   `customer.wait`...); corrected values only (from the intended start);
//! - timestamps are seconds since `BaseTime`, the start of the load phase; warmup intervals
//!   are in the log too (the header says where warmup ends: pass it as `-start` to
//!   HistogramLogProcessor to match `summary.json`);
//! - histogram values are in **microseconds**: HistogramLogProcessor users pass
//!   `-outputValueUnitRatio 1000` for milliseconds; the `Interval_Max` column is in
//!   microseconds too (a max value divisor would make hdrhistogram's writer repeat its
//!   `#[MaxValueDivisor]` comment before every interval, since it is rebuilt per interval);
//! - once a metric has appeared, every later interval carries a line for it (an empty histogram
//!   when it had no samples), so each tag is a gap-free series.
//!
//! Only the current interval is ever in memory; each interval is flushed as it is written.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use flate2::Compression;
use flate2::write::ZlibEncoder;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::{Serializer, V2SerializeError, V2Serializer};

use super::ReportError;
use super::timeline::latency_metrics;
use crate::metrics::{LatencyHistogram, Recorder};

/// Streams intervals into `latency.hlog`.
pub struct HlogWriter {
    path: PathBuf,
    out: BufWriter<File>,
    serializer: ReusingDeflateSerializer,
    /// Every tag written so far (bounded by the number of metrics, not by run length).
    seen: BTreeSet<String>,
    empty: LatencyHistogram,
    /// What the header needs, until it is written.
    header: Option<Header>,
}

#[derive(Debug)]
struct Header {
    scenario: String,
    warmup: Duration,
    /// Given by [`HlogWriter::with_load_start`].
    load_start: Option<SystemTime>,
}

/// The CSV legend line of HdrHistogram's log format (v1.3).
const LEGEND: &[u8] =
    b"\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n";

impl std::fmt::Debug for HlogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HlogWriter").field("path", &self.path).field("tags", &self.seen).finish()
    }
}

impl HlogWriter {
    /// Creates (or truncates) `path`. The header is written with the first interval, when the
    /// wall-clock start of the load phase (the log's StartTime and BaseTime) is known; `warmup`
    /// is the scenario's warmup, noted in the header.
    pub fn create(
        path: &Path,
        scenario: &str,
        warmup: Duration,
    ) -> Result<HlogWriter, ReportError> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)
            .map_err(|source| ReportError::Write { path: path.to_owned(), source })?;
        Ok(HlogWriter {
            path: path.to_owned(),
            out: BufWriter::new(file),
            serializer: ReusingDeflateSerializer::new(),
            seen: BTreeSet::new(),
            empty: LatencyHistogram::new(),
            header: Some(Header { scenario: one_line(scenario), warmup, load_start: None }),
        })
    }

    /// Fixes the log's StartTime and BaseTime instead of deriving them from the clock at the
    /// first interval (for reproducible logs in tests and fixtures).
    pub fn with_load_start(mut self, load_start: SystemTime) -> Self {
        if let Some(h) = self.header.as_mut() {
            h.load_start = Some(load_start);
        }
        self
    }

    /// Writes the header if it is still due, with `load_start` as StartTime and BaseTime.
    fn header(&mut self, load_start: SystemTime) -> Result<(), ReportError> {
        let Some(h) = self.header.take() else { return Ok(()) };
        let load_start = h.load_start.unwrap_or(load_start);
        let mut builder = IntervalLogWriterBuilder::new();
        builder
            .add_comment(&format!("[Logged with gwsim {}]", env!("CARGO_PKG_VERSION")))
            .add_comment("[Histogram log format version 1.3]")
            .add_comment(&format!("[Scenario: {}]", h.scenario))
            .add_comment(
                "[Values and Interval_Max in microseconds, corrected for coordinated omission]",
            )
            .add_comment("[HistogramLogProcessor: -outputValueUnitRatio 1000 prints milliseconds]")
            .add_comment(&format!(
                "[Timestamps in seconds since the load phase began; warmup until {:.3} s]",
                h.warmup.as_secs_f64()
            ))
            .with_start_time(load_start)
            .with_base_time(load_start);
        let result = (|| {
            builder.begin_log_with(&mut self.out, &mut self.serializer)?;
            self.out.write_all(LEGEND)?;
            self.out.flush()
        })();
        result.map_err(|source| ReportError::Write { path: self.path.clone(), source })
    }

    /// Writes one line per metric for the interval `start..end` (offsets from the start of the
    /// load phase) and flushes.
    pub fn write(
        &mut self,
        start: Duration,
        end: Duration,
        data: &Recorder,
    ) -> Result<(), ReportError> {
        if self.header.is_some() {
            // The load phase began `end` ago: that is the log's StartTime and BaseTime.
            let now = SystemTime::now();
            self.header(now.checked_sub(end).unwrap_or(now))?;
        }
        let metrics = latency_metrics(data);
        for (name, _) in &metrics {
            if !self.seen.contains(name) {
                self.seen.insert(name.clone());
            }
        }
        let length = end.saturating_sub(start);
        let hlog_err = |message: String| ReportError::Hlog { path: self.path.clone(), message };
        // The crate's writer borrows its output; an empty builder writes no header again.
        let mut log = IntervalLogWriterBuilder::new()
            .begin_log_with(&mut self.out, &mut self.serializer)
            .map_err(|e| hlog_err(e.to_string()))?;
        let mut recorded = metrics.iter().peekable();
        for name in &self.seen {
            let h = match recorded.peek() {
                // Both lists are sorted by name.
                Some((n, h)) if n == name => {
                    let h = *h;
                    recorded.next();
                    h
                }
                _ => &self.empty,
            };
            let tag = Tag::new(name)
                .ok_or_else(|| hlog_err(format!("metric name {name:?} cannot be a tag")))?;
            log.write_histogram(h.inner(), start, length, Some(tag))
                .map_err(|e| hlog_err(e.to_string()))?;
        }
        self.out.flush().map_err(|source| ReportError::Write { path: self.path.clone(), source })
    }

    /// Writes the header if no interval did (a run that never reached its load phase still
    /// leaves a valid, empty log), then flushes and syncs the file.
    pub fn finish(&mut self) -> Result<(), ReportError> {
        self.header(SystemTime::now())?;
        let result = self.out.flush().and_then(|()| self.out.get_ref().sync_all());
        result.map_err(|source| ReportError::Write { path: self.path.clone(), source })
    }
}

/// The cookie that opens a compressed V2 histogram (hdrhistogram's `V2_COMPRESSED_COOKIE`,
/// which the crate does not export).
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9314;

/// Encodings shorter than this are stored in their zlib stream, not compressed (see
/// [`ReusingDeflateSerializer`]).
const STORE_BELOW: usize = 1024;

/// A zlib stream holding `data` (at most 65,535 bytes) in one stored deflate block (RFC 1950 and
/// 1951): the header of a fastest-level stream, the block, the Adler-32 of `data`.
fn zlib_stored(data: &[u8], out: &mut Vec<u8>) -> Result<(), std::io::Error> {
    let len = u16::try_from(data.len()).map_err(std::io::Error::other)?;
    // CMF 0x78 (deflate, 32 KiB window), FLG 0x01 (fastest, check bits); then BFINAL=1 with
    // BTYPE=00 (stored), padded to the byte; LEN and its complement, little-endian.
    out.extend_from_slice(&[0x78, 0x01, 0x01]);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&adler32(data).to_be_bytes());
    Ok(())
}

/// Adler-32 (RFC 1950), which zlib streams end with.
fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    let (mut a, mut b) = (1u32, 0u32);
    // 5552 bytes is the most that cannot overflow `b` before the modulo (zlib's NMAX).
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// hdrhistogram's `V2DeflateSerializer` (its output decodes alike, tested), keeping one zlib
/// encoder for the whole log instead of building one per histogram, and storing small
/// histograms rather than compressing them.
///
/// Why: the crate's serializer creates a new encoder for every histogram it writes, and a
/// deflate compressor allocates and zeroes a few hundred KiB of tables when it is created. The
/// log writes every metric every second, so in a profiled run (callgrind) creating those
/// compressors was about two thirds of what `latency.hlog` cost. Resetting an encoder gives the
/// same fresh state without the allocation, but still zeroes its tables (about 128 KiB); so an
/// encoding under [`STORE_BELOW`] bytes, which deflate barely shrinks (a profiled run's
/// one-second histograms: 64 bytes on average, 68 compressed), goes into the zlib stream as a
/// stored block, which any zlib reader inflates (every deflate level is valid in the format).
/// Larger ones, where compression pays, are compressed byte for byte as the crate does (tested).
struct ReusingDeflateSerializer {
    v2: V2Serializer,
    uncompressed: Vec<u8>,
    /// Always fresh between calls (nothing written since its last reset); it writes into a
    /// buffer that starts empty.
    encoder: ZlibEncoder<Vec<u8>>,
    /// The other output buffer: the encoder's is swapped for this one when a histogram is done.
    spare: Vec<u8>,
}

/// Why a histogram could not be serialized.
#[derive(Debug)]
enum DeflateError {
    V2(V2SerializeError),
    Io(std::io::Error),
}

impl std::fmt::Display for DeflateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeflateError::V2(e) => write!(f, "cannot serialize a histogram: {e}"),
            DeflateError::Io(e) => write!(f, "cannot compress a histogram: {e}"),
        }
    }
}

impl ReusingDeflateSerializer {
    fn new() -> Self {
        ReusingDeflateSerializer {
            v2: V2Serializer::new(),
            uncompressed: Vec::new(),
            encoder: ZlibEncoder::new(Vec::new(), Compression::default()),
            spare: Vec::new(),
        }
    }
}

impl Serializer for ReusingDeflateSerializer {
    type SerializeError = DeflateError;

    fn serialize<T: hdrhistogram::Counter, W: Write>(
        &mut self,
        h: &hdrhistogram::Histogram<T>,
        writer: &mut W,
    ) -> Result<usize, DeflateError> {
        self.uncompressed.clear();
        let len = self.v2.serialize(h, &mut self.uncompressed).map_err(DeflateError::V2)?;
        let uncompressed = self.uncompressed.get(..len).unwrap_or(&self.uncompressed);
        let mut out = if uncompressed.len() < STORE_BELOW {
            let mut out = std::mem::take(&mut self.spare);
            out.extend_from_slice(&V2_COMPRESSED_COOKIE.to_be_bytes());
            out.extend_from_slice(&[0; 4]);
            zlib_stored(uncompressed, &mut out).map_err(DeflateError::Io)?;
            out
        } else {
            // Cookie, then the compressed length, filled in below.
            let head = self.encoder.get_mut();
            head.extend_from_slice(&V2_COMPRESSED_COOKIE.to_be_bytes());
            head.extend_from_slice(&[0; 4]);
            self.encoder.write_all(uncompressed).map_err(DeflateError::Io)?;
            // `reset` finishes the stream into the current buffer (as `finish` does in the
            // crate's serializer), hands that buffer back, and leaves the encoder fresh, writing
            // into `spare`.
            self.encoder.reset(std::mem::take(&mut self.spare)).map_err(DeflateError::Io)?
        };
        let compressed = u32::try_from(out.len().saturating_sub(8)).unwrap_or(u32::MAX);
        if let Some(slot) = out.get_mut(4..8) {
            slot.copy_from_slice(&compressed.to_be_bytes());
        }
        let written = writer.write_all(&out).map(|()| out.len()).map_err(DeflateError::Io);
        out.clear();
        self.spare = out;
        written
    }
}

/// A header comment must stay on one line.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gws::Capability;
    use crate::report::files::HLOG_FILE;
    use crate::vocab::{CustomerMetric, OpMetric, OpName};
    use base64::Engine as _;
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use std::time::Instant;

    fn scratch() -> tempfile::TempDir {
        match tempfile::Builder::new().prefix("gwsim-hlog-").tempdir() {
            Ok(d) => d,
            Err(e) => panic!("cannot create a scratch directory: {e}"),
        }
    }

    /// Second `i` of a synthetic run: `i + 1` Accept responses of `i + 1` ms each, and from
    /// second 2 on one customer wait of 250 ms.
    fn second(i: u64) -> Recorder {
        let mut r = Recorder::new();
        let t = Instant::now();
        let op = OpName::Flow(Capability::Accept);
        for _ in 0..=i {
            let done = t + Duration::from_millis(i + 1);
            r.latency(op, OpMetric::Response, t, t, done, true);
        }
        if i >= 2 {
            r.customer_sample(CustomerMetric::Wait, Duration::from_millis(250), true);
        }
        r
    }

    #[test]
    fn reusing_serializer_writes_what_the_crates_serializer_reads_back() {
        use hdrhistogram::serialization::V2DeflateSerializer;
        let mut theirs = V2DeflateSerializer::new();
        let mut ours = ReusingDeflateSerializer::new();
        let mut v2 = V2Serializer::new();
        let mut stored = 0;
        // Several histograms in a row, small (stored) and large (compressed) interleaved, so a
        // reused encoder that kept any state would show.
        for i in [0u64, 5, 1, 300, 2, 3, 40, 4, 5] {
            let mut h = LatencyHistogram::new();
            for v in 0..(i * 300) {
                h.record_us(1 + v * v * (i + 1));
            }
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let na = theirs.serialize(h.inner(), &mut a).unwrap();
            let nb = ours.serialize(h.inner(), &mut b).unwrap();
            assert_eq!(nb, b.len());
            let back: hdrhistogram::Histogram<u64> =
                Deserializer::new().deserialize(&mut b.as_slice()).unwrap();
            let values = |h: &hdrhistogram::Histogram<u64>| {
                h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect()
            };
            let (want, got): (Vec<_>, Vec<_>) = (values(h.inner()), values(&back));
            assert_eq!(got, want, "histogram {i}");
            if v2.serialize(h.inner(), &mut Vec::new()).unwrap() < STORE_BELOW {
                stored += 1;
            } else {
                assert_eq!((na, &a), (nb, &b), "histogram {i}: compressed as the crate does");
            }
        }
        assert!((1..9).contains(&stored), "both paths taken: {stored} stored");
    }

    #[test]
    fn adler32_is_zlibs() {
        // RFC 1950's checksum of "Wikipedia", and of nothing.
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
        assert_eq!(adler32(b""), 1);
        // Past one 5552-byte chunk, against the zlib decoder's own check.
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut out = Vec::new();
        zlib_stored(&data, &mut out).unwrap();
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(out.as_slice()), &mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn log_reads_back_with_hdrhistograms_own_reader() {
        let dir = scratch();
        let path = dir.path().join(HLOG_FILE);
        let mut w = HlogWriter::create(&path, "synthetic", Duration::from_secs(1)).unwrap();
        for i in 0..4u64 {
            let (s, e) = (Duration::from_secs(i), Duration::from_secs(i + 1));
            w.write(s, e, &second(i)).unwrap();
        }
        w.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("#[Logged with gwsim "), "{text}");
        assert!(text.contains("\n\"StartTimestamp\",\"Interval_Length\""), "{text}");

        let mut start_time = None;
        let mut base_time = None;
        let mut lines = Vec::new();
        for entry in IntervalLogIterator::new(&bytes) {
            match entry.unwrap() {
                LogEntry::StartTime(t) => start_time = Some(t),
                LogEntry::BaseTime(t) => base_time = Some(t),
                LogEntry::Interval(h) => {
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(h.encoded_histogram())
                        .unwrap();
                    let hist: hdrhistogram::Histogram<u64> =
                        Deserializer::new().deserialize(&mut raw.as_slice()).unwrap();
                    lines.push((
                        h.tag().map(|t| t.as_str().to_owned()),
                        h.start_timestamp().as_secs(),
                        h.duration(),
                        h.max(),
                        hist,
                    ));
                }
            }
        }
        assert!(start_time.is_some() && start_time == base_time);
        let summary: Vec<_> =
            lines.iter().map(|(tag, s, _, _, h)| (tag.as_deref().unwrap(), *s, h.len())).collect();
        assert_eq!(
            summary,
            [
                ("Accept.response", 0, 1),
                ("Accept.response", 1, 2),
                ("Accept.response", 2, 3),
                ("customer.wait", 2, 1),
                ("Accept.response", 3, 4),
                ("customer.wait", 3, 1),
            ]
        );
        for (tag, s, length, max, h) in &lines {
            assert_eq!(*length, Duration::from_secs(1));
            if tag.as_deref() == Some("Accept.response") {
                // Microseconds in the histogram and in Interval_Max.
                let us = (s + 1) * 1000;
                assert_eq!(h.count_at(us), s + 1);
                assert!(h.equivalent(h.max(), us));
                assert!(h.equivalent(*max as u64, us), "{max}");
            } else {
                assert_eq!(h.count_at(250_000), 1);
            }
        }
    }

    #[test]
    fn a_metric_seen_once_gets_an_empty_histogram_in_later_quiet_intervals() {
        let dir = scratch();
        let path = dir.path().join(HLOG_FILE);
        let mut w = HlogWriter::create(&path, "s", Duration::ZERO).unwrap();
        w.write(Duration::ZERO, Duration::from_secs(1), &second(0)).unwrap();
        w.write(Duration::from_secs(1), Duration::from_secs(2), &Recorder::new()).unwrap();
        w.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let counts: Vec<u64> = IntervalLogIterator::new(&bytes)
            .filter_map(|e| match e.unwrap() {
                LogEntry::Interval(h) => {
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(h.encoded_histogram())
                        .unwrap();
                    let hist: hdrhistogram::Histogram<u64> =
                        Deserializer::new().deserialize(&mut raw.as_slice()).unwrap();
                    Some(hist.len())
                }
                _ => None,
            })
            .collect();
        assert_eq!(counts, [1, 0]);
    }

    #[test]
    fn a_run_without_intervals_still_leaves_a_valid_log() {
        let dir = scratch();
        let path = dir.path().join(HLOG_FILE);
        let mut w = HlogWriter::create(&path, "s\nnext", Duration::ZERO).unwrap();
        w.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let entries: Vec<_> = IntervalLogIterator::new(&bytes).map(|e| e.unwrap()).collect();
        assert_eq!(entries.len(), 2, "StartTime and BaseTime only");
        assert!(String::from_utf8(bytes).unwrap().contains("#[Scenario: s next]"));
    }
}
