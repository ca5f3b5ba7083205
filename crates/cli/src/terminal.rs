//! The terminal's observer: library events as indicatif progress bars and
//! status lines on stderr (stdout stays parseable), hidden with `--quiet`;
//! Ctrl-C as a request to stop cleanly at the next safe point; and file
//! names as fields of the results printed on stdout.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use casebook_core::observe::{Event, Observer};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Set by the first Ctrl-C; the second one ends the process at once.
static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

/// Makes Ctrl-C ask running work to stop at its next safe point (a
/// checkpointed run keeps its checkpoint); a second Ctrl-C exits at once.
pub fn stop_on_ctrl_c() {
    // If no handler can be installed, Ctrl-C simply ends the process, as it always has.
    let _ = ctrlc::set_handler(|| {
        if STOP_REQUESTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping at the next safe point (Ctrl-C again to quit at once)");
    });
}

/// Whether Ctrl-C has asked the work to stop.
pub fn stop_requested() -> bool {
    STOP_REQUESTED.load(Ordering::SeqCst)
}

pub struct Terminal {
    quiet: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Terminal {
    pub fn new(quiet: bool) -> Self {
        Self {
            quiet,
            bar: Mutex::new(None),
        }
    }

    /// Prints a line on stderr without tearing a bar that is being drawn.
    fn line(&self, text: &str) {
        match self.bar.lock().expect("bar lock").as_ref() {
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }
}

impl Observer for Terminal {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Started { phase, total } => {
                let bar = ProgressBar::with_draw_target(
                    Some(total),
                    if self.quiet {
                        ProgressDrawTarget::hidden()
                    } else {
                        ProgressDrawTarget::stderr()
                    },
                );
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>12} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta} {msg}",
                    )
                    .expect("static template")
                    .progress_chars("=> "),
                );
                bar.set_prefix(phase.to_string());
                if let Some(old) = self.bar.lock().expect("bar lock").replace(bar) {
                    old.finish_and_clear();
                }
            }
            Event::Advanced { units } => {
                if let Some(bar) = self.bar.lock().expect("bar lock").as_ref() {
                    bar.inc(units);
                }
            }
            Event::Status(text) => {
                if let Some(bar) = self.bar.lock().expect("bar lock").as_ref() {
                    bar.set_message(text.to_string());
                }
            }
            Event::Finished => {
                if let Some(bar) = self.bar.lock().expect("bar lock").take() {
                    bar.finish_and_clear();
                }
            }
            Event::Note(text) if !self.quiet => self.line(text),
            Event::Note(_) => {}
            // Left-out inputs are warnings, shown even with --quiet.
            Event::Skipped { path, reason } => {
                self.line(&format!("skipped {}: {reason}", path.display()))
            }
            Event::Warning(text) => self.line(&format!("warning: {text}")),
            // The same numbers arrive as notes worded for people.
            Event::Metrics(_) => {}
        }
    }

    fn should_stop(&self) -> bool {
        STOP_REQUESTED.load(Ordering::SeqCst)
    }
}

/// A file name as one field of the tab-separated lines commands print: a
/// tab, line break or backslash in it is written as `\t`, `\n`, `\r` or
/// `\\`, so every result stays one line of the same number of fields.
pub fn tsv_field(path: &std::path::Path) -> String {
    let mut field = String::new();
    for c in path.display().to_string().chars() {
        match c {
            '\t' => field.push_str("\\t"),
            '\n' => field.push_str("\\n"),
            '\r' => field.push_str("\\r"),
            '\\' => field.push_str("\\\\"),
            c => field.push(c),
        }
    }
    field
}

/// What an `eval` prints: its summary and report path as text, or with
/// `--json` one JSON object, `{"report", "metrics", "items"}`, whose items
/// are the per-item results of the run folder's CSV (the same field names
/// in every case).
pub fn print_evaluation(
    json: bool,
    summary: &str,
    report: &std::path::Path,
    metrics: &impl serde::Serialize,
    items: &impl serde::Serialize,
) -> anyhow::Result<()> {
    if json {
        let value = serde_json::json!({
            "report": report.display().to_string(),
            "metrics": metrics,
            "items": items,
        });
        println!("{}", serde_json::to_string(&value)?);
    } else {
        print!("{summary}");
        println!("report: {}", report.display());
    }
    Ok(())
}

/// `human-baseline` of either study: scores a person's answers per
/// condition (resolution, sample rate), prints the
/// table and adds it to the study's report. The answers are read as given,
/// or from where a browser saved them (`~/Downloads`, said on stderr).
pub fn human_baseline(answers: &Path, key: Option<&Path>, study: &str) -> anyhow::Result<()> {
    use casebook_core::human;
    let downloads = std::env::var_os("HOME").map(|home| PathBuf::from(home).join("Downloads"));
    let found = human::find_answers(answers, downloads.as_deref())?;
    if found != answers {
        eprintln!("reading the answers from {}", found.display());
    }
    let (answers, key, key_path) = human::load_answers(&found, key, study)?;
    let (scores, report) = human::score_into_report(&answers, &key, &key_path)?;
    print!(
        "{}",
        human::scores_table(human::condition_name(Some(study)), &scores)
    );
    if let Some(report) = report {
        println!("report: {} (with these scores)", report.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_fields_keep_one_line_and_their_field_count() {
        let name = std::path::Path::new("a\tb\nc\\d.png");
        assert_eq!(tsv_field(name), "a\\tb\\nc\\\\d.png");
        assert_eq!(tsv_field(std::path::Path::new("plain.wav")), "plain.wav");
    }
}
