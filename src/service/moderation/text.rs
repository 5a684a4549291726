//! The text of a comment, a guestbook message or the site's answer: parsed once where it
//! enters, so nothing downstream checks a `String` again.

use crate::{
    error::AppResult,
    service::validate::{self, parsed_string},
};

pub const MAX_CHARS: usize = 2000;

/// Trimmed plain text of 1..=2000 characters. HTML is kept as text (clients must escape it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentText(String);

impl CommentText {
    /// The errors name the field `content`, as the clients expect.
    pub fn parse(content: &str) -> AppResult<Self> {
        validate::text("content", content, 1, MAX_CHARS).map(Self)
    }
}

parsed_string!(CommentText);

/// A short excerpt for notifications and the audit log.
pub fn excerpt(text: &str) -> String {
    excerpt_of(text, 80)
}

/// The first `max` characters of `text` (cut on a character boundary), with `…` when cut.
pub fn excerpt_of(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded_in_characters() {
        assert_eq!(
            CommentText::parse("  <b>hi</b>  ").unwrap().as_str(),
            "<b>hi</b>"
        );
        assert!(CommentText::parse(" \n\t ").is_err());
        assert!(CommentText::parse(&"字".repeat(MAX_CHARS)).is_ok());
        assert!(CommentText::parse(&"字".repeat(MAX_CHARS + 1)).is_err());
    }

    #[test]
    fn excerpts_cut_long_text_on_a_character_boundary() {
        assert_eq!(excerpt("短"), "短");
        assert_eq!(excerpt(&"长".repeat(100)).chars().count(), 81);
    }
}
