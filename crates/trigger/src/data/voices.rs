//! Speech pools made with TTS programs (`casebook trigger make-voices`):
//! `espeak-ng` and `flite` for the built-in and full sets, and for the
//! largest set also SVOX Pico and RHVoice, whose voices are made from
//! recordings of people and sound like them. The trigger word and other
//! words, hard negatives included, across voices, speeds and pitches. The
//! built-in pool is committed (16 kHz, trimmed), so nothing else needs a TTS
//! program. Some voices are held out for testing: no test voice is ever used
//! in training.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::Clip;

use super::SAMPLE_RATE as RATE;

/// The committed pools, compiled into the binary so an installed `casebook`
/// needs no source tree.
static BUILTIN: include_dir::Dir<'_> = include_dir::include_dir!("$CARGO_MANIFEST_DIR/voices");

/// The file listing a pool.
const LIST: &str = "voices.csv";

/// Words that are not the trigger, several close to "activate" on purpose.
pub const NEGATIVE_WORDS: [&str; 16] = [
    "active",
    "activity",
    "captivate",
    "motivate",
    "vacate",
    "cultivate",
    "navigate",
    "relative",
    "actor",
    "vacation",
    "alligator",
    "hello",
    "computer",
    "weather",
    "music",
    "tomorrow",
];

/// Which voices and texts `make-voices` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VoiceSet {
    Builtin,
    Full,
    All,
}

impl casebook_core::choice::Choice for VoiceSet {
    const CHOICES: &'static [(Self, &'static str, &'static str)] = &[
        (
            Self::Builtin,
            "builtin",
            "the committed pool: 38 voice settings, the word and 3 other words each (3 MB)",
        ),
        (
            Self::Full,
            "full",
            "every English espeak-ng accent × 20 voice variants and 5 flite voices; the word \
             3 times, 5 other words and 3 sentences each (~1800 clips, 60 MB)",
        ),
        (
            Self::All,
            "all",
            "full, and 20 takes each of the recorded-speaker voices of SVOX Pico (en-US, en-GB) \
             and RHVoice (clb, bdl, alan, slt) (~3100 clips, 110 MB; needs the Debian \
             non-free packages libttspico-utils and rhvoice-english)",
        ),
    ];
}

/// The old built-in settings: one speed and pitch per accent and variant.
fn espeak_voices() -> Vec<(String, bool)> {
    let bases = [
        "en-us",
        "en-gb",
        "en-gb-x-rp",
        "en-029",
        "en-gb-scotland",
        "en-gb-x-gbclan",
    ];
    let variants = ["m1", "m3", "f1", "f2", "f4"];
    let mut out = Vec::new();
    for (i, base) in bases.iter().enumerate() {
        for (j, variant) in variants.iter().enumerate() {
            let speed = [130, 160, 190][(i + j) % 3];
            let pitch = [35, 50, 70][(i * 2 + j) % 3];
            // Scottish English voices are kept for testing only.
            out.push((
                format!("espeak:{base}+{variant}:s{speed}:p{pitch}"),
                *base == "en-gb-scotland",
            ));
        }
    }
    out
}

fn flite_voices() -> Vec<(String, bool)> {
    ["kal", "awb", "rms", "slt"]
        .iter()
        .flat_map(|v| ["0.9", "1.1"].map(|d| (format!("flite:{v}:d{d}"), *v == "slt")))
        .collect()
}

/// More words for the full set: near-rhymes of "activate" and the short
/// words people put around a command ("okay, activate the lights"), which
/// the mixer sets right beside trigger words.
const CONTEXT_WORDS: [&str; 24] = [
    "deactivate",
    "activation",
    "actively",
    "captive",
    "elevate",
    "evaluate",
    "aggravate",
    "renovate",
    "accurate",
    "acrobat",
    "okay",
    "please",
    "hey",
    "now",
    "the lights",
    "the alarm",
    "turn on",
    "can you",
    "go ahead and",
    "thank you",
    "right now",
    "the music",
    "yes",
    "stop",
];

