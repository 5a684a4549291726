//! The collector of a search: the number of matches and the top page, scored BM25 times a
//! small boost for featured and recent articles.
//!
//! One pass does both (a `(Count, TopDocs::tweak_score)` pair dispatches every match twice),
//! and the boost, whose fast-field reads and power are most of a match's collecting cost, is
//! only computed for a match whose best possible boosted score could still enter the page.
//! The page is the same as ranking every match by its boosted score: ties go to the lower
//! doc address either way.

use std::sync::Arc;

use tantivy::{
    DocAddress, DocId, Score, SegmentOrdinal, SegmentReader,
    collector::{Collector, SegmentCollector, TopNComputer, sort_key::NaturalComparator},
    columnar::ColumnValues,
};

/// The largest factor `Boost::factor` returns (1 + 0.1 + 0.1), with room for rounding.
const MAX_FACTOR: Score = 1.25;

/// Featured articles get 10% more, and recent ones up to 10% more (halving every 90 days).
#[derive(Clone, Copy)]
pub struct Boost {
    /// Unix seconds.
    pub now: i64,
}

impl Boost {
    fn factor(self, featured: u64, published: i64) -> Score {
        let age_days = (self.now - published).max(0) as f32 / 86_400.0;
        let recency = 0.5f32.powf(age_days / 90.0);
        1.0 + 0.1 * featured as f32 + 0.1 * recency
    }
}

/// Counts every match and keeps the boosted top `offset..offset + limit`.
pub struct CountAndTop {
    pub offset: usize,
    pub limit: usize,
    pub boost: Boost,
}

pub struct SegmentCountAndTop {
    count: usize,
    top: TopNComputer<Score, DocId, NaturalComparator>,
    segment: SegmentOrdinal,
    boost: Boost,
    featured: Option<Arc<dyn ColumnValues<u64>>>,
    published: Option<Arc<dyn ColumnValues<i64>>>,
}

impl Collector for CountAndTop {
    type Fruit = (usize, Vec<(Score, DocAddress)>);
    type Child = SegmentCountAndTop;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentCountAndTop> {
        let fast = reader.fast_fields();
        Ok(SegmentCountAndTop {
            count: 0,
            top: TopNComputer::new_with_comparator(self.offset + self.limit, NaturalComparator),
            segment,
            boost: self.boost,
            featured: fast.u64("featured").ok().map(|c| c.first_or_default_col(0)),
            published: fast
                .i64("published")
                .ok()
                .map(|c| c.first_or_default_col(0)),
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(
        &self,
        fruits: Vec<(usize, Vec<(Score, DocAddress)>)>,
    ) -> tantivy::Result<Self::Fruit> {
        let mut count = 0;
        let mut all = Vec::new();
        for (segment_count, segment_top) in fruits {
            count += segment_count;
            all.extend(segment_top);
        }
        // Best first; of equal scores, the lower address (as `TopDocs` orders them).
        all.sort_unstable_by(|(a, x), (b, y)| b.total_cmp(a).then(x.cmp(y)));
        let page = all.into_iter().skip(self.offset).take(self.limit).collect();
        Ok((count, page))
    }
}

impl SegmentCollector for SegmentCountAndTop {
    type Fruit = (usize, Vec<(Score, DocAddress)>);

    fn collect(&mut self, doc: DocId, score: Score) {
        self.count += 1;
        // The boost can only lift a score so far: below the page's bar even then, skip it.
        if self
            .top
            .threshold
            .is_some_and(|bar| score * MAX_FACTOR <= bar)
        {
            return;
        }
        let featured = self.featured.as_ref().map_or(0, |c| c.get_val(doc));
        let published = self.published.as_ref().map_or(0, |c| c.get_val(doc));
        self.top
            .push(score * self.boost.factor(featured, published), doc);
    }

    fn harvest(self) -> Self::Fruit {
        let segment = self.segment;
        let top = self
            .top
            .into_vec()
            .into_iter()
            .map(|d| (d.sort_key, DocAddress::new(segment, d.doc)))
            .collect();
        (self.count, top)
    }
}

#[cfg(test)]
mod tests {
    use tantivy::{
        Index, TantivyDocument, Term,
        collector::{Count, TopDocs},
        query::TermQuery,
        schema::{FAST, IndexRecordOption, Schema, TEXT},
    };

    use super::*;

    /// The page equals ranking every match by its boosted score, on every offset.
    #[test]
    fn the_page_is_every_match_ranked_by_boosted_score() {
        let mut schema = Schema::builder();
        let text = schema.add_text_field("text", TEXT);
        let featured = schema.add_u64_field("featured", FAST);
        let published = schema.add_i64_field("published", FAST);
        let index = Index::create_in_ram(schema.build());
        let mut writer = index.writer_with_num_threads(1, 15_000_000).unwrap();
        let now = 1_700_000_000;
        for i in 0..600i64 {
            if i % 200 == 0 {
                writer.commit().unwrap(); // a few segments
            }
            let mut doc = TantivyDocument::default();
            // Term frequencies repeat, so many raw scores tie and the boost decides.
            doc.add_text(text, "redis ".repeat(1 + (i % 4) as usize));
            doc.add_u64(featured, u64::from(i % 7 == 0));
            doc.add_i64(published, now - (i * 37 % 400) * 86_400);
            writer.add_document(doc).unwrap();
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let query = TermQuery::new(
            Term::from_field_text(text, "redis"),
            IndexRecordOption::WithFreqs,
        );
        let boost = Boost { now };
        for (offset, limit) in [(0, 20), (0, 1), (20, 20), (590, 20)] {
            let (count, page) = searcher
                .search(
                    &query,
                    &CountAndTop {
                        offset,
                        limit,
                        boost,
                    },
                )
                .unwrap();
            let (all_count, expected) = searcher
                .search(
                    &query,
                    &(
                        Count,
                        TopDocs::with_limit(limit).and_offset(offset).tweak_score(
                            move |segment: &SegmentReader| {
                                let fast = segment.fast_fields();
                                let f = fast.u64("featured").unwrap().first_or_default_col(0);
                                let p = fast.i64("published").unwrap().first_or_default_col(0);
                                move |doc: DocId, score: Score| {
                                    score * boost.factor(f.get_val(doc), p.get_val(doc))
                                }
                            },
                        ),
                    ),
                )
                .unwrap();
            assert_eq!(count, 600);
            assert_eq!(all_count, 600);
            assert_eq!(page, expected, "offset {offset}, limit {limit}");
        }
    }
}
