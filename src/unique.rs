//! Mapping a unique-index violation to the error it means, where the insert or update is,
//! naming the index: another index's violation (or any other database error) stays what
//! it is. PostgreSQL names the constraint in its message; SQLite names the columns
//! (`UNIQUE constraint failed: tags.slug`), so an index is described by both.

use sea_orm::{DbErr, SqlErr};

use crate::error::AppError;

/// A unique index as the migrations created it.
#[derive(Debug, Clone, Copy)]
pub struct UniqueIndex {
    /// The constraint's name on PostgreSQL (`<table>_<column>_key` for a column's UNIQUE).
    pub name: &'static str,
    pub table: &'static str,
    pub columns: &'static [&'static str],
}

impl UniqueIndex {
    /// Whether `err` is a violation of this index.
    pub fn violated_by(&self, err: &DbErr) -> bool {
        let Some(SqlErr::UniqueConstraintViolation(message)) = err.sql_err() else {
            return false;
        };
        let quoted = format!("\"{}\"", self.name);
        let sqlite_columns = self
            .columns
            .iter()
            .map(|c| format!("{}.{c}", self.table))
            .collect::<Vec<_>>()
            .join(", ");
        message.contains(&quoted)
            || message
                .split_once("UNIQUE constraint failed: ")
                .is_some_and(|(_, columns)| columns.trim() == sqlite_columns)
    }
}

/// `result.on_unique(&INDEX, || AppError::conflict(..))?`
pub trait OnUnique<T> {
    fn on_unique(self, index: &UniqueIndex, err: impl FnOnce() -> AppError) -> Result<T, AppError>;
}

impl<T> OnUnique<T> for Result<T, DbErr> {
    fn on_unique(self, index: &UniqueIndex, err: impl FnOnce() -> AppError) -> Result<T, AppError> {
        self.map_err(|e| {
            if index.violated_by(&e) {
                err()
            } else {
                e.into()
            }
        })
    }
}
