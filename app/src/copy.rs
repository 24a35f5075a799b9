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
    /// Whose debt this is (the masked name and the phone's last digits):
    /// someone who was forwarded the link sees it is not theirs.
    pub payer: &'static str,
    pub payer_value: fn(&str, &str) -> String,
    pub paid_at: &'static str,
    pub pay_now: &'static str,
    pub paying: &'static str,
    pub other_actions: &'static str,
    pub change_method: &'static str,
    pub change_date: &'static str,
    pub remind_later: &'static str,
    pub sending: &'static str,
    pub home: &'static str,
    pub back: &'static str,
    pub method_heading: &'static str,
    pub method_body: &'static str,
    pub current_method: &'static str,
    pub register_card: &'static str,
    pub opening_window: &'static str,
    pub date_heading: &'static str,
    pub date_body: &'static str,
    pub date_label: &'static str,
    pub date_submit: &'static str,
    pub paid_heading: &'static str,
    pub paid_body: &'static str,
    pub method_changed: &'static str,
    pub already_paid_heading: &'static str,
    pub failed_heading: &'static str,
    pub failed_body: &'static str,
    pub try_other_method: &'static str,
    pub retry: &'static str,
    pub date_changed_heading: &'static str,
    pub reminded_heading: &'static str,
    pub reminded_body: &'static str,
    pub home_heading: &'static str,
    pub home_body: &'static str,
    pub notice_unavailable: &'static str,
    pub notice_remind_limit: &'static str,
    pub notice_attempt_limit: &'static str,
    pub notice_maintenance: &'static str,
    pub notice_new_card: &'static str,
    pub notice_not_payable_here: &'static str,
    pub notice_bad_date: &'static str,
    pub notice_date_limit: &'static str,
    pub notice_auth_canceled: &'static str,
    pub notice_auth_failed: &'static str,
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
    pub remind_left: fn(u32) -> String,
    pub date_hint: fn(&str, &str) -> String,
    pub date_changed_body: fn(&str) -> String,
}

static KO: Strings = Strings {
    heading: "결제에 실패했어요",
    lead: "아래 결제를 완료하면 서비스를 계속 이용할 수 있어요.",
    product: "상품",
    amount: "결제 금액",
    failed_at: "결제 실패 일시",
    reason: "실패 사유",
    payment_method: "결제 수단",
    payer: "결제 대상",
    payer_value: |name, last4| format!("{name}님 (휴대폰 끝자리 {last4})"),
    paid_at: "결제 일시",
    pay_now: "지금 결제하기",
    paying: "결제 중…",
    other_actions: "다른 방법",
    change_method: "결제 수단 변경",
    change_date: "결제일 변경",
    remind_later: "나중에 알림 받기",
    sending: "처리 중…",
    home: "홈으로",
    back: "돌아가기",
    method_heading: "결제 수단 변경",
    method_body: "새 카드를 등록하면 아래 금액이 바로 결제되고, 다음 정기 결제부터 새 카드가 사용돼요.",
    current_method: "현재 결제 수단",
    register_card: "새 카드 등록하기",
    opening_window: "카드 등록 창을 여는 중…",
    date_heading: "결제일 변경",
    date_body: "고른 날짜에 결제를 다시 시도해요. 그때까지 결제 알림은 보내지 않아요.",
    date_label: "새 결제일",
    date_submit: "이 날로 변경하기",
    paid_heading: "결제가 완료되었어요",
    paid_body: "이용해 주셔서 감사합니다. 서비스를 계속 이용할 수 있어요.",
    method_changed: "새 결제 수단이 등록되었어요.",
    already_paid_heading: "이미 결제가 완료되었어요",
    failed_heading: "결제에 실패했어요",
    failed_body: "다른 결제 수단으로 결제하거나, 잠시 후 다시 시도해 주세요.",
    try_other_method: "다른 결제 수단으로 결제",
    retry: "다시 결제하기",
    date_changed_heading: "결제일이 변경되었어요",
    reminded_heading: "나중에 다시 알려드릴게요",
    reminded_body: "내일 다시 알림을 보내드려요.",
    home_heading: "홈으로 이동해요",
    home_body: "자동으로 이동하지 않으면 서비스 홈페이지로 돌아가 주세요.",
    notice_unavailable: "결제사와 연결하지 못했어요. 중복 결제는 되지 않으니 잠시 후 다시 시도해 주세요.",
    notice_remind_limit: "나중에 알림은 더 미룰 수 없어요.",
    notice_attempt_limit: "오늘은 결제를 더 시도할 수 없어요. 내일 다시 시도하거나 다른 카드를 등록해 주세요.",
    notice_maintenance: "카드사 점검 시간(밤 11시 30분~0시 40분)이에요. 0시 40분 이후에 다시 시도해 주세요.",
    notice_new_card: "이 카드로는 더 결제할 수 없어요. 새 카드를 등록해 주세요.",
    notice_not_payable_here: "지금은 여기서 결제할 수 없어요. 서비스에서 결제를 안내해 드릴게요.",
    notice_bad_date: "고를 수 없는 날짜예요. 안내된 기간 안에서 다시 골라 주세요.",
    notice_date_limit: "결제일은 더 바꿀 수 없어요.",
    notice_auth_canceled: "카드 등록이 취소되었어요.",
    notice_auth_failed: "카드를 등록하지 못했어요. 다른 카드로 시도해 주세요.",
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
    remind_left: |n| format!("{n}회 남음"),
    date_hint: |a, b| format!("{a}부터 {b}까지 고를 수 있어요."),
    date_changed_body: |d| format!("{d}에 결제를 다시 시도해요."),
};

