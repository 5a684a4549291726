//! Text analysis shared by indexing, querying and highlighting.
//!
//! Every text is first normalized character by character (so offsets still point into the
//! original text): full-width forms become half-width (`Ｒｕｓｔ` → `Rust`), traditional
//! characters become simplified (`雲` → `云`). Then it is cut into runs:
//! - letters and digits (any script but Chinese) make one token, later lower-cased and
//!   stemmed (English);
//! - a run of Chinese characters is indexed as every overlapping pair of characters plus the
//!   words of the tech vocabulary (`vocabulary.txt`) it contains. Pairs find any word, listed
//!   or not; a listed word is also one token, so `阿里云` matches the word and not `阿里` next
//!   to an unrelated `云`.
//!
//! A query is cut differently: the vocabulary's longest words first, the rest of a Chinese
//! run as pairs that do not overlap (all of which the document's overlapping pairs contain).
//! A lone unknown character in a longer query is dropped (mostly 的, 和, 是); a query of only
//! such characters searches them as prefixes.

use std::{
    collections::{HashMap, HashSet},
    ops::ControlFlow,
    sync::LazyLock,
};

use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, Stemmer, TextAnalyzer, Token, TokenStream, Tokenizer,
};

/// The name under which the index's text fields find `analyzer()`.
pub const TOKENIZER_NAME: &str = "qshare";
/// Bump when the analysis changes: an index built by another version is rebuilt at start.
pub const ANALYSIS_VERSION: u32 = 1;
/// Tokens longer than this (in bytes) are dropped: base64 blobs, URLs without separators.
const LONGEST_TOKEN: usize = 48;

struct Vocabulary {
    /// Every word (true) and every beginning of a word that is not itself one (false), so
    /// that looking for words at a position stops as soon as no word can start that way.
    /// (foldhash: looked up at every position of every Chinese run indexed or highlighted.)
    entries: HashMap<String, bool, foldhash::fast::RandomState>,
    /// Length of the longest word, in characters.
    longest: usize,
}

static VOCABULARY: LazyLock<Vocabulary> = LazyLock::new(|| {
    let words: HashSet<&str> = include_str!("vocabulary.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let longest = words.iter().map(|w| w.chars().count()).max().unwrap_or(1);
    let mut entries: HashMap<String, bool, foldhash::fast::RandomState> = HashMap::default();
    for word in &words {
        for (end, _) in word.char_indices().skip(1) {
            entries.entry(word[..end].to_string()).or_insert(false);
        }
        entries.insert((*word).to_string(), true);
    }
    Vocabulary { entries, longest }
});

/// One character of normalized text and the byte range it came from in the original.
#[derive(Debug, Clone, Copy)]
struct NormChar {
    c: char,
    from: usize,
    to: usize,
}

fn fold_width(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

fn is_han(c: char) -> bool {
    matches!(c,
        '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2A6DF}')
}

fn normalize(text: &str) -> Vec<NormChar> {
    let folded: String = text.chars().map(fold_width).collect();
    // fast2s maps one character to one character, so the zip keeps offsets aligned.
    let simplified = fast2s::convert(&folded);
    text.char_indices()
        .zip(simplified.chars())
        .map(|((from, original), c)| NormChar {
            c,
            from,
            to: from + original.len_utf8(),
        })
        .collect()
}

/// `text` normalized and lower-cased, for comparing names (tag suggestions).
pub fn fold(text: &str) -> String {
    normalize(text)
        .into_iter()
        .flat_map(|n| n.c.to_lowercase())
        .collect()
}

/// A token before lower-casing and stemming, with its byte range in the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawToken {
    pub text: String,
    pub from: usize,
    pub to: usize,
}

fn token(chars: &[NormChar]) -> RawToken {
    RawToken {
        text: chars.iter().map(|n| n.c).collect(),
        from: chars[0].from,
        to: chars[chars.len() - 1].to,
    }
}

enum Run {
    Word(std::ops::Range<usize>),
    Han(std::ops::Range<usize>),
}

fn runs(chars: &[NormChar]) -> Vec<Run> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].c;
        let han = is_han(c);
        if !han && !c.is_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_han(chars[i].c) == han && (han || chars[i].c.is_alphanumeric())
        {
            i += 1;
        }
        out.push(if han {
            Run::Han(start..i)
        } else {
            Run::Word(start..i)
        });
    }
    out
}

/// Some(true) for a word, Some(false) for the beginning of one, None for neither.
fn vocabulary_entry(chars: &[NormChar]) -> Option<bool> {
    // Asked at every position of a Han run: one buffer, not a String each time.
    thread_local!(static TEXT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) });
    TEXT.with_borrow_mut(|text| {
        text.clear();
        text.extend(chars.iter().map(|n| n.c));
        VOCABULARY.entries.get(text.as_str()).copied()
    })
}

fn is_word(chars: &[NormChar]) -> bool {
    vocabulary_entry(chars) == Some(true)
}