/// Word-free sentences spoken by training voices.
const TRAINING_SENTENCES: [&str; 40] = [
    "The volcano is still active after all these years.",
    "Physical activity keeps the heart healthy.",
    "Her stories captivate every child in the room.",
    "We need to motivate the team before the deadline.",
    "Please vacate the building by six o'clock.",
    "They cultivate tomatoes behind the house.",
    "Can you navigate us to the nearest station?",
    "My relatives are coming for dinner on Sunday.",
    "The actor forgot his lines twice.",
    "We spent our vacation by the sea.",
    "An alligator was sleeping near the river.",
    "Turn the music down a little, please.",
    "What will the weather be like tomorrow?",
    "The computer needs to restart tonight.",
    "Remember to deactivate the old account.",
    "The lights in the kitchen are too bright.",
    "I left my keys on the table by the door.",
    "The train to the city leaves at half past nine.",
    "Could you pass me the salt and pepper?",
    "It has been raining since early this morning.",
    "The children are playing in the garden.",
    "We should evaluate the results next week.",
    "The meeting was moved to Thursday afternoon.",
    "She plays the violin in an orchestra.",
    "Set a timer for ten minutes.",
    "How much does a ticket to London cost?",
    "The dog barked at the delivery van.",
    "He is reading a book about ancient history.",
    "Let's order pizza for dinner tonight.",
    "The elevator is out of order again.",
    "Call me when you arrive at the airport.",
    "There is a traffic jam on the motorway.",
    "This coffee tastes a bit bitter.",
    "Our neighbours painted their fence green.",
    "The radio is playing my favourite song.",
    "Open the window, it is warm in here.",
    "The film starts at eight, don't be late.",
    "I think we need more milk and bread.",
    "The activation energy of the reaction is high.",
    "Somebody left the television on all night.",
];

/// Word-free sentences spoken only by held-out voices, for evaluation.
const EVALUATION_SENTENCES: [&str; 20] = [
    "The factory was deactivated last spring.",
    "Proactive planning saves a lot of time.",
    "The museum will renovate its west wing.",
    "His captivating voice filled the hall.",
    "Good teachers motivate their students.",
    "Please turn off the lights in the hall.",
    "The weather forecast says it will snow.",
    "I would like a cup of tea with lemon.",
    "The bus was late again this morning.",
    "The alarm goes off at seven every day.",
    "We are cultivating a small vegetable plot.",
    "Tell me a story about dragons.",
    "The battery is almost empty.",
    "Where did you put the remote control?",
    "The garden needs watering every evening.",
    "Active listening is a useful skill.",
    "The doctor said to stay active and rest.",
    "My brother works as an actor in Paris.",
    "Dinner will be ready in twenty minutes.",
    "The cat is sleeping on the sofa again.",
];

/// A speaker of the full set: a TTS program's voice, which every setting of
/// speed and pitch shares; held out as a whole.
struct Speaker {
    /// `espeak:ACCENT+VARIANT`, `flite:VOICE`, `pico:LANGUAGE` or `rhvoice:VOICE`.
    name: String,
    held_out: bool,
}

/// How many times each recorded-speaker voice says its list, in other
/// settings: there are six such voices against 140 espeak-ng ones.
const RECORDED_TAKES: usize = 20;

/// The voices made from recordings of people. RHVoice's slt is flite's slt
/// (the same CMU ARCTIC speaker), so it is held out with her. (RHVoice's
/// evgeniy-eng and lyubov are left out: their licence forbids commercial use.)
fn recorded_speakers() -> Vec<Speaker> {
    let voices = [
        ("pico:en-US", false),
        ("pico:en-GB", false),
        ("rhvoice:clb", false),
        ("rhvoice:bdl", false),
        ("rhvoice:alan", false),
        ("rhvoice:slt", true),
    ];
    voices
        .iter()
        .flat_map(|&(name, held_out)| {
            (0..RECORDED_TAKES).map(move |_| Speaker {
                name: name.to_string(),
                held_out,
            })
        })
        .collect()
}

