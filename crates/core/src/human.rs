//! Human baselines: a self-contained HTML page of questions (images, audio
//! clips) shown under several conditions (resolution, sample rate), an answer
//! key kept beside it (the page holds no labels), and per-condition scoring
//! of the answers the page saves, next to the model's accuracy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::fsx;
use crate::report::escape;

/// The answer key kept beside the human page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HumanKey {
    /// Which study the page belongs to ([`PageText::study`]); keys written
    /// before it was recorded have none.
    #[serde(default)]
    pub study: Option<String>,
    pub classes: Vec<String>,
    /// question id → (condition, true label, source path)
    pub questions: BTreeMap<String, KeyEntry>,
    /// Model accuracy per condition, if known, for the side-by-side table.
    pub model_accuracy: BTreeMap<u32, f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyEntry {
    /// The condition the question was shown under (pixels, Hz, ...).
    #[serde(alias = "resolution")]
    pub condition: u32,
    pub label: String,
    pub path: String,
}

/// What the page saves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HumanAnswers {
    /// Path of the key file, recorded by the page so scoring needs no flag.
    pub key: Option<String>,
    pub answers: BTreeMap<String, String>,
}

/// One question: its media as HTML (an `<img>` or `<audio>`) and its key entry.
pub struct Question {
    pub media_html: String,
    pub entry: KeyEntry,
}

/// The words of a page.
pub struct PageText<'a> {
    /// The kind of study, e.g. "image resolution": recorded in the key, so
    /// the other study's command can refuse its answers.
    pub study: &'a str,
    pub heading: &'a str,
    /// What the person sees and does, in HTML.
    pub intro: &'a str,
    /// The command that scores the saved answers.
    pub command: &'a str,
}

/// Writes the page to `out` and its key to `key_path`; question ids follow
/// the order of `questions` (shuffle them first).
pub fn write_page(
    out: &Path,
    key_path: &Path,
    text: &PageText,
    classes: &[String],
    questions: Vec<Question>,
    model_accuracy: BTreeMap<u32, f64>,
) -> Result<()> {
    let mut key = HumanKey {
        study: Some(text.study.to_string()),
        classes: classes.to_vec(),
        questions: BTreeMap::new(),
        model_accuracy,
    };
    let mut cards = String::new();
    let count = questions.len();
    for (i, q) in questions.into_iter().enumerate() {
        let id = format!("q{i:03}");
        let choices: String = classes
            .iter()
            .map(|c| {
                format!(
                    "<label><input type=radio name=\"{id}\" value=\"{0}\"> {0}</label> ",
                    escape(c)
                )
            })
            .collect();
        cards.push_str(&format!(
            "<div class=card><div class=num>{}</div>{}<div>{choices}</div></div>\n",
            i + 1,
            q.media_html
        ));
        key.questions.insert(id, q.entry);
    }
    fsx::write_json(key_path, &key)?;
    let key_abs = std::fs::canonicalize(key_path).unwrap_or_else(|_| key_path.to_path_buf());
    let html = PAGE
        .replace("{{HEADING}}", &escape(text.heading))
        .replace("{{INTRO}}", text.intro)
        .replace("{{COUNT}}", &count.to_string())
        .replace("{{COMMAND}}", &escape(text.command))
        .replace(
            "{{KEY}}",
            &serde_json::to_string(&key_abs.display().to_string())?,
        )
        .replace("{{CARDS}}", &cards);
    // The key comes first (the page names its full path); a key without
    // its page is useless, so it goes if the page cannot be written.
    fsx::write_atomic(out, html.as_bytes()).inspect_err(|_| {
        let _ = std::fs::remove_file(key_path);
    })
}

