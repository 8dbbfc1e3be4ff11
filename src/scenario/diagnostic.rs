//! Diagnostics: what is wrong with a scenario file, where (file:line:col), and how to fix it.
//!
//! Every problem the scenario loader finds becomes one [`Diagnostic`]; the loader collects them all
//! into [`Diagnostics`] rather than stopping at the first, so a newcomer fixes a file in one pass.

use std::fmt;
use std::ops::Range;

/// One problem in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file name as the user gave it.
    pub file: String,
    /// 1-based line; 0 when the problem concerns the whole file (e.g. it cannot be read).
    pub line: u32,
    /// 1-based column in characters; 0 together with `line == 0`.
    pub col: u32,
    /// One sentence saying what is wrong, lowercase, no trailing period.
    pub message: String,
    /// What to write instead, when there is something useful to say.
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: error: {}", self.file, self.message)?;
        } else {
            write!(f, "{}:{}:{}: error: {}", self.file, self.line, self.col, self.message)?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n    help: {help}")?;
        }
        Ok(())
    }
}

/// All the problems found in one file, in the order they appear in it (problems with command-line
/// values first). Displayed as whole lines, each ending in a newline, so that whatever is printed
/// after it (another file's problems, the "N problem(s) found" count) starts on a line of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Collects diagnostics for one file, turning byte spans into line and column.
#[derive(Debug)]
pub(crate) struct Sink<'a> {
    file: &'a str,
    text: &'a str,
    /// Byte offset at which each line starts.
    line_starts: Vec<usize>,
    found: Vec<Diagnostic>,
}

impl<'a> Sink<'a> {
    pub(crate) fn new(file: &'a str, text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Sink { file, text, line_starts, found: Vec::new() }
    }

    /// 1-based line and character column of a byte offset (clamped to the text).
    pub(crate) fn position(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).saturating_sub(1);
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        // `get` rather than slicing: a span from a parser could in theory split a character.
        let col = self.text.get(start..offset).map_or(offset - start, |s| s.chars().count());
        (u32::try_from(line + 1).unwrap_or(u32::MAX), u32::try_from(col + 1).unwrap_or(u32::MAX))
    }

    pub(crate) fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.push(span, message.into(), None);
    }

    pub(crate) fn error_help(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.push(span, message.into(), Some(help.into()));
    }

    pub(crate) fn push(&mut self, span: Range<usize>, message: String, help: Option<String>) {
        let (line, col) = self.position(span.start);
        self.found.push(Diagnostic { file: self.file.to_owned(), line, col, message, help });
    }

    /// A problem with a command-line value rather than with the file: no line or column (the
    /// message names the flag).
    pub(crate) fn push_whole(&mut self, message: String, help: Option<String>) {
        self.found.push(Diagnostic { file: self.file.to_owned(), line: 0, col: 0, message, help });
    }

    /// How many problems have been found so far (for [`Sink::retain_since`]).
    pub(crate) fn mark(&self) -> usize {
        self.found.len()
    }

    /// Drops the problems found since `mark` that `keep` refuses.
    pub(crate) fn retain_since(&mut self, mark: usize, keep: impl Fn(&Diagnostic) -> bool) {
        let mut i = 0;
        self.found.retain(|d| {
            i += 1;
            i <= mark || keep(d)
        });
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.found.is_empty()
    }

    /// The diagnostics sorted by position, so they read top to bottom like the file.
    pub(crate) fn finish(mut self) -> Diagnostics {
        self.found.sort_by_key(|d| (d.line, d.col));
        self.found.dedup();
        Diagnostics(self.found)
    }
}

/// The closest candidate to a misspelt word, if it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let word_l = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word_l, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters; the inputs are short names, so O(n·m) is fine.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        let s = Sink::new("f.toml", text);
        assert_eq!(s.position(0), (1, 1));
        assert_eq!(s.position(4), (1, 5));
        assert_eq!(s.position(6), (2, 1));
        // `é` is two bytes but one column.
        assert_eq!(s.position(6 + 3), (2, 3));
        assert_eq!(s.position(10_000), (3, 1));
    }

    #[test]
    fn display_has_location_and_indented_help() {
        let d = Diagnostic {
            file: "s.toml".into(),
            line: 3,
            col: 7,
            message: "unknown key `cout`".into(),
            help: Some("did you mean `count`?".into()),
        };
        assert_eq!(
            d.to_string(),
            "s.toml:3:7: error: unknown key `cout`\n    help: did you mean `count`?"
        );
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(did_you_mean("Consul", ["Consult", "Complete"]), Some("Consult"));
        assert_eq!(did_you_mean("cout", ["count", "name"]), Some("count"));
        assert_eq!(did_you_mean("zzzzzz", ["count", "name"]), None);
    }
}
