//! How long library work reports to whoever runs it, and how it is asked to
//! stop, without the library knowing whether that is a terminal, a web page
//! or a test.
//!
//! In the spirit of ripgrep's `Sink`: the library sends [`Event`]s to an
//! [`Observer`] and asks it [`Observer::should_stop`] at safe points. The CLI
//! draws progress bars from the events; a web server would forward them as
//! server-sent events; [`Silent`] ignores them.
//!
//! A run that is asked to stop ends with the [`Stopped`] error after the last
//! completed unit of work (an epoch, a checkpoint interval), so its run folder
//! is consistent and its last checkpoint is kept for resuming.

use std::path::Path;

use crate::run::MetricsRecord;

/// One thing that happened during a long piece of work.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event<'a> {
    /// A phase of `total` units of work began (0 when the total is unknown),
    /// e.g. "loading" 1500 images or "epoch 3/20" of 38 batches.
    Started { phase: &'a str, total: u64 },
    /// `units` more units of the current phase are done.
    Advanced { units: u64 },
    /// A short live reading of the current phase, e.g. "loss 0.3120".
    Status(&'a str),
    /// The current phase ended.
    Finished,
    /// A line for the person running the work: what happens, what was decided.
    Note(&'a str),
    /// An input was left out, and why.
    Skipped { path: &'a Path, reason: &'a str },
    /// Something that makes a result mean less than it seems (shown even
    /// when notes are hidden).
    Warning(&'a str),
    /// A record of measurements (an epoch, an evaluation interval).
    Metrics(&'a MetricsRecord),
}

/// Receives the events of long work and says whether to stop it.
///
/// Methods take `&self` and observers are `Sync`, so work spread over threads
/// can report through one observer.
pub trait Observer: Sync {
    fn event(&self, event: Event<'_>);

    /// Asked at safe points (between batches, steps or files): `true` ends the
    /// work with [`Stopped`], leaving its last checkpoint in place.
    fn should_stop(&self) -> bool {
        false
    }
}

/// An observer that ignores every event and never stops the work.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {
    fn event(&self, _: Event<'_>) {}
}

/// An observer that ignores events and asks to stop once it has been
/// asked `after` times: a stop at a known point, for tests of stopping and
/// resuming.
#[derive(Debug, Default)]
pub struct StopAfter {
    after: usize,
    asked: std::sync::atomic::AtomicUsize,
}

impl StopAfter {
    pub fn new(after: usize) -> Self {
        Self {
            after,
            asked: Default::default(),
        }
    }
}

impl Observer for StopAfter {
    fn event(&self, _: Event<'_>) {}

    fn should_stop(&self) -> bool {
        self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= self.after
    }
}

impl dyn Observer + '_ {
    pub fn note(&self, text: &str) {
        self.event(Event::Note(text));
    }

    pub fn skipped(&self, path: &Path, reason: &str) {
        self.event(Event::Skipped { path, reason });
    }

    pub fn warn(&self, text: &str) {
        self.event(Event::Warning(text));
    }

    /// Starts a phase of `total` units; it finishes when the guard drops, also
    /// when the work fails half-way.
    pub fn phase(&self, name: &str, total: u64) -> Phase<'_> {
        self.event(Event::Started { phase: name, total });
        Phase { observer: self }
    }

    /// [`Stopped`] if the observer asks to stop; `resume` says where the kept
    /// state lies (e.g. "the run in runs/x keeps its checkpoint of epoch 3").
    pub fn check_stop(&self, resume: impl FnOnce() -> String) -> Result<(), Stopped> {
        if self.should_stop() {
            Err(Stopped { kept: resume() })
        } else {
            Ok(())
        }
    }
}

/// A running phase: reports progress and finishes the phase when dropped.
pub struct Phase<'a> {
    observer: &'a dyn Observer,
}

impl Phase<'_> {
    pub fn advance(&self, units: u64) {
        self.observer.event(Event::Advanced { units });
    }

    pub fn status(&self, text: &str) {
        self.observer.event(Event::Status(text));
    }
}

impl Drop for Phase<'_> {
    fn drop(&mut self) {
        self.observer.event(Event::Finished);
    }
}

/// The work stopped because its observer asked it to.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("stopped on request; {kept}")]
pub struct Stopped {
    /// What was kept and where, e.g. the run folder holding the checkpoint.
    pub kept: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder {
        events: Mutex<Vec<String>>,
        stop_after: Option<usize>,
        asked: AtomicUsize,
    }

    impl Observer for Recorder {
        fn event(&self, event: Event<'_>) {
            self.events.lock().unwrap().push(format!("{event:?}"));
        }
        fn should_stop(&self) -> bool {
            let asked = self.asked.fetch_add(1, Ordering::SeqCst);
            self.stop_after.is_some_and(|n| asked >= n)
        }
    }

    #[test]
    fn a_phase_finishes_even_when_the_work_fails() {
        let recorder = Recorder::default();
        let observer: &dyn Observer = &recorder;
        let work = || -> Result<(), String> {
            let phase = observer.phase("loading", 3);
            phase.advance(1);
            Err("bad file".into())
        };
        assert!(work().is_err());
        let events = recorder.events.lock().unwrap().clone();
        assert_eq!(
            events,
            [
                "Started { phase: \"loading\", total: 3 }",
                "Advanced { units: 1 }",
                "Finished"
            ]
        );
    }

    #[test]
    fn stop_is_reported_with_what_was_kept() {
        let recorder = Recorder {
            stop_after: Some(2),
            ..Recorder::default()
        };
        let observer: &dyn Observer = &recorder;
        let mut done = 0;
        let result = (0..10).try_for_each(|i| {
            observer.check_stop(|| format!("checkpoint of step {i}"))?;
            done += 1;
            Ok::<_, Stopped>(())
        });
        assert_eq!(done, 2);
        assert_eq!(
            result.unwrap_err().to_string(),
            "stopped on request; checkpoint of step 2"
        );
        assert!((&Silent as &dyn Observer).check_stop(String::new).is_ok());
    }
}
