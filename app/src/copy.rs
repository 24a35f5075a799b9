//! Every customer-facing sentence, in Korean (default) and English (`lang=en`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Lang {
    #[default]
    Ko,
    En,
}

impl Lang {
    /// `lang=en` picks English; anything else (or nothing) is Korean.
    pub fn from_param(param: Option<&str>) -> Lang {
        match param {
            Some(p) if p.eq_ignore_ascii_case("en") => Lang::En,
            _ => Lang::Ko,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Ko => "ko",
            Lang::En => "en",
        }
    }

    pub fn strings(self) -> &'static Strings {
        match self {
            Lang::Ko => &KO,
            Lang::En => &EN,
        }
    }
}

pub struct Strings {
    pub heading: &'static str,
    pub lead: &'static str,
    pub product: &'static str,
    pub amount: &'static str,
    pub failed_at: &'static str,
    pub reason: &'static str,
    pub payment_method: &'static str,
    pub pay_now: &'static str,
    pub paying: &'static str,
    pub paid_heading: &'static str,
    pub paid_body: &'static str,
    pub declined_heading: &'static str,
    pub test_mode: &'static str,
    pub unknown_token_heading: &'static str,
    pub unknown_token_body: &'static str,
    pub origin_heading: &'static str,
    pub origin_body: &'static str,
    pub closed_heading: &'static str,
    pub closed_body: &'static str,
    pub unavailable_heading: &'static str,
    pub unavailable_body: &'static str,
    pub not_found: &'static str,
}

static KO: Strings = Strings {
    heading: "결제에 실패했어요",
    lead: "아래 결제를 완료하면 서비스를 계속 이용할 수 있어요.",
    product: "상품",
    amount: "결제 금액",
    failed_at: "결제 실패 일시",
    reason: "실패 사유",
    payment_method: "결제 수단",
    pay_now: "지금 결제하기",
    paying: "결제 중…",
    paid_heading: "결제가 완료되었어요",
    paid_body: "이용해 주셔서 감사합니다.",
    declined_heading: "결제에 실패했어요",
    test_mode: "테스트 모드: 실제로 결제되지 않아요",
    unknown_token_heading: "링크를 확인할 수 없어요",
    unknown_token_body: "링크가 잘못되었거나 만료되었어요. 받은 알림톡의 링크를 다시 눌러 주세요.",
    origin_heading: "이 페이지를 열 수 없어요",
    origin_body: "등록되지 않은 사이트에서 열렸어요. 서비스 홈페이지에서 다시 시도해 주세요.",
    closed_heading: "이미 처리된 결제예요",
    closed_body: "이 결제 건은 더 이상 처리할 내용이 없어요.",
    unavailable_heading: "잠시 후 다시 시도해 주세요",
    unavailable_body: "일시적인 문제로 페이지를 불러오지 못했어요.",
    not_found: "페이지를 찾을 수 없어요",
};

static EN: Strings = Strings {
    heading: "Your payment didn't go through",
    lead: "Complete the payment below to keep using the service.",
    product: "Product",
    amount: "Amount",
    failed_at: "Failed on",
    reason: "Reason",
    payment_method: "Payment method",
    pay_now: "Pay now",
    paying: "Paying…",
    paid_heading: "Payment complete",
    paid_body: "Thank you.",
    declined_heading: "Payment failed",
    test_mode: "Test mode: no real money moves",
    unknown_token_heading: "We can't find this link",
    unknown_token_body: "The link is wrong or has expired. Please tap the link in your message again.",
    origin_heading: "This page can't be opened here",
    origin_body: "It was opened from a site that isn't registered. Please try again from the service's website.",
    closed_heading: "This payment is already settled",
    closed_body: "There is nothing left to do for this payment.",
    unavailable_heading: "Please try again shortly",
    unavailable_body: "Something went wrong on our side while loading this page.",
    not_found: "Page not found",
};
