//! The last query term as a prefix: the words of a field that start with it are one range of
//! the term dictionary.
//!
//! tantivy's prefix query (`FuzzyTermQuery::new_prefix`) runs a Levenshtein automaton over
//! the dictionary, testing the branches of every node it visits; a range seeks straight to
//! the first word and stops at the first that does not start with the prefix. Matches score
//! a constant, as with the automaton: a prefix only says the reader may be typing the word.

use std::io;

use tantivy::{
    BitSet, DocId, InvertedIndexReader, Score, SegmentReader, TantivyError,
    query::{BitSetDocSet, ConstScorer, EnableScoring, Explanation, Query, Scorer, Weight},
    schema::{Field, IndexRecordOption},
};

/// Every word of `inverted` that starts with `prefix`, in dictionary order; None once there
/// are more than `max`.
pub fn words(
    inverted: &InvertedIndexReader,
    prefix: &str,
    max: usize,
) -> io::Result<Option<Vec<tantivy::postings::TermInfo>>> {
    let mut stream = inverted
        .terms()
        .range()
        .ge(prefix.as_bytes())
        .into_stream()?;
    let mut out = Vec::new();
    while stream.advance() && stream.key().starts_with(prefix.as_bytes()) {
        if out.len() == max {
            return Ok(None);
        }
        out.push(stream.value().clone());
    }
    Ok(Some(out))
}

/// Documents with a word of `field` starting with `prefix` (index form).
#[derive(Debug, Clone)]
pub struct PrefixQuery {
    pub field: Field,
    pub prefix: String,
}

impl Query for PrefixQuery {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for PrefixQuery {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let inverted = reader.inverted_index(self.field)?;
        let mut docs = BitSet::with_max_value(reader.max_doc());
        for info in words(&inverted, &self.prefix, usize::MAX)?.unwrap_or_default() {
            let mut postings =
                inverted.read_block_postings_from_terminfo(&info, IndexRecordOption::Basic)?;
            while !postings.docs().is_empty() {
                for &doc in postings.docs() {
                    docs.insert(doc);
                }
                postings.advance();
            }
        }
        Ok(Box::new(ConstScorer::new(BitSetDocSet::from(docs), boost)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if self.scorer(reader, 1.0)?.seek(doc) == doc {
            Ok(Explanation::new("prefix", 1.0))
        } else {
            Err(TantivyError::InvalidArgument(format!(
                "document {doc} has no word starting with {:?}",
                self.prefix
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use tantivy::{
        Index, TantivyDocument, Term,
        collector::DocSetCollector,
        query::FuzzyTermQuery,
        schema::{Schema, TEXT},
    };

    use super::*;

    /// The range finds exactly the documents tantivy's prefix automaton finds.
    #[test]
    fn a_prefix_matches_the_documents_the_automaton_matches() {
        let mut schema = Schema::builder();
        let text = schema.add_text_field("text", TEXT);
        let index = Index::create_in_ram(schema.build());
        let mut writer = index.writer_with_num_threads(1, 15_000_000).unwrap();
        let words = [
            "redis",
            "redisson",
            "red",
            "reduce",
            "rust",
            "rediscover",
            "ready",
            "re",
        ];
        for (i, word) in words.iter().cycle().take(400).enumerate() {
            if i % 150 == 0 {
                writer.commit().unwrap(); // several segments
            }
            let mut doc = TantivyDocument::default();
            doc.add_text(text, format!("{word} tail{}", i % 9));
            writer.add_document(doc).unwrap();
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        for prefix in ["red", "redis", "re", "r", "rx", "tail", "tail3", "z"] {
            let ours = searcher
                .search(
                    &PrefixQuery {
                        field: text,
                        prefix: prefix.into(),
                    },
                    &DocSetCollector,
                )
                .unwrap();
            let automaton = searcher
                .search(
                    &FuzzyTermQuery::new_prefix(Term::from_field_text(text, prefix), 0, true),
                    &DocSetCollector,
                )
                .unwrap();
            assert_eq!(ours, automaton, "prefix {prefix}");
            assert_eq!(ours.is_empty(), ["rx", "z"].contains(&prefix), "{prefix}");
        }
    }
}