static EN: Strings = Strings {
    heading: "Your payment didn't go through",
    lead: "Complete the payment below to keep using the service.",
    product: "Product",
    amount: "Amount",
    failed_at: "Failed on",
    reason: "Reason",
    payment_method: "Payment method",
    payer: "Payment for",
    payer_value: |name, last4| format!("{name} (phone ending {last4})"),
    paid_at: "Paid on",
    pay_now: "Pay now",
    paying: "Paying…",
    other_actions: "Other options",
    change_method: "Change payment method",
    change_date: "Change payment date",
    remind_later: "Remind me later",
    sending: "Working…",
    home: "Go home",
    back: "Back",
    method_heading: "Change payment method",
    method_body: "Register a new card: the amount below is charged to it right away, and later renewals use it too.",
    current_method: "Current method",
    register_card: "Register a new card",
    opening_window: "Opening the card window…",
    date_heading: "Change payment date",
    date_body: "We'll try the payment again on the day you choose, and won't send reminders until then.",
    date_label: "New payment date",
    date_submit: "Change to this date",
    paid_heading: "Payment complete",
    paid_body: "Thank you. You can keep using the service.",
    method_changed: "Your new payment method is registered.",
    already_paid_heading: "This payment is already complete",
    failed_heading: "Payment failed",
    failed_body: "Try another payment method, or try again in a little while.",
    try_other_method: "Pay with another method",
    retry: "Try again",
    date_changed_heading: "Payment date changed",
    reminded_heading: "We'll remind you later",
    reminded_body: "We'll send you a reminder tomorrow.",
    home_heading: "Going home",
    home_body: "If nothing happens, please go back to the service's website.",
    notice_unavailable: "We couldn't reach the payment company. You won't be charged twice; please try again shortly.",
    notice_remind_limit: "Reminders can't be postponed any further.",
    notice_attempt_limit: "No more payment attempts today. Try again tomorrow, or register another card.",
    notice_maintenance: "Card companies are in their nightly maintenance (23:30-00:40 KST). Please try again after 00:40.",
    notice_new_card: "This card can't be charged again. Please register a new card.",
    notice_not_payable_here: "Payment isn't available here right now. The service will help you with it.",
    notice_bad_date: "That date isn't available. Please pick one within the range shown.",
    notice_date_limit: "The payment date can't be moved again.",
    notice_auth_canceled: "Card registration was canceled.",
    notice_auth_failed: "We couldn't register that card. Please try another one.",
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
    remind_left: |n| format!("{n} left"),
    date_hint: |a, b| format!("Choose a date from {a} to {b}."),
    date_changed_body: |d| format!("We'll try the payment again on {d}."),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lang_param_picks_english_only_for_en() {
        assert_eq!(Lang::from_param(Some("EN")), Lang::En);
        assert_eq!(Lang::from_param(Some("fr")), Lang::Ko);
        assert_eq!(Lang::from_param(None), Lang::Ko);
        assert_eq!((Lang::En.strings().remind_left)(2), "2 left");
        assert_eq!((Lang::Ko.strings().remind_left)(2), "2회 남음");
    }
}
