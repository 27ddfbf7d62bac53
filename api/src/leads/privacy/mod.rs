//! Personal data the firm can account for: who downloaded a lead's files (`access`), handing the
//! person their data (`export`), erasing it on request (`erase`, with the legal hold that blocks
//! it), the files an erasure deletes outside the database (`deletions`), and keeping leads no
//! longer than the firm's retention period (`retention`).

pub mod access;
pub mod deletions;
pub mod erase;
pub mod export;
pub mod retention;