/// The tokens a document's text is indexed under (before lower-casing and stemming).
pub fn index_tokens(text: &str) -> Vec<RawToken> {
    let mut out = Vec::new();
    let _ = each_index_token(
        text,
        |_| true,
        |text, from, to| {
            out.push(RawToken {
                text: text.to_string(),
                from,
                to,
            });
            ControlFlow::Continue(())
        },
    );
    out
}

/// Calls `each` with the text and byte range of every token of `index_tokens(text)` whose
/// first (normalized) character passes `starts`, in the same order, until it breaks. The
/// text is lent from one buffer: highlighting looks at the tokens of every hit's title and
/// body, and a `String` each cost more than the looking; and it passes the first characters
/// of the query's terms as `starts`, so the words nothing could match are not even looked
/// up in the vocabulary.
pub fn each_index_token(
    text: &str,
    starts: impl Fn(char) -> bool,
    mut each: impl FnMut(&str, usize, usize) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let chars = normalize(text);
    let mut buf = String::new();
    let mut emit = |span: &[NormChar]| {
        buf.clear();
        buf.extend(span.iter().map(|n| n.c));
        each(&buf, span[0].from, span[span.len() - 1].to)
    };
    for run in runs(&chars) {
        match run {
            Run::Word(r) if starts(chars[r.start].c) => emit(&chars[r])?,
            Run::Word(_) => {}
            Run::Han(r) => {
                let han = &chars[r];
                if han.len() == 1 {
                    if starts(han[0].c) {
                        emit(han)?;
                    }
                    continue;
                }
                for i in 0..han.len() {
                    if !starts(han[i].c) {
                        continue;
                    }
                    if i + 1 < han.len() {
                        emit(&han[i..i + 2])?;
                    }
                    let longest = VOCABULARY.longest.min(han.len() - i);
                    for len in 1..=longest {
                        match vocabulary_entry(&han[i..i + len]) {
                            None => break,
                            // Two-character words are among the pairs already.
                            Some(true) if len != 2 => emit(&han[i..i + len])?,
                            Some(_) => {}
                        }
                    }
                }
            }
        }
    }
    ControlFlow::Continue(())
}

/// What a query asks for: its terms in order, before lower-casing and stemming.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryTokens {
    pub terms: Vec<RawToken>,
    /// The reader may still be typing the last term: match it as a prefix too.
    pub last_is_prefix: bool,
}

/// Cuts a query into terms (see the module comment).
pub fn query_tokens(text: &str) -> QueryTokens {
    let chars = normalize(text);
    let mut terms = Vec::new();
    let mut lone = Vec::new();
    for run in runs(&chars) {
        match run {
            Run::Word(r) => terms.push(token(&chars[r])),
            Run::Han(r) => segment_query_run(&chars[r], &mut terms, &mut lone),
        }
    }
    let only_lone = terms.is_empty() && !lone.is_empty();
    if only_lone {
        terms = lone;
    }
    terms.sort_by_key(|t| t.from);
    let mut seen = HashSet::new();
    terms.retain(|t| seen.insert(t.text.clone()));
    let ends_in_word = chars
        .last()
        .is_some_and(|n| n.c.is_alphanumeric() || is_han(n.c));
    QueryTokens {
        last_is_prefix: only_lone || (ends_in_word && !terms.is_empty()),
        terms,
    }
}

/// Function characters that end a stretch of a query (they are still indexed in pairs).
const STOP_CHARS: &str = "的了和是在与及或把被也就都而等对从为着吗呢啊吧之其";

/// Longest vocabulary words first; the stretches between them as pairs.
fn segment_query_run(han: &[NormChar], terms: &mut Vec<RawToken>, lone: &mut Vec<RawToken>) {
    let mut stretch_start = 0;
    let mut i = 0;
    let mut flush = |from: usize, to: usize, terms: &mut Vec<RawToken>| {
        let stretch = &han[from..to];
        match stretch.len() {
            0 => {}
            1 => lone.push(token(stretch)),
            n => {
                let mut j = 0;
                while j + 1 < n {
                    terms.push(token(&stretch[j..j + 2]));
                    j += 2;
                }
                if n % 2 == 1 {
                    terms.push(token(&stretch[n - 2..]));
                }
            }
        }
    };
    while i < han.len() {
        let longest = VOCABULARY.longest.min(han.len() - i);
        if STOP_CHARS.contains(han[i].c) {
            flush(stretch_start, i, terms);
            i += 1;
            stretch_start = i;
            continue;
        }
        match (1..=longest).rev().find(|len| is_word(&han[i..i + len])) {
            Some(len) => {
                flush(stretch_start, i, terms);
                terms.push(token(&han[i..i + len]));
                i += len;
                stretch_start = i;
            }
            None => i += 1,
        }
    }
    flush(stretch_start, han.len(), terms);
}

