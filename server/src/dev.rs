//! Dev pages, on only with `serve --demo` (or `REBOUND_DEV_PAGES=1`): the
//! outbox provider's messages, so a newcomer sees the AlimTalk text and can
//! open its link. Never on in production: the links carry live tokens.

use crate::html::escape;
use axum::extract::State;
use axum::response::{Html, IntoResponse};

use crate::state::AppState;

pub async fn outbox(State(state): State<AppState>) -> impl IntoResponse {
    let rows = match state.store.outbox(200).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "loading the outbox");
            Vec::new()
        }
    };
    let items: String = rows
        .iter()
        .map(|m| {
            format!(
                "<li><p class=\"meta\">case {} · stage {} · {} · to {}</p><pre>{}</pre>\
                 <p><a href=\"{}\">open the link</a></p></li>",
                m.case_id,
                m.stage,
                m.channel,
                escape(&m.recipient),
                escape(&m.body),
                escape(&m.link)
            )
        })
        .collect();
    let empty = if rows.is_empty() {
        "<p>No messages yet: a failed order opens a case, and its stage 1 is sent within a second.</p>"
    } else {
        ""
    };
    Html(format!(
        "<!DOCTYPE html><html lang=\"ko\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Outbox · Rebound dev</title><style>body{{font-family:system-ui,sans-serif;max-width:640px;margin:0 auto;padding:16px}}\
         ul{{padding:0}}li{{list-style:none;border-bottom:1px solid #ddd;padding:8px 0}}pre{{white-space:pre-wrap;overflow-wrap:anywhere;background:#fef9c3;padding:12px;border-radius:12px}}\
         .meta{{color:#555;font-size:.875rem;margin:0}}</style></head><body>\
         <h1>Outbox (dev)</h1><p>Messages the scenario engine sent through the outbox provider, newest first. \
         Advance the clock with <code>server dev advance --hours 72</code> to see the next stage.</p>{empty}<ol>{items}</ol></body></html>"
    ))
}
