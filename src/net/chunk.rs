//! Chunked transfer coding (RFC 9112 §7.1), decoded one chunk at a time from a buffer: the one
//! decoder the client (`net::http1`, response bodies) and the server (`server::conn`, request
//! bodies) both use.

/// A chunk-size line (with extensions) longer than this is malformed rather than incomplete.
const MAX_CHUNK_LINE: usize = 1024;

/// One step of decoding a chunked body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Data at `start..start + len`; the chunk with its CRLF ends at `end`.
    Data { start: usize, len: usize, end: usize },
    /// The last chunk and its trailer section (skipped) end at `end`.
    Last { end: usize },
}

/// The next chunk at the start of `raw`, or `None` when more bytes are needed.
pub(crate) fn next_chunk(raw: &[u8], max_trailer: usize) -> Result<Option<Chunk>, &'static str> {
    let Some(line_end) = find_crlf(raw, 0) else {
        return if raw.len() > MAX_CHUNK_LINE { Err("chunk size line too long") } else { Ok(None) };
    };
    if line_end > MAX_CHUNK_LINE {
        return Err("chunk size line too long");
    }
    let line = std::str::from_utf8(&raw[..line_end]).map_err(|_| "chunk size is not text")?;
    let size = line.split(';').next().unwrap_or_default().trim();
    if size.is_empty() || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("chunk size is not hexadecimal");
    }
    let len = usize::from_str_radix(size, 16).map_err(|_| "chunk size too large")?;
    let start = line_end + 2;
    if len == 0 {
        // Trailer fields, then an empty line; bounded by raw's length (one line per turn).
        let mut at = start;
        loop {
            let Some(end) = find_crlf(raw, at) else {
                return if raw.len() - at > max_trailer {
                    Err("trailer too long")
                } else {
                    Ok(None)
                };
            };
            if end == at {
                return Ok(Some(Chunk::Last { end: end + 2 }));
            }
            at = end + 2;
        }
    }
    let end =
        start.checked_add(len).and_then(|n| n.checked_add(2)).ok_or("chunk size too large")?;
    if raw.len() < end {
        return Ok(None);
    }
    if &raw[end - 2..end] != b"\r\n" {
        return Err("chunk not followed by CRLF");
    }
    Ok(Some(Chunk::Data { start, len, end }))
}

fn find_crlf(raw: &[u8], from: usize) -> Option<usize> {
    raw.get(from..)?.windows(2).position(|w| w == b"\r\n").map(|i| from + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_decoded_step_by_step() {
        let next = |raw: &[u8]| next_chunk(raw, 64);
        assert_eq!(
            next(b"3;ext=1\r\nabc\r\n"),
            Ok(Some(Chunk::Data { start: 9, len: 3, end: 14 }))
        );
        assert_eq!(next(b"3\r\nab"), Ok(None));
        assert_eq!(next(b"2\r\na"), Ok(None));
        assert_eq!(next(b"0\r\n\r\n"), Ok(Some(Chunk::Last { end: 5 })));
        assert_eq!(next(b"0\r\nX-T: 1\r\n\r\n"), Ok(Some(Chunk::Last { end: 13 })));
        assert_eq!(next(b"0\r\nX-T: 1\r\n"), Ok(None));
        assert!(next(b"zz\r\n").is_err());
        assert!(next(b"\r\n").is_err());
        assert!(next(b"2\r\nabXY").is_err());
        assert!(next(b"ffffffffffffffffffff\r\n").is_err());
        assert!(next(&[b'1'; 2000]).is_err());
        // A trailer section that never ends is refused once past the bound.
        assert!(next(format!("0\r\n{}", "x".repeat(100)).as_bytes()).is_err());
    }
}
