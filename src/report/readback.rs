//! Reading a finished run back from its results directory, for `gwsim report` and `gwsim compare`:
//! `summary.json` as a [`StoredReport`], `latency.hlog` and `totals.hlog` as one histogram per
//! tag (every interval added up), and `timeline.jsonl` as its points.
//!
//! Every file here is input a person may have edited, truncated or mixed up, so nothing panics on
//! it: each problem is a [`ReadError`] naming the file and what is wrong with it.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use std::io::Read as _;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

use super::files::{HLOG_FILE, TOTALS_FILE, summary_path};
use super::{SCHEMA, StoredReport};

/// One histogram per metric (`Accept.response`, `customer.wait`, ...), every interval added.
pub type Histograms = BTreeMap<String, Histogram<u64>>;

/// HdrHistogram's V2 encoding cookies (plain and zlib-compressed) and its header size.
const V2_COOKIE: u32 = 0x1c84_9313;
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9314;
const V2_HEADER_BYTES: usize = 40;

/// The largest decoded histogram accepted from an interval log. hdrhistogram allocates what a
/// histogram's header claims before reading it, so a corrupt header could ask for gigabytes;
/// gwsim's own histograms (1 µs to 1 h, 3 digits) take well under a megabyte.
const MAX_HISTOGRAM_BYTES: usize = 64 << 20;

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    let x: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(x))
}

/// Decodes one V2 histogram (compressed or not), checking the lengths its header claims against
/// the bytes really there before hdrhistogram allocates for them.
fn decode_histogram(
    bytes: &[u8],
    deserializer: &mut Deserializer,
) -> Result<Histogram<u64>, String> {
    let cookie = be_u32(bytes, 0).ok_or("shorter than a histogram header")?;
    let inflated;
    let plain: &[u8] = match cookie {
        V2_COOKIE => bytes,
        V2_COMPRESSED_COOKIE => {
            let len = be_u32(bytes, 4).ok_or("shorter than a histogram header")? as usize;
            let body = bytes.get(8..8 + len).ok_or("its compressed payload is truncated")?;
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(body)
                .take(MAX_HISTOGRAM_BYTES as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("cannot inflate it: {e}"))?;
            if out.len() > MAX_HISTOGRAM_BYTES {
                return Err(format!("it inflates to more than {MAX_HISTOGRAM_BYTES} bytes"));
            }
            inflated = out;
            &inflated
        }
        other => return Err(format!("unknown encoding (cookie {other:#010x})")),
    };
    if be_u32(plain, 0) != Some(V2_COOKIE) {
        return Err("unknown encoding inside the compressed payload".into());
    }
    let payload = be_u32(plain, 4).ok_or("shorter than a histogram header")? as usize;
    let present = plain.len().saturating_sub(V2_HEADER_BYTES);
    if plain.len() < V2_HEADER_BYTES || payload > present {
        return Err(format!(
            "its header claims {payload} bytes of counts, and {present} are there"
        ));
    }
    deserializer.deserialize(&mut &plain[..]).map_err(|e| format!("{e:?}"))
}

/// What is wrong with a results file. Each message carries its cause inline (no `source`
/// chain), so it reads whole wherever it is printed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("{path} is not valid JSON: {error}")]
    Json { path: PathBuf, error: serde_json::Error },
    #[error("{path} is not a gwsim summary: it has no \"schema\" tag")]
    NoSchema { path: PathBuf },
    #[error("{path} has summary schema `{found}`, and this gwsim reads {SCHEMA}")]
    Schema { path: PathBuf, found: String },
    #[error("{path} does not match summary schema {SCHEMA}: {error}")]
    Shape { path: PathBuf, error: serde_json::Error },
    #[error("{path} is not an HdrHistogram interval log: unreadable line at byte {offset}")]
    HlogSyntax { path: PathBuf, offset: usize },
    #[error("{path}: the histogram of interval {index} ({tag}) is unreadable: {reason}")]
    HlogHistogram { path: PathBuf, index: usize, tag: String, reason: String },
    #[error("{path} holds no tagged interval histograms")]
    HlogEmpty { path: PathBuf },
    #[error("{path}:{line}: not a timeline point: {error}")]
    Timeline { path: PathBuf, line: usize, error: serde_json::Error },
}

fn read(path: &Path) -> Result<Vec<u8>, ReadError> {
    std::fs::read(path).map_err(|error| ReadError::Io { path: path.to_owned(), error })
}

/// Reads `summary.json` (or the summary at `path`).
pub fn read_summary(path: &Path) -> Result<StoredReport, ReadError> {
    parse_summary(path, &read(path)?)
}

/// Parses a summary; `path` only names it in errors. The schema tag is checked before the shape,
/// so a summary from another schema version says so instead of naming its first odd field.
pub fn parse_summary(path: &Path, bytes: &[u8]) -> Result<StoredReport, ReadError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|error| ReadError::Json { path: path.to_owned(), error })?;
    match value.get("schema").and_then(|s| s.as_str()) {
        None => return Err(ReadError::NoSchema { path: path.to_owned() }),
        Some(s) if s != SCHEMA => {
            return Err(ReadError::Schema { path: path.to_owned(), found: s.to_owned() });
        }
        Some(_) => {}
    }
    serde_json::from_value(value).map_err(|error| ReadError::Shape { path: path.to_owned(), error })
}