const PAGE: &str = r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>casebook human baseline</title>
<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:1em auto}
.card{display:inline-block;margin:8px;padding:6px;border:1px solid #ccc;text-align:center}
.card img{width:192px;height:192px;image-rendering:pixelated;display:block}
.card audio{display:block;margin-bottom:4px}.num{font-weight:bold;text-align:left}
#progress{position:sticky;top:0;background:#fff;padding:4px 0}</style></head><body>
<h1>{{HEADING}}</h1>
<p>{{COUNT}} questions. {{INTRO}} <span id=how>Then press <b>Save answers</b> and run <code>{{COMMAND}} answers.json</code>
(your browser saves it to its downloads folder, where that command also looks).</span></p>
<p id=progress>0 of {{COUNT}} answered</p>
{{CARDS}}
<p><button id=save>Save answers</button> <span id=status></span></p>
<script>
function chosen() {
  var answers = {};
  document.querySelectorAll('input[type=radio]:checked').forEach(function (el) { answers[el.name] = el.value; });
  return answers;
}
if (location.protocol !== 'file:') {
  document.getElementById('how').textContent = 'Then press Save answers: they are scored into the study\'s report.';
}
document.addEventListener('change', function () {
  document.getElementById('progress').textContent = Object.keys(chosen()).length + ' of {{COUNT}} answered';
});
function download(text, note) {
  var a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], {type: 'application/json'}));
  a.download = 'answers.json'; a.click();
  document.getElementById('status').textContent = note;
}
// Opened from a file, the answers download; served by `casebook serve`,
// they go to the server, which scores them into the study's report.
document.getElementById('save').onclick = function () {
  var answers = chosen();
  var n = Object.keys(answers).length;
  var left = {{COUNT}} - n;
  if (left > 0 && !confirm(left + ' questions are unanswered and will count as wrong. Save anyway?')) return;
  var text = JSON.stringify({key: {{KEY}}, answers: answers}, null, 1);
  if (location.protocol === 'file:') return download(text, n + ' answers saved');
  fetch(location.pathname.replace(/\/$/, '') + '/answers', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: text})
    .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error(j.error || r.status); return j; }); })
    .then(function (j) {
      var status = document.getElementById('status');
      status.innerHTML = '';
      status.append(n + ' answers scored: ' + j.summary + ' ');
      if (j.report) { var a = document.createElement('a'); a.href = j.report; a.textContent = 'the study report'; status.append(a); }
      status.dataset.scored = 'yes';
    })
    .catch(function (e) { download(text, 'The server did not take the answers (' + e.message + '); they were saved as a download.'); });
};
</script></body></html>
"#;

/// Human accuracy under one condition.
#[derive(Debug, Clone, Serialize)]
pub struct HumanScore {
    pub condition: u32,
    pub answered: usize,
    pub questions: usize,
    pub human_accuracy: f64,
    pub model_accuracy: Option<f64>,
}

/// Scores answers against the key, per condition. Unanswered questions count as wrong.
pub fn score_human(answers: &HumanAnswers, key: &HumanKey) -> Vec<HumanScore> {
    let mut per: BTreeMap<u32, (usize, usize, usize)> = BTreeMap::new();
    for (id, entry) in &key.questions {
        let slot = per.entry(entry.condition).or_default();
        slot.2 += 1;
        if let Some(answer) = answers.answers.get(id) {
            slot.1 += 1;
            if *answer == entry.label {
                slot.0 += 1;
            }
        }
    }
    per.into_iter()
        .map(|(condition, (right, answered, questions))| HumanScore {
            condition,
            answered,
            questions,
            human_accuracy: right as f64 / questions.max(1) as f64,
            model_accuracy: key.model_accuracy.get(&condition).copied(),
        })
        .collect()
}

/// Where the answers are: `path` when it exists, else a file of the same
/// name in `downloads` (a browser's downloads folder: where the page's
/// save lands), else an error that says where to look.
pub fn find_answers(path: &Path, downloads: Option<&Path>) -> Result<PathBuf> {
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    let name = path.file_name().unwrap_or_default();
    if let Some(found) = downloads.map(|d| d.join(name)).filter(|p| p.is_file()) {
        return Ok(found);
    }
    bail!(
        "{} not found; the page's Save answers button puts it in the browser's downloads folder{} (a second save may be named answers (1).json): pass that path",
        path.display(),
        downloads.map_or(String::new(), |d| format!(", here {}", d.display()))
    )
}

