//! Highlighting: the words of a text that a query matched, wrapped in `<mark>`, the rest
//! HTML-escaped, cut to the densest fragment when the text is long. It uses the same
//! analysis as the index, so what is marked is what matched.

use std::{
    cell::RefCell,
    collections::{HashMap, HashSet},
    ops::ControlFlow,
};

use super::analysis;

/// The terms a query matches, in index form.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    exact: HashSet<String>,
    prefix: Option<String>,
    /// Whether a word of the text matches, by its raw form: the hits of one search share
    /// most of their words, and finding a word's index form (lower-casing, stemming) is
    /// most of what highlighting costs.
    seen: RefCell<HashMap<String, bool, foldhash::fast::RandomState>>,
    /// The first characters of the terms and the prefix: a word starting otherwise cannot
    /// match, since lower-casing and stemming keep a word's first letter (lower-cased).
    firsts: Vec<char>,
}

impl Matcher {
    pub fn new(exact: HashSet<String>, prefix: Option<String>) -> Self {
        let mut firsts: Vec<char> = exact
            .iter()
            .chain(&prefix)
            .filter_map(|t| t.chars().next())
            .collect();
        firsts.sort_unstable();
        firsts.dedup();
        Self {
            exact,
            prefix,
            seen: RefCell::default(),
            firsts,
        }
    }

    /// Whether a word starting with `c` (normalized, not yet lower-cased) could match.
    fn could_start(&self, c: char) -> bool {
        c.to_lowercase()
            .next()
            .is_some_and(|l| self.firsts.binary_search(&l).is_ok())
    }

    pub fn matches(&self, term: &str) -> bool {
        self.exact.contains(term) || self.prefix.as_deref().is_some_and(|p| term.starts_with(p))
    }

    /// Whether the raw word `raw` matches once in index form.
    fn matches_raw(&self, raw: &str) -> bool {
        if let Some(known) = self.seen.borrow().get(raw) {
            return *known;
        }
        let matched = analysis::index_form(raw).is_some_and(|f| self.matches(&f));
        self.seen.borrow_mut().insert(raw.to_string(), matched);
        matched
    }

    /// Byte ranges of `text` that match, merged where they touch.
    pub fn ranges(&self, text: &str) -> Vec<(usize, usize)> {
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        let starts = |c| self.could_start(c);
        let _ = analysis::each_index_token(text, starts, |raw, from, to| {
            if self.matches_raw(raw) {
                ranges.push((from, to));
            }
            ControlFlow::Continue(())
        });
        ranges.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
        for (from, to) in ranges {
            match merged.last_mut() {
                Some(last) if from <= last.1 => last.1 = last.1.max(to),
                _ => merged.push((from, to)),
            }
        }
        merged
    }