fn full_speakers() -> Vec<Speaker> {
    // Scottish and West Midlands English, and flite's slt, are for testing only.
    let accents = [
        ("en-us", false),
        ("en-gb", false),
        ("en-gb-x-rp", false),
        ("en-029", false),
        ("en-gb-x-gbclan", false),
        ("en-gb-scotland", true),
        ("en-gb-x-gbcwmd", true),
    ];
    let variants = [
        "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt3",
        "whisper", "croak", "Annie", "david", "linda", "steph",
    ];
    let espeak = accents.iter().flat_map(|&(accent, held_out)| {
        variants.iter().map(move |v| Speaker {
            name: format!("espeak:{accent}+{v}"),
            held_out,
        })
    });
    let flite = ["kal", "kal16", "awb", "rms", "slt"].map(|v| Speaker {
        name: format!("flite:{v}"),
        held_out: v == "slt",
    });
    espeak.chain(flite).collect()
}

/// The setting of utterance `k` of a speaker: espeak speeds 120–200 words a
/// minute and pitches 30–75, flite durations 0.8–1.3, Pico and RHVoice
/// speeds and pitches 80–130 % and 85–115 % of their own.
fn setting(speaker: &str, k: usize) -> String {
    let percent = |k: usize| {
        let speed = [80, 90, 100, 115, 130][k % 5];
        let pitch = [85, 95, 105, 115][(k * 3 + speaker.len()) % 4];
        format!("{speaker}:s{speed}:p{pitch}")
    };
    match speaker.split(':').next() {
        Some("espeak") => {
            let speed = [120, 145, 170, 200][k % 4];
            let pitch = [30, 45, 60, 75][(k * 3 + speaker.len()) % 4];
            format!("{speaker}:s{speed}:p{pitch}")
        }
        Some("pico" | "rhvoice") => percent(k),
        _ => {
            let stretch = ["0.8", "0.9", "1.0", "1.15", "1.3"][k % 5];
            format!("{speaker}:d{stretch}")
        }
    }
}