/// Loads answers, their key and the key's path (`key` overrides the path
/// the page recorded), refusing answers to another kind of study than
/// `study`.
pub fn load_answers(
    answers_path: &Path,
    key: Option<&Path>,
    study: &str,
) -> Result<(HumanAnswers, HumanKey, PathBuf)> {
    let answers: HumanAnswers = fsx::read_json(answers_path)?;
    let key_path = match (key, &answers.key) {
        (Some(k), _) => k.to_path_buf(),
        (None, Some(k)) => PathBuf::from(k),
        (None, None) => bail!("{} does not say where its key is; pass --key with the key file written beside the page", answers_path.display()),
    };
    let key: HumanKey = fsx::read_json(&key_path)
        .with_context(|| "pass --key with the key file written beside the page".to_string())?;
    if let Some(theirs) = key.study.as_deref().filter(|theirs| *theirs != study) {
        bail!(
            "{} holds answers to the {theirs} page, not the {study} one: score it with that study's human-baseline command",
            answers_path.display()
        );
    }
    Ok((answers, key, key_path))
}

/// What each study calls its condition, for tables: "resolution" for the
/// image study, "rate (Hz)" for the trigger study.
pub fn condition_name(study: Option<&str>) -> &'static str {
    match study {
        Some(s) if s.contains("rate") => "rate (Hz)",
        _ => "resolution",
    }
}

/// Scores `answers` against `key` (kept at `key_path`) and puts the scores
/// into the study's report (see [`add_to_report`]); returns the scores and
/// the report's path, if the study has one.
pub fn score_into_report(
    answers: &HumanAnswers,
    key: &HumanKey,
    key_path: &Path,
) -> Result<(Vec<HumanScore>, Option<PathBuf>)> {
    let scores = score_human(answers, key);
    let report = add_to_report(key_path, condition_name(key.study.as_deref()), &scores)?;
    Ok((scores, report))
}

/// Puts the human scores into the study's report (`report.html` beside
/// the key), beside the model's accuracy: a section before its footer,
/// replacing the one an earlier scoring put there. Does nothing when the
/// study left no report there; returns the report's path when it did.
pub fn add_to_report(
    key_path: &Path,
    condition: &str,
    scores: &[HumanScore],
) -> Result<Option<PathBuf>> {
    const START: &str = "<section id=human-baseline>";
    const END: &str = "</section>";
    let path = key_path.with_file_name("report.html");
    let Ok(html) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let Some(footer) = html.rfind("<footer>") else {
        return Ok(None);
    };
    let rows: String = scores
        .iter()
        .map(|s| {
            format!(
                "<tr><td>{}</td><td>{}/{}</td><td>{:.1} %</td><td>{}</td></tr>",
                s.condition,
                s.answered,
                s.questions,
                100.0 * s.human_accuracy,
                s.model_accuracy
                    .map_or("–".to_string(), |a| format!("{:.1} %", 100.0 * a))
            )
        })
        .collect();
    let section = format!(
        "{START}<h2>Human baseline</h2><p>A person's answers on the study's human page (unanswered questions count as wrong), beside the model's accuracy in the study.</p><table><tr><th>{}</th><th>answered</th><th>human accuracy</th><th>model accuracy</th></tr>{rows}</table>{END}\n",
        escape(condition)
    );
    let (before, after) = html.split_at(footer);
    // An earlier scoring's section goes.
    let before = match before.find(START) {
        Some(at) => {
            let end = before[at..]
                .find(END)
                .map_or(before.len(), |e| at + e + END.len() + 1);
            format!("{}{}", &before[..at], &before[end.min(before.len())..])
        }
        None => before.to_string(),
    };
    fsx::write_atomic(&path, format!("{before}{section}{after}").as_bytes())?;
    Ok(Some(path))
}

