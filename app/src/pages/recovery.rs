//! The recovery pages (design section 3). Every page is rendered on the
//! server; the only island is [`PendingForm`], so the pages show, and every
//! action works, before or without WASM.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::copy::{Lang, Strings};
use crate::load::load_page;
use crate::model::{
    CaseState, EmbedRequest, LinkParams, Notice, Outbox, PageError, PageKind, PageRequest,
    PageView, Payability, RecoveryView, actions,
};
use crate::money::format_krw;

/// One route per [`PageKind`]; reads the query, loads the case, renders.
#[component]
pub fn RecoveryPage(kind: PageKind) -> impl IntoView {
    let query = use_query_map().get_untracked();
    let lang = Lang::from_param(query.get_str("lang"));
    let notice = query.get_str("notice").and_then(Notice::from_code);
    let req = PageRequest {
        embed: EmbedRequest {
            token: query.get("token").unwrap_or_default(),
            origin: query.get("origin"),
            embed_id: query.get("embedId"),
            back: query.get("back"),
        },
        kind,
        method_changed: query.get_str("changed") == Some("method"),
        lang,
    };
    view! {
        <Suspense>
            {Suspend::new(async move {
                match load_page(req).await {
                    Ok(page) => view! { <CasePage page notice/> }.into_any(),
                    Err(err) => view! { <ErrorNotice err lang/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The page's messages for the parent, as data. A tiny inline script in the
/// shell posts them (so they go out even when WASM does not load); JSON is
/// escaped so no value can end the script element.
#[component]
fn OutboxData(outbox: Outbox) -> impl IntoView {
    let json = outbox.to_script_json();
    view! { <script type="application/json" id="rb-outbox" inner_html=json></script> }
}

#[component]
fn CasePage(page: PageView, notice: Option<Notice>) -> impl IntoView {
    let PageView {
        kind,
        view,
        link,
        outbox,
    } = page;
    let lang = link.lang;
    let s = lang.strings();
    let banner = view
        .test_mode
        .then(|| view! { <p class="test-banner" role="note">{s.test_mode}</p> });
    let notice = notice.map(|n| view! { <p class="notice-box" role="alert" data-testid="notice">{notice_text(s, n)}</p> });
    let body = match kind {
        PageKind::Main => main_body(&view, &link).into_any(),
        PageKind::Method => method_body(&view, &link).into_any(),
        PageKind::Date => date_body(&view, &link).into_any(),
        PageKind::Paid => paid_body(&view, &link, outbox.messages.len() > 2).into_any(),
        PageKind::Failed => failed_body(&view, &link).into_any(),
        PageKind::DateChanged => date_changed_body(&view, &link).into_any(),
        PageKind::Reminded => reminded_body(&view, &link).into_any(),
        PageKind::Home => view! {
            <h1 id="heading" data-testid="heading">{s.home_heading}</h1>
            <p class="lead">{s.home_body}</p>
        }
        .into_any(),
    };
    view! {
        <section class="card" aria-labelledby="heading" data-page=page_name(kind)>
            {banner}
            <p class="business">{view.business_name.clone()}</p>
            {notice}
            {body}
        </section>
        <OutboxData outbox/>
    }
}

fn page_name(kind: PageKind) -> &'static str {
    match kind {
        PageKind::Main => "main",
        PageKind::Method => "method",
        PageKind::Date => "date",
        PageKind::Paid => "paid",
        PageKind::Failed => "failed",
        PageKind::DateChanged => "date-changed",
        PageKind::Reminded => "reminded",
        PageKind::Home => "home",
    }
}

fn notice_text(s: &Strings, n: Notice) -> &'static str {
    match n {
        Notice::Unavailable => s.notice_unavailable,
        Notice::RemindLimit => s.notice_remind_limit,
        Notice::AttemptLimit => s.notice_attempt_limit,
        Notice::Maintenance => s.notice_maintenance,
        Notice::NewCard => s.notice_new_card,
        Notice::NotPayableHere => s.notice_not_payable_here,
        Notice::BadDate => s.notice_bad_date,
        Notice::DateLimit => s.notice_date_limit,
        Notice::AuthCanceled => s.notice_auth_canceled,
        Notice::AuthFailed => s.notice_auth_failed,
    }
}

fn facts(view: &RecoveryView, lang: Lang) -> impl IntoView + use<> {
    let s = lang.strings();
    view! {
        <dl class="facts">
            <Fact label=s.payer value=(s.payer_value)(&view.customer_name, &view.phone_last4) testid="payer"/>
            <Fact label=s.product value=view.product_name.clone() testid="product-name"/>
            <Fact label=s.amount value=format_krw(view.amount, lang) testid="amount"/>
            <Fact label=s.failed_at value=view.failed_at.clone() testid="failed-at"/>
            {view.failure_reason.clone().map(|r| view! { <Fact label=s.reason value=r testid="reason"/> })}
            {view.payment_info.clone().map(|p| view! { <Fact label=s.payment_method value=p testid="payment-info"/> })}
        </dl>
    }
}

fn main_body(view: &RecoveryView, link: &LinkParams) -> impl IntoView + use<> {
    let s = link.lang.strings();
    match &view.state {
        CaseState::Open => {
            let remind = (view.can_reschedule && view.remind_left > 0).then(|| {
                view! {
                    <PendingForm action=actions::REMIND.to_owned() fields=link.pairs()
                        label=format!("{} ({})", s.remind_later, (s.remind_left)(view.remind_left))
                        busy_label=s.sending.to_owned() class="secondary".to_owned()/>
                }
            });
            let image = view.product_image_url.clone().map(|src| {
                view! { <img class="product-image" src=src alt="" width="64" height="64" data-testid="product-image"/> }
            });
            let (pay_notice, pay, change) = match view.pay {
                Payability::Here => (
                    None,
                    Some(view! {
                        <PendingForm action=actions::PAY.to_owned() fields=link.pairs()
                            label=s.pay_now.to_owned() busy_label=s.paying.to_owned() class="primary".to_owned()/>
                    }),
                    Some(view! {
                        <a class="button secondary" href=link.href(PageKind::Method.path())>{s.change_method}</a>
                    }.into_any()),
                ),
                Payability::NewCardFirst => (
                    Some(s.notice_new_card),
                    None,
                    Some(view! {
                        <a class="button primary" href=link.href(PageKind::Method.path())
                            data-testid="new-card">{s.change_method}</a>
                    }.into_any()),
                ),
                Payability::Elsewhere => (Some(s.notice_not_payable_here), None, None),
            };
            let pay_notice = pay_notice.map(|text| {
                view! {
                    <p class="notice-box" role="note" data-testid="pay-notice">{text}</p>
                }
            });
            view! {
                <h1 id="heading" data-testid="heading">{s.heading}</h1>
                <p class="lead">{s.lead}</p>
                {image}
                {facts(view, link.lang)}
                {pay_notice}
                {pay}
                <nav class="actions" aria-label=s.other_actions>
                    {change}
                    {(view.can_reschedule && view.date_changes_left > 0).then(|| view! {
                        <a class="button secondary" href=link.href(PageKind::Date.path())>{s.change_date}</a>
                    })}
                    {remind}
                    <a class="button link" href=link.href(PageKind::Home.path())>{s.home}</a>
                </nav>
            }
            .into_any()
        }
        CaseState::Recovered { paid_at } => view! {
            <h1 id="heading" data-testid="heading">{s.already_paid_heading}</h1>
            <dl class="facts">
                <Fact label=s.amount value=format_krw(view.amount, link.lang) testid="amount"/>
                <Fact label=s.paid_at value=paid_at.clone() testid="paid-at"/>
            </dl>
            <HomeLink link=link.clone()/>
        }
        .into_any(),
        CaseState::Closed => view! {
            <h1 id="heading" data-testid="heading">{s.closed_heading}</h1>
            <p class="lead">{s.closed_body}</p>
            <HomeLink link=link.clone()/>
        }
        .into_any(),
    }
}

fn method_body(view: &RecoveryView, link: &LinkParams) -> impl IntoView + use<> {
    let s = link.lang.strings();
    view! {
        <h1 id="heading" data-testid="heading">{s.method_heading}</h1>
        <p class="lead">{s.method_body}</p>
        <dl class="facts">
            <Fact label=s.amount value=format_krw(view.amount, link.lang) testid="amount"/>
            {view.payment_info.clone().map(|p| view! { <Fact label=s.current_method value=p testid="payment-info"/> })}
        </dl>
        {match view.card_window.clone() {
            // Top-level, never inside the partner's frame: a popup or tab
            // (the shell's card script), or the whole tab when popups are
            // blocked or scripts off (`target="_top"`).
            Some(card) => view! {
                <a class="button primary" href=card.url target="_top"
                    data-card-window=card.window_id data-testid="open-card-window">{s.register_card}</a>
                <div class="result" role="status" data-card-waiting="" hidden><p>{s.card_window_waiting}</p></div>
            }.into_any(),
            None => view! {
                <p class="notice-box" role="note" data-testid="pay-notice">{s.notice_not_payable_here}</p>
            }.into_any(),
        }}
        <BackLink link=link.clone()/>
    }
}

fn date_body(view: &RecoveryView, link: &LinkParams) -> impl IntoView + use<> {
    let s = link.lang.strings();
    view! {
        <h1 id="heading" data-testid="heading">{s.date_heading}</h1>
        <p class="lead">{s.date_body}</p>
        <form method="post" action=actions::DATE class="date-form">
            <HiddenFields fields=link.pairs()/>
            <label for="selected-date">{s.date_label}</label>
            <input id="selected-date" name="selectedDate" type="date" required
                min=view.date_min.clone() max=view.date_max.clone()
                value=view.selected_date.clone().unwrap_or_else(|| view.date_min.clone())
                aria-describedby="date-hint"/>
            <p id="date-hint" class="hint">{(s.date_hint)(&view.date_min, &view.date_max)}</p>
            <button type="submit" class="primary">{s.date_submit}</button>
        </form>
        <BackLink link=link.clone()/>
    }
}

fn paid_body(
    view: &RecoveryView,
    link: &LinkParams,
    method_changed: bool,
) -> impl IntoView + use<> {
    let s = link.lang.strings();
    let paid_at = match &view.state {
        CaseState::Recovered { paid_at } => paid_at.clone(),
        _ => String::new(),
    };
    view! {
        <h1 id="heading" data-testid="heading">{s.paid_heading}</h1>
        <div class="result success" role="status" data-testid="paid">
            <p>{s.paid_body}</p>
            {method_changed.then(|| view! { <p>{s.method_changed}</p> })}
        </div>
        <dl class="facts">
            <Fact label=s.amount value=format_krw(view.amount, link.lang) testid="amount"/>
            {view.payment_info.clone().map(|p| view! { <Fact label=s.payment_method value=p testid="payment-info"/> })}
            <Fact label=s.paid_at value=paid_at testid="paid-at"/>
        </dl>
        <HomeLink link=link.clone()/>
    }
}

fn failed_body(view: &RecoveryView, link: &LinkParams) -> impl IntoView + use<> {
    let s = link.lang.strings();
    view! {
        <h1 id="heading" data-testid="heading">{s.failed_heading}</h1>
        <div class="result failure" role="alert">
            <p data-testid="decline-reason">{view.last_decline.clone().unwrap_or_default()}</p>
        </div>
        <p class="lead">{s.failed_body}</p>
        <dl class="facts">
            <Fact label=s.amount value=format_krw(view.amount, link.lang) testid="amount"/>
            {view.payment_info.clone().map(|p| view! { <Fact label=s.payment_method value=p testid="payment-info"/> })}
        </dl>
        {(view.pay != Payability::Elsewhere).then(|| view! {
            <a class="button primary" href=link.href(PageKind::Method.path())>{s.try_other_method}</a>
        })}
        <nav class="actions" aria-label=s.other_actions>
            {(view.pay == Payability::Here).then(|| view! {
                <PendingForm action=actions::PAY.to_owned() fields=link.pairs()
                    label=s.retry.to_owned() busy_label=s.paying.to_owned() class="secondary".to_owned()/>
            })}
            <a class="button secondary" href=link.href(PageKind::Date.path())>{s.change_date}</a>
            <a class="button link" href=link.href(PageKind::Home.path())>{s.home}</a>
        </nav>
    }
}

fn date_changed_body(view: &RecoveryView, link: &LinkParams) -> impl IntoView + use<> {
    let s = link.lang.strings();
    let date = view.selected_date.clone().unwrap_or_default();
    view! {
        <h1 id="heading" data-testid="heading">{s.date_changed_heading}</h1>
        <div class="result success" role="status">
            <p data-testid="selected-date">{(s.date_changed_body)(&date)}</p>
        </div>
        <HomeLink link=link.clone()/>
    }
}

fn reminded_body(view: &RecoveryView, link: &LinkParams) -> impl IntoView + use<> {
    let s = link.lang.strings();
    view! {
        <h1 id="heading" data-testid="heading">{s.reminded_heading}</h1>
        <div class="result" role="status">
            <p>{s.reminded_body}" "<span data-testid="remind-left">{(s.remind_left)(view.remind_left)}</span></p>
        </div>
        <BackLink link=link.clone()/>
        <HomeLink link=link.clone()/>
    }
}

#[component]
fn HomeLink(link: LinkParams) -> impl IntoView {
    let s = link.lang.strings();
    view! { <a class="button secondary" href=link.href(PageKind::Home.path())>{s.home}</a> }
}

#[component]
fn BackLink(link: LinkParams) -> impl IntoView {
    let s = link.lang.strings();
    view! { <a class="button link" href=link.href(PageKind::Main.path())>{s.back}</a> }
}

#[component]
fn HiddenFields(fields: Vec<(String, String)>) -> impl IntoView {
    fields
        .into_iter()
        .map(|(name, value)| view! { <input type="hidden" name=name value=value/> })
        .collect_view()
}

#[component]
fn Fact(label: &'static str, value: String, testid: &'static str) -> impl IntoView {
    view! {
        <div class="fact">
            <dt>{label}</dt>
            <dd data-testid=testid>{value}</dd>
        </div>
    }
}

#[component]
fn ErrorNotice(err: PageError, lang: Lang) -> impl IntoView {
    let s: &Strings = lang.strings();
    let (heading, body) = match err {
        PageError::UnknownToken => (s.unknown_token_heading, s.unknown_token_body),
        PageError::OriginNotAllowed => (s.origin_heading, s.origin_body),
        PageError::AlreadyClosed => (s.closed_heading, s.closed_body),
        PageError::Unavailable => (s.unavailable_heading, s.unavailable_body),
    };
    view! {
        <section class="card notice" aria-labelledby="heading" data-testid="page-error">
            <h1 id="heading">{heading}</h1>
            <p>{body}</p>
        </section>
    }
}

/// A form that posts to the server like any HTML form (so it works without
/// WASM), and once hydrated shows that it is working and ignores a second
/// submit: a double tap on a slow phone sends one request.
#[island]
pub fn PendingForm(
    action: String,
    fields: Vec<(String, String)>,
    label: String,
    busy_label: String,
    class: String,
) -> impl IntoView {
    let busy = RwSignal::new(false);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        if busy.get_untracked() {
            ev.prevent_default();
        } else {
            busy.set(true);
        }
    };
    view! {
        <form method="post" action=action class="action-form" on:submit=on_submit>
            {fields
                .into_iter()
                .map(|(name, value)| view! { <input type="hidden" name=name value=value/> })
                .collect_view()}
            <button type="submit" class=class aria-disabled=move || busy.get().then_some("true")>
                {move || if busy.get() { busy_label.clone() } else { label.clone() }}
            </button>
        </form>
    }
}