/// What every voice says, as (voice setting, text, positive, held out).
fn utterances(word: &str, set: VoiceSet) -> Vec<(String, String, bool, bool)> {
    let mut out = Vec::new();
    match set {
        VoiceSet::Builtin => {
            let voices: Vec<(String, bool)> =
                espeak_voices().into_iter().chain(flite_voices()).collect();
            for (v, (voice, held_out)) in voices.into_iter().enumerate() {
                // Every voice says the trigger word; negatives rotate through the word list.
                out.push((voice.clone(), word.to_string(), true, held_out));
                for k in 0..3 {
                    let text = NEGATIVE_WORDS[(v * 3 + k) % NEGATIVE_WORDS.len()];
                    out.push((voice.clone(), text.to_string(), false, held_out));
                }
            }
        }
        VoiceSet::Full | VoiceSet::All => {
            // Another trigger word may be on the lists ("computer", "music"):
            // what says it is no negative.
            let words: Vec<&str> = NEGATIVE_WORDS
                .iter()
                .chain(&CONTEXT_WORDS)
                .copied()
                .filter(|text| !says(text, word))
                .collect();
            let without = |list: &[&'static str]| -> Vec<&'static str> {
                list.iter()
                    .copied()
                    .filter(|text| !says(text, word))
                    .collect()
            };
            let (training, evaluation) =
                (without(&TRAINING_SENTENCES), without(&EVALUATION_SENTENCES));
            let mut speakers = full_speakers();
            if set == VoiceSet::All {
                speakers.extend(recorded_speakers());
            }
            for (s, speaker) in speakers.into_iter().enumerate() {
                let mut k = s;
                let mut say = |text: &str, positive: bool| {
                    out.push((
                        setting(&speaker.name, k),
                        text.to_string(),
                        positive,
                        speaker.held_out,
                    ));
                    k += 1;
                };
                // The word as a statement, a command and a question.
                for text in [word.to_string(), format!("{word}!"), format!("{word}?")] {
                    say(&text, true);
                }
                for j in 0..5 {
                    say(words[(s * 5 + j) % words.len()], false);
                }
                let sentences = if speaker.held_out {
                    &evaluation
                } else {
                    &training
                };
                for j in 0..3 {
                    say(sentences[(s * 3 + j) % sentences.len()], false);
                }
            }
        }
    }
    out
}

/// Whether `text` holds `word` (one or more words) as whole words, in any case.
fn says(text: &str, word: &str) -> bool {
    let tokens = |t: &str| -> Vec<String> {
        t.split(|c: char| !c.is_alphanumeric() && c != '\'')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let (text, word) = (tokens(text), tokens(word));
    !word.is_empty() && text.windows(word.len()).any(|w| w == word.as_slice())
}

/// The program that speaks `voice` and the Debian package it comes in.
fn program_of(voice: &str) -> (&'static str, &'static str) {
    match voice.split(':').next() {
        Some("espeak") => ("espeak-ng", "espeak-ng"),
        Some("pico") => ("pico2wave", "libttspico-utils (non-free)"),
        Some("rhvoice") => ("RHVoice-test", "rhvoice-english (non-free)"),
        _ => ("flite", "flite"),
    }
}

/// Fails, naming each missing program and its package, unless every
/// program that `voices` need is on `path` (the `PATH` variable's value):
/// a missing one is found before anything is spoken, not after an hour.
fn check_programs<'a>(
    voices: impl IntoIterator<Item = &'a str>,
    path: &std::ffi::OsStr,
) -> Result<()> {
    let mut needed: Vec<(&str, &str)> = voices.into_iter().map(program_of).collect();
    needed.sort_unstable();
    needed.dedup();
    let missing: Vec<String> = needed
        .into_iter()
        .filter(|(program, _)| !std::env::split_paths(path).any(|dir| dir.join(program).is_file()))
        .map(|(program, package)| format!("{program} (Debian package {package})"))
        .collect();
    if !missing.is_empty() {
        bail!(
            "these voices need {}, not found on PATH: install {}, or choose another --set",
            missing.join(" and "),
            if missing.len() > 1 { "them" } else { "it" }
        );
    }
    Ok(())
}

fn speak(voice: &str, text: &str, out: &Path) -> Result<()> {
    let parts: Vec<&str> = voice.split(':').collect();
    let status = match parts.as_slice() {
        ["espeak", name, speed, pitch] => Command::new("espeak-ng")
            .args(["-v", name, "-s", &speed[1..], "-p", &pitch[1..], "-w"])
            .arg(out)
            .arg(text)
            .status(),
        // Pico takes its speed and pitch as markup around the text.
        ["pico", language, speed, pitch] => Command::new("pico2wave")
            .args(["-l", language, "-w"])
            .arg(out)
            .arg(format!(
                "<speed level='{}'><pitch level='{}'>{text}</pitch></speed>",
                &speed[1..],
                &pitch[1..]
            ))
            .status(),
        ["rhvoice", name, speed, pitch] => rhvoice(name, &speed[1..], &pitch[1..], text, out),
        ["flite", name, stretch] => Command::new("flite")
            .args([
                "-voice",
                name,
                "--setf",
                &format!("duration_stretch={}", &stretch[1..]),
                "-t",
                text,
                "-o",
            ])
            .arg(out)
            .status(),
        _ => bail!("unknown voice {voice}"),
    };
    let (program, package) = program_of(voice);
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => bail!("{program} failed for voice {voice} ({s})"),
        Err(e) => bail!("cannot run {program} ({e}); install the Debian package {package}"),
    }
}

/// RHVoice reads its text from standard input.
fn rhvoice(
    voice: &str,
    speed: &str,
    pitch: &str,
    text: &str,
    out: &Path,
) -> std::io::Result<std::process::ExitStatus> {
    use std::io::Write;
    let mut child = Command::new("RHVoice-test")
        .args(["-p", voice, "-r", speed, "-t", pitch, "-o"])
        .arg(out)
        .stdin(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text.as_bytes())?;
    }
    child.wait()
}

/// Cuts leading and trailing near-silence, keeping a 20 ms margin.
pub fn trim(clip: &Clip) -> Clip {
    let threshold = 0.02 * clip.samples.iter().fold(0f32, |m, s| m.max(s.abs()));
    let first = clip
        .samples
        .iter()
        .position(|s| s.abs() > threshold)
        .unwrap_or(0);
    let last = clip
        .samples
        .iter()
        .rposition(|s| s.abs() > threshold)
        .unwrap_or(clip.samples.len().saturating_sub(1));
    let margin = clip.rate as usize / 50;
    let start = first.saturating_sub(margin);
    let end = (last + margin + 1).min(clip.samples.len());
    Clip::new(clip.rate, clip.samples[start..end].to_vec())
}

