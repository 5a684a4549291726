//! Which hits hold a query's terms in a field, read from the index's postings.
//!
//! Reporting the fields a hit matched used to mean re-tokenizing every stored text of every
//! hit, most of a search's CPU. The postings already know: a seek per term and hit, in doc
//! order, answers the same question (the index and highlighting share one analysis) without
//! reading the text at all, so only the texts that are shown get tokenized.

use tantivy::{
    DocAddress, DocSet, Searcher, Term,
    schema::{Field, IndexRecordOption},
};

/// Words a prefix may stand for before the postings are not worth it (a lone Chinese
/// character as a prefix, say); the caller then tokenizes the text instead.
const PREFIX_TERMS_MAX: usize = 64;

/// For each of `hits`, whether its `field` holds one of `terms` (index form) or a word
/// starting with `prefix`. None when the prefix stands for too many words.
pub fn holding(
    searcher: &Searcher,
    field: Field,
    terms: &[String],
    prefix: Option<&str>,
    hits: &[DocAddress],
) -> tantivy::Result<Option<Vec<bool>>> {
    let mut out = vec![false; hits.len()];
    // Postings only seek forward: visit the hits segment by segment, in doc order.
    let mut order: Vec<usize> = (0..hits.len()).collect();
    order.sort_unstable_by_key(|&i| (hits[i].segment_ord, hits[i].doc_id));
    for group in order.chunk_by(|a, b| hits[*a].segment_ord == hits[*b].segment_ord) {
        let segment = searcher.segment_reader(hits[group[0]].segment_ord);
        let inverted = segment.inverted_index(field)?;
        let mut infos = Vec::new();
        for term in terms {
            if let Some(info) = inverted.get_term_info(&Term::from_field_text(field, term))? {
                infos.push(info);
            }
        }
        if let Some(prefix) = prefix {
            match super::prefix::words(&inverted, prefix, PREFIX_TERMS_MAX)? {
                Some(words) => infos.extend(words),
                None => return Ok(None),
            }
        }
        for info in &infos {
            let mut postings =
                inverted.read_postings_from_terminfo(info, IndexRecordOption::Basic)?;
            for &i in group {
                let doc = hits[i].doc_id;
                if postings.doc() < doc {
                    postings.seek(doc);
                }
                if postings.doc() == doc {
                    out[i] = true;
                }
            }
        }
    }
    Ok(Some(out))
}
