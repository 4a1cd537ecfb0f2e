//! Integration tests: one binary (linked once) that starts the real app on port 0 against
//! real stores. Tests that take a `TestDb` run on SQLite and on PostgreSQL.

mod helpers;

mod commands;
mod demo;
mod deploy;
mod durability;
mod gong_link;
mod hostile_bodies;
mod inbox_writer;
mod layout;
mod listener;
mod notifications;
mod pipeline;
mod processes;
mod queue;
mod requests;
mod retention;
mod snowflake;
mod standin;
mod start_errors;
mod store_statements;
mod surfaces;
mod verification;
mod warehouse;
