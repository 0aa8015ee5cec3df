//! End-to-end tests of the `mailtrace` binary.

#![allow(clippy::unwrap_used)]

mod gen;
mod util;

mod bad_input;
mod cli;
mod clickhouse;
mod config;
mod crash;
mod exim_harness;
mod follow;
mod formats;
mod postfix_harness;
mod report;
mod retention;
mod sendmail_harness;
mod serve;
mod syslog;
mod web;
