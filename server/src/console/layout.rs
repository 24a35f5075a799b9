//! The console's document: head, the signed-in bar and navigation, and
//! the language. Korean by default; English when the `rebound_lang`
//! cookie says so (the bar's language link sets it).

use axum::http::HeaderMap;
use axum::response::Html;
use leptos::prelude::*;

use crate::store::ConsoleUser;

/// The console's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Ko,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ko => "ko",
            Lang::En => "en",
        }
    }

    /// The text in this language.
    pub fn t(self, ko: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Ko => ko,
            Lang::En => en,
        }
    }

    pub fn from_headers(headers: &HeaderMap) -> Lang {
        match super::session::cookie(headers, LANG_COOKIE) {
            Some("en") => Lang::En,
            _ => Lang::Ko,
        }
    }
}

pub const LANG_COOKIE: &str = "rebound_lang";

/// Which section a page belongs to, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Cases,
    Notices,
    Scenario,
    Settings,
    Experiments,
    Partners,
    /// The account's own page (the e-mail in the bar).
    Account,
}

/// A page for a signed-in account.
pub struct Frame<'a> {
    pub lang: Lang,
    pub title: String,
    pub user: &'a ConsoleUser,
    pub csrf: &'a str,
    pub section: Section,
    /// The path of this page, for the language link to come back to.
    pub path: &'a str,
}

/// `main` inside the console's document with its navigation bar.
pub fn page(frame: Frame<'_>, main: impl IntoView + 'static) -> Html<String> {
    let lang = frame.lang;
    let t = move |ko, en| lang.t(ko, en);
    let operator = frame.user.role.partner_id().is_none();
    // A partner's admins manage its users on the same page.
    let admin = frame
        .user
        .role
        .partner_id()
        .is_some_and(|p| frame.user.role.administers(p));
    let mut nav = vec![
        (Section::Overview, "/console", t("개요", "Overview")),
        (Section::Cases, "/console/cases", t("케이스", "Cases")),
        (
            Section::Notices,
            "/console/notices",
            t("알림 전송", "Notices"),
        ),
        (
            Section::Scenario,
            "/console/scenario",
            t("시나리오", "Scenario"),
        ),
        (
            Section::Experiments,
            "/console/experiments",
            t("실험", "Experiments"),
        ),
        (
            Section::Settings,
            "/console/settings",
            t("설정", "Settings"),
        ),
    ];
    if operator {
        nav.push((
            Section::Partners,
            "/console/partners",
            t("파트너", "Partners"),
        ));
    } else if admin {
        nav.push((Section::Partners, "/console/partners", t("사용자", "Users")));
    }
    let nav = nav
        .into_iter()
        .map(|(section, href, label)| {
            let current = (section == frame.section).then_some("page");
            view! { <li><a href=href aria-current=current>{label}</a></li> }
        })
        .collect_view();
    let (other_lang, other_label) = match lang {
        Lang::Ko => ("en", "English"),
        Lang::En => ("ko", "한국어"),
    };
    let lang_href = format!("/console/lang/{other_lang}?next={}", urlencode(frame.path));
    let email = frame.user.email.clone();
    let csrf = frame.csrf.to_owned();
    let body = view! {
        <header class="bar">
            <a class="brand" href="/console">"Rebound"</a>
            <nav aria-label=t("주 메뉴", "Main")><ul>{nav}</ul></nav>
            <div class="who">
                <a class="email" href=super::account::PATH
                    aria-current=(frame.section == Section::Account).then_some("page")>{email}</a>
                <a href=lang_href lang=other_lang>{other_label}</a>
                <form method="post" action="/console/logout" class="inline">
                    <input type="hidden" name="csrf" value=csrf/>
                    <button type="submit" class="link">{t("로그아웃", "Sign out")}</button>
                </form>
            </div>
        </header>
        <main id="main">{main}</main>
    };
    Html(document(lang, &frame.title, body))
}

/// A page without the bar (sign-in, errors).
pub fn bare_page(lang: Lang, title: &str, message_html: &str) -> String {
    let message_html = message_html.to_owned();
    document(
        lang,
        title,
        view! {
            <main id="main" class="narrow">
                <h1>{title.to_owned()}</h1>
                <div inner_html=message_html></div>
                <p><a href="/console">"Rebound console"</a></p>
            </main>
        },
    )
}

/// The whole HTML document.
pub fn document(lang: Lang, title: &str, body: impl IntoView + 'static) -> String {
    let title = format!("{title} · Rebound");
    let html = view! {
        <html lang=lang.code()>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="robots" content="noindex"/>
                <title>{title}</title>
                <link rel="stylesheet" href=super::STYLESHEET_PATH/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
            </head>
            <body class="console">
                <a class="skip" href="#main">{lang.t("본문으로", "Skip to content")}</a>
                {body}
            </body>
        </html>
    };
    format!("<!DOCTYPE html>{}", html.to_html())
}

/// Percent-encodes a path for a query value.
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Won, as the recovery page writes it (`10,000원`, `₩10,000`).
pub fn krw(amount: i64, lang: Lang) -> String {
    app::money::format_krw(
        amount,
        match lang {
            Lang::Ko => app::copy::Lang::Ko,
            Lang::En => app::copy::Lang::En,
        },
    )
}

/// A share as a percentage with one decimal; a dash when undefined.
pub fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "–".to_owned(), |s| format!("{:.1}%", s * 100.0))
}

/// An operator's choice of partner for a one-partner page.
pub fn partner_picker(
    lang: Lang,
    path: &str,
    partners: &[crate::store::PartnerRecord],
) -> impl IntoView + use<> {
    let items = partners
        .iter()
        .map(|p| {
            let href = format!("{path}?partner={}", p.id);
            view! { <li><a href=href>{format!("{} ({})", p.business_name, p.name)}</a></li> }
        })
        .collect_view();
    let empty = partners.is_empty();
    view! {
        <p>{lang.t("파트너를 고르세요.", "Pick a partner.")}</p>
        <ul class="picker">{items}</ul>
        {empty.then(|| view! { <p class="muted">{lang.t("아직 파트너가 없습니다. 파트너 메뉴에서 만드세요.", "No partner yet: create one under Partners.")}</p> })}
    }
}
