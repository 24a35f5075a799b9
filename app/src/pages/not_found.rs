use leptos::prelude::*;

use crate::copy::Lang;

#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <section class="card notice" aria-labelledby="nf-heading">
            <h1 id="nf-heading">{Lang::Ko.strings().not_found}</h1>
        </section>
    }
}
