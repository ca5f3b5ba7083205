//! A self-contained HTML report: headings, paragraphs, tables and inline SVG
//! figures in one file that opens anywhere without a server or network.

use std::path::Path;

use anyhow::Result;

use crate::metrics::{ClassScores, ConfusionMatrix, RocPoint};

/// Builds a report section by section, then writes it atomically.
#[derive(Debug, Clone)]
pub struct Report {
    title: String,
    body: String,
}

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An `<img>` tag holding a PNG inline (the report stays one file).
pub fn png_img(png: &[u8], alt: &str) -> String {
    use base64::Engine;
    let alt = escape(alt);
    format!(
        "<img src=\"data:image/png;base64,{}\" title=\"{alt}\" alt=\"{alt}\">",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

/// An `<audio>` player holding a WAV file inline (the report stays one
/// file).
pub fn wav_audio(wav: &[u8]) -> String {
    use base64::Engine;
    format!(
        "<audio controls preload=\"none\" src=\"data:audio/wav;base64,{}\"></audio>",
        base64::engine::general_purpose::STANDARD.encode(wav)
    )
}

impl Report {
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            body: String::new(),
        }
    }

    pub fn heading(&mut self, text: &str) -> &mut Self {
        self.body.push_str(&format!("<h2>{}</h2>\n", escape(text)));
        self
    }

    pub fn paragraph(&mut self, text: &str) -> &mut Self {
        self.body.push_str(&format!("<p>{}</p>\n", escape(text)));
        self
    }

    /// A table of text; the first column is shown as a row header.
    pub fn table(&mut self, headers: &[&str], rows: &[Vec<String>]) -> &mut Self {
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|row| row.iter().map(|cell| escape(cell)).collect())
            .collect();
        self.table_html(headers, &rows)
    }

    /// A table whose cells are already-safe HTML (text passed through
    /// [`escape`], players from [`wav_audio`], pictures from [`png_img`]).
    pub fn table_html(&mut self, headers: &[&str], rows: &[Vec<String>]) -> &mut Self {
        self.body.push_str("<table>\n<tr>");
        for h in headers {
            self.body.push_str(&format!("<th>{}</th>", escape(h)));
        }
        self.body.push_str("</tr>\n");
        for row in rows {
            self.body.push_str("<tr>");
            for cell in row {
                self.body.push_str(&format!("<td>{cell}</td>"));
            }
            self.body.push_str("</tr>\n");
        }
        self.body.push_str("</table>\n");
        self
    }

    /// An inline SVG figure (from [`crate::plot`]).
    pub fn figure(&mut self, svg: &str) -> &mut Self {
        self.body.push_str(&format!("<figure>{svg}</figure>\n"));
        self
    }

    /// Per-class precision/recall/F1 table and the confusion-matrix chart.
    pub fn class_scores(
        &mut self,
        title: &str,
        classes: &[String],
        confusion: &ConfusionMatrix,
    ) -> Result<&mut Self> {
        let scores = confusion.class_scores();
        let averages = [
            ("macro average", ClassScores::macro_average(&scores)),
            ("weighted average", ClassScores::weighted_average(&scores)),
        ];
        let rows: Vec<Vec<String>> = classes
            .iter()
            .map(String::as_str)
            .zip(scores.iter().copied())
            .chain(averages)
            .map(|(c, s)| {
                vec![
                    c.to_string(),
                    format!("{:.3}", s.precision),
                    format!("{:.3}", s.recall),
                    format!("{:.3}", s.f1),
                    s.support.to_string(),
                ]
            })
            .collect();
        self.table(&["class", "precision", "recall", "F1", "support"], &rows);
        self.figure(&crate::plot::confusion_chart(
            title,
            classes,
            &confusion.matrix,
        )?);
        Ok(self)
    }

    /// A ROC curve figure with its AUC.
    pub fn roc(&mut self, title: &str, curve: &[RocPoint], auc: f64) -> Result<&mut Self> {
        let points: Vec<(f64, f64)> = curve
            .iter()
            .map(|p| (p.false_positive_rate, p.true_positive_rate))
            .collect();
        self.figure(&crate::plot::roc_chart(title, &points, auc)?);
        Ok(self)
    }

    /// Raw, already-safe HTML (for callers that build their own markup).
    pub fn html(&mut self, html: &str) -> &mut Self {
        self.body.push_str(html);
        self
    }

    pub fn to_html(&self) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\n<style>{STYLE}</style></head>\n<body><h1>{title}</h1>\n{body}<footer>casebook {version}</footer></body></html>\n",
            title = escape(&self.title),
            body = self.body,
            version = crate::VERSION,
        )
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        crate::fsx::write_atomic(path, self.to_html().as_bytes())
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}\
th{background:#f3f3f3}td:first-child{text-align:left}figure{display:inline-block;margin:0.5em}\
figcaption{font-size:small;max-width:160px;overflow-wrap:anywhere}\
pre{white-space:pre-wrap;overflow-wrap:anywhere}\
footer{margin-top:3em;color:#888;font-size:small}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_escapes_text_and_embeds_figures() {
        let mut r = Report::new("a <b> report");
        r.paragraph("1 < 2")
            .table(&["k", "v"], &[vec!["x".into(), "1".into()]])
            .figure("<svg></svg>");
        let html = r.to_html();
        assert!(html.contains("a &lt;b&gt; report") && html.contains("1 &lt; 2"));
        assert!(html.contains("<figure><svg></svg></figure>") && html.contains("<td>x</td>"));
    }
}