/// The tokenizer of the index's text fields.
#[derive(Clone, Default)]
pub struct QshareTokenizer {
    token: Token,
}

pub struct QshareTokenStream<'a> {
    tokens: std::vec::IntoIter<RawToken>,
    token: &'a mut Token,
}

impl Tokenizer for QshareTokenizer {
    type TokenStream<'a> = QshareTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> QshareTokenStream<'a> {
        self.token.reset();
        QshareTokenStream {
            tokens: index_tokens(text).into_iter(),
            token: &mut self.token,
        }
    }
}

impl TokenStream for QshareTokenStream<'_> {
    fn advance(&mut self) -> bool {
        let Some(next) = self.tokens.next() else {
            return false;
        };
        self.token.position = self.token.position.wrapping_add(1);
        self.token.offset_from = next.from;
        self.token.offset_to = next.to;
        self.token.text = next.text;
        true
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

/// The full analyzer: our tokens, then length limit, lower case, English stems.
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(QshareTokenizer::default())
        .filter(RemoveLongFilter::limit(LONGEST_TOKEN))
        .filter(LowerCaser)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// One whole string as a single token, so a query term gets the same filters.
#[derive(Clone, Default)]
struct WholeTokenizer {
    token: Token,
}

struct WholeTokenStream<'a> {
    pending: Option<&'a str>,
    token: &'a mut Token,
}

impl Tokenizer for WholeTokenizer {
    type TokenStream<'a> = WholeTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WholeTokenStream<'a> {
        self.token.reset();
        WholeTokenStream {
            pending: Some(text),
            token: &mut self.token,
        }
    }
}

impl TokenStream for WholeTokenStream<'_> {
    fn advance(&mut self) -> bool {
        let Some(text) = self.pending.take() else {
            return false;
        };
        self.token.text.clear();
        self.token.text.push_str(text);
        self.token.offset_from = 0;
        self.token.offset_to = text.len();
        true
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

static TERM_FILTERS: LazyLock<TextAnalyzer> = LazyLock::new(|| {
    TextAnalyzer::builder(WholeTokenizer::default())
        .filter(RemoveLongFilter::limit(LONGEST_TOKEN))
        .filter(LowerCaser)
        .filter(Stemmer::new(Language::English))
        .build()
});

/// A raw term as the index stores it (lower-cased, stemmed), or None when it is dropped.
pub fn index_form(raw: &str) -> Option<String> {
    let mut analyzer = TERM_FILTERS.clone();
    let mut stream = analyzer.token_stream(raw);
    stream.advance().then(|| stream.token().text.clone())
}

/// The prefix the last query term matches: what its raw and stemmed forms share, so that
/// a word still being typed ("kubernete") meets the stems in the index ("kubernet").
pub fn prefix_form(raw: &str) -> Option<String> {
    let stem = index_form(raw)?;
    let lower = raw.to_lowercase();
    let shared: String = lower
        .chars()
        .zip(stem.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a)
        .collect();
    (!shared.is_empty()).then_some(shared)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(tokens: &[RawToken]) -> Vec<&str> {
        tokens.iter().map(|t| t.text.as_str()).collect()
    }

    #[test]
    fn vocabulary_words_stay_whole_in_queries() {
        let q = query_tokens("阿里云 微服务 负载均衡 消息队列 小程序");
        assert_eq!(
            texts(&q.terms),
            ["阿里云", "微服务", "负载均衡", "消息队列", "小程序"]
        );
    }

    #[test]
    fn documents_index_pairs_and_words_with_original_offsets() {
        let tokens = index_tokens("用阿里云");
        // 云 is a one-character vocabulary word, so it is indexed alone too.
        assert_eq!(texts(&tokens), ["用阿", "阿里", "阿里云", "里云", "云"]);
        assert_eq!((tokens[2].from, tokens[2].to), (3, 12));
    }

    #[test]
    fn widths_and_traditional_forms_fold() {
        let q = query_tokens("Ｒｕｓｔ 阿里雲");
        assert_eq!(texts(&q.terms), ["Rust", "阿里云"]);
        assert_eq!(fold("ＲＵＳＴ雲"), "rust云");
    }

    #[test]
    fn mixed_scripts_split_at_the_script_boundary() {
        let q = query_tokens("Rust异步");
        assert_eq!(texts(&q.terms), ["Rust", "异步"]);
    }

    #[test]
    fn unknown_stretches_become_pairs_and_lone_characters_drop() {
        let q = query_tokens("缓存失效的问题");
        assert_eq!(texts(&q.terms), ["缓存失效", "问题"]);
        let q = query_tokens("哈");
        assert_eq!(texts(&q.terms), ["哈"]);
        assert!(q.last_is_prefix);
    }

    #[test]
    fn english_terms_are_stemmed_and_lower_cased() {
        assert_eq!(index_form("Caching").as_deref(), Some("cach"));
        assert_eq!(prefix_form("Kuberne").as_deref(), Some("kubern"));
    }
}
