//! End-to-end tests of the `mailtrace` binary.

#![allow(clippy::unwrap_used)]

mod util;

mod bad_input;
mod cli;
mod postfix_harness;