    /// Whether any word of `text` matches.
    pub fn any_in(&self, text: &str) -> bool {
        analysis::each_index_token(
            text,
            |c| self.could_start(c),
            |raw, _, _| {
                if self.matches_raw(raw) {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        )
        .is_break()
    }
}

/// All of `text`, marked.
pub fn mark_all(text: &str, ranges: &[(usize, usize)]) -> String {
    render(text, 0, text.len(), ranges)
}

/// The fragment of at most `max_chars` characters holding the most matches, marked, with
/// an ellipsis where it was cut. Without matches: the start of the text.
pub fn fragment(text: &str, ranges: &[(usize, usize)], max_chars: usize) -> String {
    // Start a little before the first match of the window, for context.
    const LEAD_CHARS: usize = 16;
    let best_start = ranges
        .iter()
        .enumerate()
        .max_by_key(|(i, (from, _))| {
            let end = advance(text, *from, max_chars);
            let inside = ranges[*i..].iter().take_while(|(_, to)| *to <= end).count();
            (inside, std::cmp::Reverse(*i))
        })
        .map_or(0, |(_, (from, _))| back(text, *from, LEAD_CHARS));
    let end = advance(text, best_start, max_chars);
    let mut out = String::new();
    if best_start > 0 {
        out.push('…');
    }
    out.push_str(&render(text, best_start, end, ranges));
    if end < text.len() {
        out.push('…');
    }
    out
}

/// The byte offset `n` characters after `from` (or the end).
fn advance(text: &str, from: usize, n: usize) -> usize {
    text[from..]
        .char_indices()
        .nth(n)
        .map_or(text.len(), |(i, _)| from + i)
}

/// The byte offset `n` characters before `from` (or the start).
fn back(text: &str, from: usize, n: usize) -> usize {
    text[..from]
        .char_indices()
        .rev()
        .take(n)
        .last()
        .map_or(from, |(i, _)| i)
}

fn render(text: &str, start: usize, end: usize, ranges: &[(usize, usize)]) -> String {
    let mut out = String::with_capacity(end - start + 32);
    let mut at = start;
    for &(from, to) in ranges {
        if to <= start || from >= end {
            continue;
        }
        let (from, to) = (from.max(start), to.min(end));
        escape_into(&mut out, &text[at..from]);
        out.push_str("<mark>");
        escape_into(&mut out, &text[from..to]);
        out.push_str("</mark>");
        at = to;
    }
    escape_into(&mut out, &text[at..end]);
    out
}

/// HTML-escapes `text`, folding runs of white space (markdown line breaks) into one space.
fn escape_into(out: &mut String, text: &str) {
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            if !space {
                out.push(' ');
            }
            space = true;
            continue;
        }
        space = false;
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(terms: &[&str]) -> Matcher {
        Matcher::new(terms.iter().map(|t| t.to_string()).collect(), None)
    }

    #[test]
    fn marks_matched_words_and_escapes_the_rest() {
        let m = matcher(&["redi", "缓存"]);
        let text = "<Redis> 缓存";
        assert_eq!(
            mark_all(text, &m.ranges(text)),
            "&lt;<mark>Redis</mark>&gt; <mark>缓存</mark>"
        );
    }

    #[test]
    fn a_fragment_is_cut_around_the_matches() {
        let m = matcher(&["tokio"]);
        let text = format!("{} tokio runtime", "word ".repeat(100));
        let f = fragment(&text, &m.ranges(&text), 40);
        assert!(
            f.starts_with('…') && f.contains("<mark>tokio</mark>"),
            "{f}"
        );
    }

    #[test]
    fn the_ranges_are_the_matching_index_tokens_and_any_in_agrees() {
        let exact = matcher(&["redi", "缓存", "阿里云", "rust", "σοφία"]);
        let prefix = Matcher::new(
            ["kafka", "消息"].iter().map(|t| t.to_string()).collect(),
            Some("实".to_string()),
        );
        for (m, text) in [&exact, &prefix].into_iter().flat_map(|m| {
            [
                "<Redis> 缓存失效",
                "用阿里雲的 Ｒｕｓｔ 服务，RUST 与 rusty",
                "没有匹配的文字 nothing here",
                "",
                "缓",
                "ΣΟΦΊΑ and Σοφία",
                "KAFKA 消息队列实战, Kafka實戰 and 实",
            ]
            .map(|text| (m, text))
        }) {
            let expected: Vec<(usize, usize)> = analysis::index_tokens(text)
                .into_iter()
                .filter(|t| analysis::index_form(&t.text).is_some_and(|f| m.matches(&f)))
                .map(|t| (t.from, t.to))
                .collect();
            let ranges = m.ranges(text);
            // Every matching token is inside a range, and every range starts at one.
            for (from, to) in &expected {
                assert!(
                    ranges.iter().any(|(a, b)| a <= from && to <= b),
                    "{text}: {from}..{to} in {ranges:?}"
                );
            }
            for (from, _) in &ranges {
                assert!(
                    expected.iter().any(|(a, _)| a == from),
                    "{text}: {ranges:?}"
                );
            }
            assert_eq!(m.any_in(text), !expected.is_empty(), "{text}");
        }
    }
}
