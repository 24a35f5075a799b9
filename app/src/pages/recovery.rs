//! The main recovery page: what failed and a way to pay.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use protocol::PageMessage;

use crate::copy::{Lang, Strings};
use crate::model::{CaseState, EmbedRequest, MessageTarget, PageError, PayOutcome, RecoveryView};
use crate::money::format_krw;
use crate::server_fns::{PayNow, load_recovery};

/// Server-rendered only (not an island): reads the query, loads the case.
#[component]
pub fn RecoveryPage() -> impl IntoView {
    let query = use_query_map().get_untracked();
    let lang = Lang::from_param(query.get_str("lang"));
    let req = EmbedRequest {
        token: query.get("token").unwrap_or_default(),
        origin: query.get("origin"),
        embed_id: query.get("embedId"),
    };
    let token = req.token.clone();
    view! {
        <Suspense>
            {Suspend::new(async move {
                match load_recovery(req).await {
                    Ok(Ok(view)) => RecoveryCard(RecoveryCardProps { view, token, lang }).into_any(),
                    Ok(Err(err)) => ErrorNotice(ErrorNoticeProps { err, lang }).into_any(),
                    Err(_) => ErrorNotice(ErrorNoticeProps { err: PageError::Unavailable, lang }).into_any(),
                }
            })}
        </Suspense>
    }
}

/// The case and its actions. An island as a whole, because paying changes
/// the heading as well as the button; it is still rendered on the server, so
/// it shows (and its form posts) without WASM.
#[island]
pub fn RecoveryCard(view: RecoveryView, token: String, lang: Lang) -> impl IntoView {
    let s = lang.strings();
    let RecoveryView {
        business_name,
        product_name,
        amount,
        failed_at,
        failure_reason,
        payment_info,
        state,
        target,
        ready,
        test_mode,
    } = view;
    let pay = ServerAction::<PayNow>::new();
    let paid_here = move || matches!(pay.value().get(), Some(Ok(Ok(PayOutcome::Paid { .. }))));
    let heading = {
        let state = state.clone();
        move || match (&state, paid_here()) {
            (CaseState::Open, false) => s.heading,
            (CaseState::Closed, false) => s.closed_heading,
            _ => s.paid_heading,
        }
    };
    let body = match state {
        CaseState::Open => view! { <PayNowButton pay token target ready lang/> }.into_any(),
        CaseState::Recovered { paid_at } => view! {
            <div class="result success" role="status">
                <p>{paid_at}</p>
            </div>
        }
        .into_any(),
        CaseState::Closed => view! {
            <div class="result" role="status">
                <p>{s.closed_body}</p>
            </div>
        }
        .into_any(),
    };
    view! {
        <section class="card" aria-labelledby="heading" lang=lang.code()>
            {test_mode.then(|| view! { <p class="test-banner" role="note">{s.test_mode}</p> })}
            <p class="business">{business_name}</p>
            <h1 id="heading" data-testid="heading">{heading}</h1>
            <Show when=move || !paid_here()>
                <p class="lead">{s.lead}</p>
            </Show>
            <dl class="facts">
                <Fact label=s.product value=product_name.clone() testid="product-name"/>
                <Fact label=s.amount value=format_krw(amount, lang) testid="amount"/>
                <Fact label=s.failed_at value=failed_at.clone() testid="failed-at"/>
                {failure_reason.clone().map(|r| view! { <Fact label=s.reason value=r testid="reason"/> })}
                {payment_info.clone().map(|p| view! { <Fact label=s.payment_method value=p testid="payment-info"/> })}
            </dl>
            {body}
        </section>
    }
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
        <section class="card notice" aria-labelledby="heading" lang=lang.code() data-testid="page-error">
            <h1 id="heading">{heading}</h1>
            <p>{body}</p>
        </section>
    }
}

/// Pays, then tells the partner page.
#[component]
fn PayNowButton(
    pay: ServerAction<PayNow>,
    token: String,
    target: MessageTarget,
    ready: PageMessage,
    lang: Lang,
) -> impl IntoView {
    let s = lang.strings();

    let origin = target.origin.clone();
    Effect::new(move |_| crate::post::to_parent(&ready, &origin));

    Effect::new(move |_| {
        if let Some(Ok(Ok(outcome))) = pay.value().get() {
            let (PayOutcome::Paid { message, target }
            | PayOutcome::Declined {
                message, target, ..
            }) = outcome;
            crate::post::to_parent(&message, &target.origin);
        }
    });

    let paid = move || matches!(pay.value().get(), Some(Ok(Ok(PayOutcome::Paid { .. }))));
    let problem = move || match pay.value().get() {
        Some(Ok(Ok(PayOutcome::Declined { reason, .. }))) => {
            Some(format!("{} ({reason})", s.declined_heading))
        }
        Some(Ok(Err(_))) | Some(Err(_)) => Some(s.unavailable_heading.to_string()),
        _ => None,
    };
    let MessageTarget { origin, embed_id } = target;

    view! {
        <Show
            when=paid
            fallback=move || {
                let (token, origin, embed_id) = (token.clone(), origin.clone(), embed_id.clone());
                view! {
                    <ActionForm action=pay attr:class="pay-form">
                        <input type="hidden" name="token" value=token/>
                        <input type="hidden" name="origin" value=origin/>
                        {embed_id.map(|e| view! { <input type="hidden" name="embed_id" value=e/> })}
                        <button type="submit" class="primary" disabled=move || pay.pending().get()>
                            {move || if pay.pending().get() { s.paying } else { s.pay_now }}
                        </button>
                    </ActionForm>
                    <p class="problem" role="alert">{problem}</p>
                }
            }
        >
            <div class="result success" role="status" data-testid="paid">
                <p>{s.paid_body}</p>
            </div>
        </Show>
    }
}