/// One row of `voices.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolEntry {
    pub file: String,
    pub word: String,
    pub positive: bool,
    pub voice: String,
    pub held_out: bool,
}

/// Makes the pools under `out/positives` and `out/negatives` with `voices.csv`.
pub fn make_voices(
    word: &str,
    set: VoiceSet,
    out: &Path,
    on_clip: impl FnMut(),
) -> Result<Vec<PoolEntry>> {
    let utterances = utterances(word, set);
    let path = std::env::var_os("PATH").unwrap_or_default();
    check_programs(utterances.iter().map(|u| u.0.as_str()), &path)?;
    casebook_core::fsx::build_folder(out, |out| make_voices_into(utterances, set, out, on_clip))
}

fn make_voices_into(
    utterances: Vec<(String, String, bool, bool)>,
    set: VoiceSet,
    out: &Path,
    mut on_clip: impl FnMut(),
) -> Result<Vec<PoolEntry>> {
    let scratch = tempfile_dir(out)?;
    let mut entries = Vec::new();
    for (i, (voice, text, positive, held_out)) in utterances.into_iter().enumerate() {
        let raw = scratch.join("raw.wav");
        speak(&voice, &text, &raw)?;
        let clip = trim(&Clip::read_wav(&raw)?.resample(RATE)?);
        let folder = if positive { "positives" } else { "negatives" };
        let file = match set {
            VoiceSet::Builtin => format!("{folder}/{}__{text}.wav", file_safe(&voice)),
            // Sentences make poor file names; the list says what each file holds.
            VoiceSet::Full | VoiceSet::All => format!("{folder}/{i:05}_{}.wav", file_safe(&voice)),
        };
        clip.write_wav(&out.join(&file))?;
        entries.push(PoolEntry {
            file,
            word: text,
            positive,
            voice,
            held_out,
        });
        on_clip();
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let mut csv = csv::Writer::from_writer(Vec::new());
    for e in &entries {
        csv.serialize(e)?;
    }
    casebook_core::fsx::write_atomic(&out.join(LIST), &csv.into_inner()?)?;
    Ok(entries)
}

fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn tempfile_dir(out: &Path) -> Result<PathBuf> {
    let dir = out.join(".scratch");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// The rows of a pool's `voices.csv`.
pub fn read_list(bytes: &[u8], name: &str) -> Result<Vec<PoolEntry>> {
    csv::Reader::from_reader(bytes)
        .deserialize()
        .collect::<Result<_, _>>()
        .with_context(|| format!("{name} is not a pool list (file,word,positive,voice,held_out)"))
}

/// Loads a pool: (positives, negatives) of the training voices
/// (`held_out == false`) or of the test voices. `read` gives a file of the
/// pool by its path in the pool.
fn load_pool_with(
    read: impl Fn(&str) -> Result<Vec<u8>>,
    held_out: bool,
) -> Result<(Vec<Clip>, Vec<Clip>)> {
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for entry in read_list(&read(LIST)?, LIST)? {
        if entry.held_out != held_out {
            continue;
        }
        let clip = Clip::from_wav_bytes(&read(&entry.file)?, &entry.file)?;
        if entry.positive {
            pos.push(clip);
        } else {
            neg.push(clip);
        }
    }
    Ok((pos, neg))
}

/// Loads a pool written by [`make_voices`] into `dir`.
pub fn load_pool(dir: &Path, held_out: bool) -> Result<(Vec<Clip>, Vec<Clip>)> {
    if !dir.join(LIST).exists() {
        bail!(
            "no {LIST} in {}; make a pool with `casebook trigger make-voices --out-dir DIR`",
            dir.display()
        );
    }
    load_pool_with(
        |name| {
            std::fs::read(dir.join(name))
                .with_context(|| format!("cannot read {name} in {}", dir.display()))
        },
        held_out,
    )
}

/// Loads the built-in pool compiled into the binary.
pub fn load_builtin_pool(held_out: bool) -> Result<(Vec<Clip>, Vec<Clip>)> {
    load_pool_with(
        |name| {
            BUILTIN
                .get_file(name)
                .map(|f| f.contents().to_vec())
                .with_context(|| format!("the built-in pool lacks {name}"))
        },
        held_out,
    )
}

/// The `.wav` files of a folder, sorted; an error if there are none.
pub fn wav_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no .wav files in {}", dir.display());
    }
    Ok(files)
}