/// Reads an interval log: every tagged interval added into its tag's histogram. Untagged
/// intervals are skipped (gwsim tags every interval with its metric).
pub fn read_hlog(path: &Path) -> Result<Histograms, ReadError> {
    parse_hlog(path, &read(path)?)
}

/// Calls `f(start, tag, histogram)` for every tagged interval of an interval log, in order,
/// `start` being the interval's start timestamp (relative to the log's base time); `path` only
/// names the log in errors.
fn each_interval(
    path: &Path,
    bytes: &[u8],
    mut f: impl FnMut(std::time::Duration, &str, Histogram<u64>) -> Result<(), String>,
) -> Result<(), ReadError> {
    let mut deserializer = Deserializer::new();
    for (index, entry) in IntervalLogIterator::new(bytes).enumerate() {
        let entry = entry.map_err(|e| match e {
            hdrhistogram::serialization::interval_log::LogIteratorError::ParseError { offset } => {
                ReadError::HlogSyntax { path: path.to_owned(), offset }
            }
        })?;
        let LogEntry::Interval(interval) = entry else { continue };
        let Some(tag) = interval.tag() else { continue };
        let bad = |reason: String| ReadError::HlogHistogram {
            path: path.to_owned(),
            index,
            tag: tag.as_str().to_owned(),
            reason,
        };
        let compressed = base64::engine::general_purpose::STANDARD
            .decode(interval.encoded_histogram())
            .map_err(|e| bad(format!("bad base64: {e}")))?;
        let h = decode_histogram(&compressed, &mut deserializer).map_err(bad)?;
        f(interval.start_timestamp(), tag.as_str(), h).map_err(bad)?;
    }
    Ok(())
}

/// Adds `h` into `out[tag]`.
fn add_into(out: &mut Histograms, tag: &str, h: Histogram<u64>) -> Result<(), String> {
    match out.get_mut(tag) {
        Some(total) => total.add(&h).map_err(|e| format!("cannot add it: {e:?}")),
        None => {
            // Auto-resizing, so later intervals with larger values still add.
            let mut total = h;
            total.auto(true);
            out.insert(tag.to_owned(), total);
            Ok(())
        }
    }
}

/// An interval log's histograms interval by interval: by start timestamp in milliseconds (as a
/// `timeline.jsonl` point's `start_ms`), one histogram per tag. For `gwsim merge`, which adds
/// the shards' histograms of one interval to give the merged interval's percentiles.
pub fn parse_hlog_by_start(
    path: &Path,
    bytes: &[u8],
) -> Result<BTreeMap<u64, Histograms>, ReadError> {
    let mut out: BTreeMap<u64, Histograms> = BTreeMap::new();
    each_interval(path, bytes, |start, tag, h| {
        let ms = u64::try_from(start.as_millis()).unwrap_or(u64::MAX);
        add_into(out.entry(ms).or_default(), tag, h)
    })?;
    Ok(out)
}

/// Parses an interval log; `path` only names it in errors.
pub fn parse_hlog(path: &Path, bytes: &[u8]) -> Result<Histograms, ReadError> {
    let mut out = Histograms::new();
    each_interval(path, bytes, |_, tag, h| add_into(&mut out, tag, h))?;
    if out.is_empty() {
        return Err(ReadError::HlogEmpty { path: path.to_owned() });
    }
    Ok(out)
}

/// Every tag's histograms interval by interval, in the log's order (for `gwsim compare`, which
/// measures how much a statistic moves from one second to the next).
pub type Intervals = BTreeMap<String, Vec<Histogram<u64>>>;

/// Parses an interval log without adding its intervals up; `path` only names it in errors.
pub fn parse_hlog_intervals(path: &Path, bytes: &[u8]) -> Result<Intervals, ReadError> {
    let mut out = Intervals::new();
    each_interval(path, bytes, |_, tag, h| {
        out.entry(tag.to_owned()).or_default().push(h);
        Ok(())
    })?;
    if out.is_empty() {
        return Err(ReadError::HlogEmpty { path: path.to_owned() });
    }
    Ok(out)
}

/// Reads an interval log interval by interval ([`parse_hlog_intervals`]).
pub fn read_hlog_intervals(path: &Path) -> Result<Intervals, ReadError> {
    parse_hlog_intervals(path, &read(path)?)
}

/// A finished run as read back: its summary, and its histograms and timeline when it wrote them.
#[derive(Debug)]
pub struct RunFiles {
    /// The results directory.
    pub dir: PathBuf,
    pub report: StoredReport,
    /// `None`: the run has no `latency.hlog`.
    pub histograms: Option<Histograms>,
    /// The run's measured histograms at its end (`totals.hlog`: corrected and raw, login and
    /// logout included, warmup left out, exactly what `summary.json` was computed from); `None`
    /// for a run written before the file existed.
    pub totals: Option<Histograms>,
}

