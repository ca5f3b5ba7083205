//! The pages: one layout, a fragment per page and one small script, all
//! compiled into the binary (no build step, nothing fetched).

use axum::extract::Path;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use crate::error::ApiError;

const STYLE: &str = include_str!("../assets/style.css");
const SCRIPT: &str = include_str!("../assets/app.js");

/// `(path, title)` of each page, in the menu's order.
const PAGES: [(&str, &str); 7] = [
    ("/runs", "Runs"),
    ("/daynight", "Day or night?"),
    ("/trigger", "Trigger word"),
    ("/logreg", "Logistic regression"),
    ("/faces", "Faces"),
    ("/style", "Style"),
    ("/human", "Human baseline"),
];

/// A whole page: the menu, `title` and `body` (HTML), the script.
pub fn layout(title: &str, body: &str) -> String {
    let menu: String = PAGES
        .iter()
        .map(|(path, name)| {
            let current = if *name == title {
                " aria-current=page"
            } else {
                ""
            };
            format!("<a href=\"{path}\"{current}>{name}</a>")
        })
        .collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · casebook</title><link rel=stylesheet href=\"/assets/style.css\"></head>\
         <body><nav><a href=\"/\" class=brand>casebook</a>{menu}</nav><main><h1>{title}</h1>{body}</main>\
         <footer>casebook {} studio: the same library code as the command line, on this computer only.</footer>\
         <script src=\"/assets/app.js\"></script></body></html>\n",
        env!("CARGO_PKG_VERSION")
    )
}

pub async fn home() -> Html<String> {
    let cards: String = PAGES
        .iter()
        .zip([
            "Every run folder with its numbers and its report.",
            "Drop photos and get day or night, with the model's probability; train on a folder of your own.",
            "Upload or record audio: the score over time and each detection of the word.",
            "Train on a CSV as a job, or score one with a model you trained.",
            "Two photos side by side: the same person or not, and the distance that says so; a folder grouped by person.",
            "A photo drawn in a painting's style, forming as you watch.",
            "Answer what the model answers, under the same conditions, and see who does better.",
        ])
        .map(|((path, name), what)| format!("<li><a href=\"{path}\">{name}</a>: {what}</li>"))
        .collect();
    Html(layout(
        "Studio",
        &format!("<p>Pick a case. Everything runs here, on this computer; nothing is sent anywhere else.</p><ul class=cards>{cards}</ul>"),
    ))
}

pub async fn daynight() -> Html<String> {
    Html(layout(
        "Day or night?",
        include_str!("../assets/daynight.html"),
    ))
}

pub async fn trigger() -> Html<String> {
    Html(layout(
        "Trigger word",
        include_str!("../assets/trigger.html"),
    ))
}

pub async fn logreg() -> Html<String> {
    Html(layout(
        "Logistic regression",
        include_str!("../assets/logreg.html"),
    ))
}

pub async fn faces() -> Html<String> {
    Html(layout("Faces", include_str!("../assets/faces.html")))
}

pub async fn style() -> Html<String> {
    Html(layout("Style", include_str!("../assets/style.html")))
}

pub async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let (content_type, text) = match file.as_str() {
        "style.css" => ("text/css; charset=utf-8", STYLE),
        "app.js" => ("text/javascript; charset=utf-8", SCRIPT),
        _ => return Err(ApiError::not_found(format!("no asset {file}"))),
    };
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}
