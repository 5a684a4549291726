//! Scheduled jobs (DESIGN.md §6): kinds are code, schedules are rows that admins edit at run
//! time, and each tick runs once across all instances.

pub mod cron;
pub mod kinds;
pub mod runner;
pub mod scheduler;
pub mod store;