/// Every WAV in a folder and its sub-folders, resampled to `rate`, in sorted
/// path order (backgrounds: mined windows can sit in a sub-folder).
pub fn load_tree(dir: &Path, rate: u32) -> Result<Vec<Clip>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read folder {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
            {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    files.sort();
    if files.is_empty() {
        bail!("no .wav files in {} or its sub-folders", dir.display());
    }
    files
        .iter()
        .map(|f| Clip::read_wav(f)?.resample(rate))
        .collect()
}

/// Every WAV in a user folder, resampled to `rate`.
pub fn load_folder(dir: &Path, rate: u32) -> Result<Vec<Clip>> {
    wav_files(dir)?
        .iter()
        .map(|f| Clip::read_wav(f)?.resample(rate))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every program a voice set needs is looked for before anything is
    /// spoken, and the error names exactly the missing ones.
    #[test]
    fn missing_programs_are_named_before_anything_is_spoken() {
        let bin = tempfile::tempdir().unwrap();
        std::fs::write(bin.path().join("espeak-ng"), "").unwrap();
        let path = bin.path().as_os_str();
        let builtin = utterances("activate", VoiceSet::Builtin);
        let voices = || builtin.iter().map(|u| u.0.as_str());
        let err = check_programs(voices(), path).unwrap_err().to_string();
        assert!(err.contains("flite (Debian package flite)"), "{err}");
        assert!(!err.contains("espeak-ng"), "{err}");
        std::fs::write(bin.path().join("flite"), "").unwrap();
        check_programs(voices(), path).unwrap();
    }

    #[test]
    fn builtin_pools_hold_out_whole_voices() {
        let (train_pos, train_neg) = load_builtin_pool(false).unwrap();
        let (test_pos, test_neg) = load_builtin_pool(true).unwrap();
        assert!(
            train_pos.len() >= 20 && train_neg.len() >= 40,
            "{} / {}",
            train_pos.len(),
            train_neg.len()
        );
        assert!(!test_pos.is_empty() && !test_neg.is_empty());
        for clip in train_pos.iter().chain(&test_neg) {
            assert_eq!(clip.rate, RATE);
            assert!(
                (0.2..2.5).contains(&clip.seconds()),
                "clip of {} s",
                clip.seconds()
            );
        }
        let list = read_list(BUILTIN.get_file(LIST).unwrap().contents(), LIST).unwrap();
        let voices = |held: bool| -> std::collections::BTreeSet<String> {
            list.iter()
                .filter(|e| e.held_out == held)
                .map(|e| e.voice.clone())
                .collect()
        };
        assert!(
            voices(true).is_disjoint(&voices(false)),
            "a voice is in both train and test"
        );
    }

    #[test]
    fn the_full_set_keeps_speakers_and_sentences_apart() {
        let all = utterances("activate", VoiceSet::Full);
        let speaker = |setting: &str| setting.split(':').take(2).collect::<Vec<_>>().join(":");
        let speakers = |held: bool| -> std::collections::BTreeSet<String> {
            all.iter()
                .filter(|u| u.3 == held)
                .map(|u| speaker(&u.0))
                .collect()
        };
        let (train, test) = (speakers(false), speakers(true));
        assert!(
            train.len() >= 100 && test.len() >= 40,
            "{} / {}",
            train.len(),
            test.len()
        );
        assert!(train.is_disjoint(&test));
        for (setting, text, positive, held_out) in &all {
            let sentence = text.contains(' ') && text.len() > 20;
            if *positive {
                assert!(text.starts_with("activate"), "{text}");
            } else {
                // No negative holds the word itself, or "activated" ("deactivate" is a confusable).
                let lower = text.to_lowercase();
                let mut words = lower.split(|c: char| !c.is_ascii_alphabetic());
                assert!(
                    !words.any(|w| w == "activate" || w == "activated"),
                    "{text}"
                );
            }
            if sentence {
                let list: &[&str] = if *held_out {
                    &EVALUATION_SENTENCES
                } else {
                    &TRAINING_SENTENCES
                };
                assert!(list.contains(&text.as_str()), "{setting} says {text}");
            }
        }
        // Every speaker says the word three times, in three settings.
        for s in train.iter().chain(&test) {
            let words: Vec<_> = all.iter().filter(|u| u.2 && speaker(&u.0) == *s).collect();
            assert_eq!(words.len(), 3, "{s}");
        }
        assert!(EVALUATION_SENTENCES
            .iter()
            .all(|e| !TRAINING_SENTENCES.contains(e)));
        // Another word: nothing that says it is a negative.
        for (_, text, positive, _) in utterances("the lights", VoiceSet::Full) {
            assert!(positive || !says(&text, "the lights"), "{text}");
        }
        assert!(says("Turn the Lights off", "the lights") && !says("deactivate", "activate"));
        // The built-in set is unchanged: 38 voices, the word and 3 others each.
        assert_eq!(utterances("activate", VoiceSet::Builtin).len(), 38 * 4);
    }

    #[test]
    fn the_largest_set_adds_recorded_speakers_and_holds_out_slt() {
        let full = utterances("activate", VoiceSet::Full);
        let all = utterances("activate", VoiceSet::All);
        // The full set is unchanged inside it, so pools and evaluation sets made from it still match.
        assert_eq!(all[..full.len()], full[..]);
        let added = &all[full.len()..];
        let speaker = |setting: &str| setting.split(':').take(2).collect::<Vec<_>>().join(":");
        for name in ["pico:en-US", "pico:en-GB", "rhvoice:clb", "rhvoice:slt"] {
            let own: Vec<_> = added.iter().filter(|u| speaker(&u.0) == name).collect();
            assert_eq!(own.iter().filter(|u| u.2).count(), 3 * RECORDED_TAKES);
            // Every take is said in several speeds and pitches.
            let settings: std::collections::BTreeSet<_> = own.iter().map(|u| &u.0).collect();
            assert!(settings.len() >= 10, "{name}: {settings:?}");
            // flite's slt and RHVoice's slt are one person: both are held out.
            assert!(own.iter().all(|u| u.3 == name.ends_with("slt")), "{name}");
        }
        let pico = added.iter().find(|u| u.0.starts_with("pico:")).unwrap();
        assert!(
            pico.0.split(':').count() == 4 && pico.0.contains(":s") && pico.0.contains(":p"),
            "{}",
            pico.0
        );
    }

    #[test]
    fn backgrounds_are_read_from_sub_folders_too() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_tree(dir.path(), RATE).unwrap_err().to_string();
        assert!(err.contains("no .wav files"), "{err}");
        std::fs::create_dir_all(dir.path().join("mined")).unwrap();
        Clip::new(RATE, vec![0.1; 100])
            .write_wav(&dir.path().join("b.wav"))
            .unwrap();
        Clip::new(RATE, vec![0.1; 200])
            .write_wav(&dir.path().join("mined/a.wav"))
            .unwrap();
        std::fs::write(dir.path().join("SOURCES.csv"), "file\n").unwrap();
        let lengths: Vec<usize> = load_tree(dir.path(), RATE)
            .unwrap()
            .iter()
            .map(|c| c.samples.len())
            .collect();
        assert_eq!(lengths, [100, 200]);
    }

    #[test]
    fn trim_cuts_silence_but_keeps_a_margin() {
        let mut samples = vec![0.0; 1000];
        samples.extend((0..500).map(|i| ((i as f32) * 0.2).sin()));
        samples.extend(vec![0.0; 1000]);
        let t = trim(&Clip::new(1000, samples));
        assert!(
            (500..=545).contains(&t.samples.len()),
            "{}",
            t.samples.len()
        );
    }
}
