//! Every integration test in one binary: the partner and customer stories
//! share one build and one link of the server, so a one-line change
//! relinks once instead of once per file (the cargo default of one binary
//! per `tests/*.rs`). Modules are named for the story they tell.

mod common;

mod accounts;
mod analytics;
mod api_bad_input;
mod api_customer;
mod api_idempotency;
mod api_lifecycle;
mod api_order;
mod api_price;
mod api_product;
mod api_subscription;
mod console;
mod console_pages;
mod embed_page;
mod engine_processes;
mod experiments;
mod gateway_accounts;
mod gateway_portone;
mod gateway_toss;
mod hostile;
mod limits;
mod logs;
mod messages_sens;
mod money_processes;
mod money_rules;
mod notify;
mod openapi;
mod retries;
mod retry_processes;
mod scenario;
mod sdk;
mod settings_audit;
mod startup;