/// Reads the run at `p`: a results directory, or a `summary.json` path (its directory holds the
/// rest). A missing `latency.hlog` or `totals.hlog` is normal (`None`); an unreadable one is an
/// error.
pub fn read_run(p: &Path) -> Result<RunFiles, ReadError> {
    let summary = summary_path(p);
    let report = read_summary(&summary)?;
    let dir = summary.parent().map(Path::to_owned).unwrap_or_default();
    let hlog = dir.join(HLOG_FILE);
    let histograms = optional(&hlog, read_hlog)?;
    let totals = optional(&dir.join(TOTALS_FILE), read_hlog)?;
    Ok(RunFiles { dir, report, histograms, totals })
}

/// `read(path)`, or `None` when the file does not exist.
pub fn optional<T>(
    path: &Path,
    read: impl FnOnce(&Path) -> Result<T, ReadError>,
) -> Result<Option<T>, ReadError> {
    match read(path) {
        Ok(v) => Ok(Some(v)),
        Err(ReadError::Io { error, .. }) if error.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_summaries_are_clear_errors() {
        let p = Path::new("x/summary.json");
        let e = parse_summary(p, b"{\"schema\": \"gwsim.summ").unwrap_err();
        assert!(matches!(e, ReadError::Json { .. }), "{e}");
        assert!(e.to_string().starts_with("x/summary.json is not valid JSON"), "{e}");
        let e = parse_summary(p, b"{\"schema\": \"gwsim.summary/9\"}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "x/summary.json has summary schema `gwsim.summary/9`, and this gwsim reads \
             gwsim.summary/1"
        );
        let e = parse_summary(p, b"[1, 2]").unwrap_err();
        assert!(matches!(e, ReadError::NoSchema { .. }), "{e}");
        let e = parse_summary(p, b"{\"schema\": \"gwsim.summary/1\", \"partial\": 3}").unwrap_err();
        assert!(matches!(e, ReadError::Shape { .. }), "{e}");
    }

    #[test]
    fn garbage_hlogs_are_clear_errors() {
        let p = Path::new("latency.hlog");
        let e = parse_hlog(p, b"").unwrap_err();
        assert!(matches!(e, ReadError::HlogEmpty { .. }), "{e}");
        let e = parse_hlog(p, b"hello\nworld\n").unwrap_err();
        assert!(matches!(e, ReadError::HlogEmpty { .. } | ReadError::HlogSyntax { .. }), "{e}");
        // A well-formed line whose histogram payload is garbage.
        let e = parse_hlog(p, b"Tag=Accept.response,0.000,1.000,1.000,bm90IGEgaGlzdG9ncmFt\n")
            .unwrap_err();
        assert!(matches!(e, ReadError::HlogHistogram { .. }), "{e}");
        assert!(e.to_string().contains("(Accept.response)"), "{e}");
        let e = parse_hlog(p, b"Tag=Accept.response,0.000,1.000,1.000,***\n").unwrap_err();
        assert!(matches!(e, ReadError::HlogHistogram { .. }), "{e}");
    }

    /// A histogram header in hdrhistogram's V2 layout, claiming `payload` bytes of counts.
    fn header(payload: u32) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend(V2_COOKIE.to_be_bytes());
        h.extend(payload.to_be_bytes());
        h.extend(0u32.to_be_bytes()); // normalizing offset
        h.extend(3u32.to_be_bytes()); // significant digits
        h.extend(1u64.to_be_bytes()); // lowest
        h.extend(3_600_000_000u64.to_be_bytes()); // highest
        h.extend(1.0f64.to_be_bytes()); // integer to double ratio
        h
    }

    fn line(histogram: &[u8]) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(histogram);
        format!("Tag=Accept.response,0.000,1.000,1.000,{b64}\n").into_bytes()
    }

    #[test]
    fn histogram_headers_claiming_more_than_is_there_are_refused_before_allocating() {
        use std::io::Write as _;
        let p = Path::new("latency.hlog");
        // Plain: four gigabytes of counts claimed, none present.
        let e = parse_hlog(p, &line(&header(u32::MAX))).unwrap_err();
        assert!(
            e.to_string().contains("claims 4294967295 bytes of counts, and 0 are there"),
            "{e}"
        );
        // Compressed: the same header inside a valid zlib stream.
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&header(u32::MAX)).unwrap();
        let deflated = z.finish().unwrap();
        let mut wrapped = Vec::new();
        wrapped.extend(V2_COMPRESSED_COOKIE.to_be_bytes());
        wrapped.extend((deflated.len() as u32).to_be_bytes());
        wrapped.extend(&deflated);
        let e = parse_hlog(p, &line(&wrapped)).unwrap_err();
        assert!(e.to_string().contains("claims 4294967295 bytes of counts"), "{e}");
        // A compressed length beyond the bytes present.
        wrapped[7] = wrapped[7].wrapping_add(50);
        let e = parse_hlog(p, &line(&wrapped)).unwrap_err();
        assert!(e.to_string().contains("compressed payload is truncated"), "{e}");
        // An empty but well-formed histogram is fine.
        let h = parse_hlog(p, &line(&header(0))).unwrap();
        assert_eq!(h["Accept.response"].len(), 0);
    }
}