/// The per-condition table as text (`condition` names the column, e.g. "resolution").
pub fn scores_table(condition: &str, scores: &[HumanScore]) -> String {
    let mut table = format!(
        "{condition:>10} {:>10} {:>16} {:>16}\n",
        "answered", "human accuracy", "model accuracy"
    );
    for s in scores {
        let model = s
            .model_accuracy
            .map_or("-".to_string(), |a| format!("{:.2}%", 100.0 * a));
        table.push_str(&format!(
            "{:>10} {:>10} {:>15.2}% {:>16}\n",
            s.condition,
            format!("{}/{}", s.answered, s.questions),
            100.0 * s.human_accuracy,
            model
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_scored_per_condition() {
        let entry = |c, l: &str| KeyEntry {
            condition: c,
            label: l.into(),
            path: String::new(),
        };
        let key = HumanKey {
            study: None,
            classes: vec!["day".into(), "night".into()],
            questions: [
                ("a", entry(16, "day")),
                ("b", entry(16, "night")),
                ("c", entry(64, "night")),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
            model_accuracy: [(16, 0.9)].into_iter().collect(),
        };
        let answers = HumanAnswers {
            key: None,
            answers: [("a", "day"), ("b", "day"), ("c", "night")]
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        };
        let s = score_human(&answers, &key);
        assert_eq!(
            (s[0].condition, s[0].human_accuracy, s[0].model_accuracy),
            (16, 0.5, Some(0.9))
        );
        assert_eq!(
            (s[1].condition, s[1].human_accuracy, s[1].answered),
            (64, 1.0, 1)
        );
    }

    #[test]
    fn page_holds_no_labels_and_the_key_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let (page, key) = (dir.path().join("p.html"), dir.path().join("k.json"));
        let q = |c| Question {
            media_html: "<img src=x>".into(),
            entry: KeyEntry {
                condition: c,
                label: "secretlabel".into(),
                path: "a.png".into(),
            },
        };
        let classes = vec!["yes".to_string(), "no".to_string()];
        let text = PageText {
            study: "image resolution",
            heading: "H",
            intro: "Pick.",
            command: "casebook x human-baseline",
        };
        write_page(
            &page,
            &key,
            &text,
            &classes,
            vec![q(8), q(16)],
            BTreeMap::new(),
        )
        .unwrap();
        let html = std::fs::read_to_string(&page).unwrap();
        assert!(!html.contains("secretlabel") && html.contains("q001"));
        let key: HumanKey = fsx::read_json(&key).unwrap();
        assert_eq!(key.questions["q001"].condition, 16);
        // Keys written before the rename (image resolution studies) still load.
        let old: KeyEntry =
            serde_json::from_str(r#"{"resolution":32,"label":"day","path":"p"}"#).unwrap();
        assert_eq!(old.condition, 32);
        // Items are numbered; answers load for their own study only.
        assert!(html.contains("<div class=num>2</div>") && html.contains("of 2 answered"));
        let answers = dir.path().join("answers.json");
        let saved = serde_json::json!({"key": key_path_of(&dir), "answers": {"q000": "yes"}});
        fsx::write_json(&answers, &saved).unwrap();
        assert!(load_answers(&answers, None, "image resolution").is_ok());
        let err = load_answers(&answers, None, "trigger sample rate").unwrap_err();
        assert!(
            err.to_string()
                .contains("answers to the image resolution page"),
            "{err}"
        );
    }

    fn key_path_of(dir: &tempfile::TempDir) -> String {
        dir.path().join("k.json").display().to_string()
    }

    /// Answers missing where given are looked for in the downloads folder,
    /// and the error says where to look.
    #[test]
    fn answers_are_found_in_the_downloads_folder() {
        let dir = tempfile::tempdir().unwrap();
        let downloads = dir.path().join("Downloads");
        std::fs::create_dir(&downloads).unwrap();
        let asked = dir.path().join("answers.json");
        let err = find_answers(&asked, Some(&downloads))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("downloads folder") && err.contains("Downloads"),
            "{err}"
        );
        std::fs::write(downloads.join("answers.json"), "{}").unwrap();
        assert_eq!(
            find_answers(&asked, Some(&downloads)).unwrap(),
            downloads.join("answers.json")
        );
        std::fs::write(&asked, "{}").unwrap();
        assert_eq!(find_answers(&asked, Some(&downloads)).unwrap(), asked);
    }
}
