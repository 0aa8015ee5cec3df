//! A progress bar for long ingests (only on a terminal).

use indicatif::{ProgressBar, ProgressStyle};
use mailtrace_ingest::Progress;
use std::io::IsTerminal;

/// indicatif-backed [`Progress`].
pub struct Bar {
    bar: Option<ProgressBar>,
    enabled: bool,
}

impl Bar {
    /// A bar when stderr is a terminal and not `quiet`.
    pub fn new(quiet: bool) -> Bar {
        Bar {
            bar: None,
            enabled: !quiet && std::io::stderr().is_terminal(),
        }
    }
}

impl Progress for Bar {
    fn start(&mut self, name: &str, len: Option<u64>) {
        if !self.enabled {
            return;
        }
        let bar = match len {
            Some(l) => ProgressBar::new(l).with_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {msg} {bytes} {bytes_per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_message(name.to_string());
        self.bar = Some(bar);
    }

    fn advance(&mut self, pos: u64, _lines: u64) {
        if let Some(b) = &self.bar {
            b.set_position(pos);
        }
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
