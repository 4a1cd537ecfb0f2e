//! The stages of one batch, in order, one file each: `store_raw` → `enhance` →
//! `transform` (with insights) → `store_enhanced` → `finish` (outbox and history).
//! Each takes the whole batch, so each is one warehouse statement or one Gong request.

mod enhance;
mod finish;
mod store_enhanced;
mod store_raw;
mod transform;
