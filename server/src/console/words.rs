//! The console's words for every status, channel, decline and reason, in
//! Korean and English, in one place: a page shows these, and the stored
//! code only beside them, smaller (`code`), for support and searches.

use leptos::prelude::*;

use super::layout::Lang;
use crate::domain::actions::CaseAction;
use crate::domain::case::{CaseStatus, ChargeSource, ChargeStatus, StageStatus};
use crate::domain::decline::DeclineClass;
use crate::domain::event::DeliveryStatus;
use crate::domain::retry::Stop;
use crate::domain::scenario::Channel;

/// A stored code, shown small beside its words.
pub fn code(text: impl Into<String>) -> impl IntoView {
    view! { <small class="code">{text.into()}</small> }
}

pub fn case_status(status: CaseStatus, lang: Lang) -> &'static str {
    match status {
        CaseStatus::Open => lang.t("진행 중", "Open"),
        CaseStatus::Paying => lang.t("결제 중", "Paying"),
        CaseStatus::Recovered => lang.t("회수됨", "Recovered"),
        CaseStatus::Ended => lang.t("시나리오 종료", "Scenario ended"),
        CaseStatus::Canceled => lang.t("해지", "Canceled"),
    }
}

/// What recovered a case: a charge of ours (its source), or the partner
/// (recovered with no charge of ours). Empty otherwise.
pub fn source(source: Option<ChargeSource>, recovered: bool, lang: Lang) -> &'static str {
    match (source, recovered) {
        (Some(ChargeSource::Retry), _) => lang.t("자동 재시도", "Silent retry"),
        (Some(ChargeSource::Page), _) => lang.t("결제 페이지", "Recovery page"),
        (Some(ChargeSource::MethodChange), _) => lang.t("카드 변경", "Card change"),
        (Some(ChargeSource::ScheduledDate), _) => lang.t("선택한 날짜", "Chosen date"),
        (Some(ChargeSource::Console), _) => lang.t("콘솔", "Console"),
        (None, true) => lang.t("파트너", "Partner"),
        (None, false) => "",
    }
}

/// Why a case gets no more silent charges.
pub fn stop(stop: Stop, lang: Lang) -> &'static str {
    match stop {
        Stop::Disabled => lang.t("자동 재시도 꺼짐", "Retries off"),
        Stop::HardDecline => lang.t(
            "카드 영구 거절: 새 카드 필요",
            "Declined for good: a new card is needed",
        ),
        Stop::SetupDecline => lang.t("PG 설정 오류", "PG setup refused"),
        Stop::Budget => lang.t(
            "카드의 30일 시도 한도 소진",
            "The card's 30-day attempts used up",
        ),
        Stop::UnknownLimit => lang.t("알 수 없는 거절 반복", "Repeated unreadable declines"),
        Stop::LadderDone => lang.t("재시도 일정 끝", "Every retry step tried"),
        Stop::NoBillingKey => lang.t("저장된 카드 없음", "No card on file"),
        Stop::Holdout => lang.t(
            "실험 대조군: 자동 재시도 없음",
            "Experiment holdout: no retries",
        ),
        Stop::NoAdapter => lang.t(
            "이 주문의 PG에 결제 계정 없음",
            "No gateway account for the order's PG",
        ),
        Stop::NoCustomerKey => lang.t(
            "토스 고객 키(customerKey) 모름",
            "Toss customer key unknown",
        ),
        Stop::SubscriptionCanceled => lang.t("구독 해지됨", "Subscription canceled"),
        Stop::Superseded => lang.t("새 케이스로 넘어감", "Carried by a newer case"),
        Stop::OlderCase => lang.t(
            "자동 재시도 이전에 열린 케이스 (운영자가 켜야 함)",
            "Opened before silent retries (an operator must opt in)",
        ),
    }
}

/// StepPay's order statuses, as the partner reported them or a charge of
/// ours set them. Another partner's word is shown as it came.
pub fn order_status(status: &str, lang: Lang) -> Option<&'static str> {
    Some(match status {
        "CREATED" => lang.t("생성됨", "Created"),
        "PAID" => lang.t("결제 완료", "Paid"),
        "PAYMENT_FAILURE" => lang.t("결제 실패", "Payment failed"),
        "UNPAID" => lang.t("미결제", "Unpaid"),
        "CANCELED" => lang.t("취소됨", "Canceled"),
        _ => return None,
    })
}

pub fn channel(channel: Channel, lang: Lang) -> &'static str {
    match channel {
        Channel::Alimtalk => lang.t("카카오 알림톡", "KakaoTalk AlimTalk"),
        Channel::Sms => lang.t("문자", "SMS"),
    }
}

pub fn stage_status(status: StageStatus, lang: Lang) -> &'static str {
    match status {
        StageStatus::Sending => lang.t("보내는 중", "Sending"),
        StageStatus::Sent => lang.t("발송됨", "Sent"),
        StageStatus::Failed => lang.t("발송 실패", "Failed to send"),
        StageStatus::Skipped => lang.t("건너뜀 (케이스 종료)", "Skipped (the case closed)"),
    }
}

pub fn charge_status(status: ChargeStatus, lang: Lang) -> &'static str {
    match status {
        ChargeStatus::Pending => lang.t("결과 확인 중", "Awaiting the answer"),
        ChargeStatus::Succeeded => lang.t("결제됨", "Charged"),
        ChargeStatus::Failed => lang.t("거절됨", "Declined"),
        ChargeStatus::NeedsRefund => lang.t("환불 필요", "Needs a refund"),
        ChargeStatus::Refunding => lang.t("환불 중", "Refunding"),
        ChargeStatus::Refunded => lang.t("환불됨", "Refunded"),
    }
}

pub fn decline_class(class: DeclineClass, lang: Lang) -> &'static str {
    match class {
        DeclineClass::Soft => lang.t("일시 거절 (다시 시도)", "Soft (worth retrying)"),
        DeclineClass::Hard => lang.t("영구 거절 (새 카드 필요)", "Hard (a new card is needed)"),
        DeclineClass::Setup => lang.t("PG 설정 오류", "PG setup"),
        DeclineClass::Unknown => lang.t("알 수 없는 거절", "Unknown"),
    }
}

/// Decline codes Rebound writes itself (a PG's own codes are its words,
/// shown with their class).
pub fn own_decline_code(code: &str, lang: Lang) -> Option<&'static str> {
    Some(match code {
        "NO_BILLING_KEY" => lang.t("저장된 카드 없음", "No card on file"),
        _ => return None,
    })
}

pub fn delivery(status: DeliveryStatus, lang: Lang) -> &'static str {
    match status {
        DeliveryStatus::Delivered => lang.t("전달됨", "Delivered"),
        DeliveryStatus::Pending => lang.t("전송 대기·재시도 중", "Waiting or retrying"),
        DeliveryStatus::Failed => lang.t("실패 (재시도 끝)", "Failed (retries ran out)"),
        DeliveryStatus::Disabled => lang.t("중단 (410 응답)", "Stopped (endpoint answered 410)"),
        DeliveryStatus::NoEndpoint => lang.t("알림 URL 없음", "No notify URL"),
    }
}

/// A notice's type, for a person.
pub fn notice_type(event_type: &str, lang: Lang) -> Option<&'static str> {
    Some(match event_type {
        "payment.completed" => lang.t("결제 완료", "Payment completed"),
        "payment_method.changed" => lang.t("결제 수단 변경", "Card changed"),
        "payment_date.changed" => lang.t("결제일 변경", "Payment date changed"),
        "reminder.scheduled" => lang.t("나중에 알림", "Reminder scheduled"),
        "stage.sent" => lang.t("메시지 발송", "Message sent"),
        "subscription.status_changed" => lang.t("구독 상태 변경", "Subscription status changed"),
        "case.closed" => lang.t("케이스 종료", "Case closed"),
        "gateway.problem" => lang.t("PG 설정 문제", "Gateway problem"),
        "payment.refund_needed" => lang.t("환불 필요", "Refund needed"),
        "payment.refunded" => lang.t("환불됨", "Refunded"),
        "settings.changed" => lang.t("설정 변경", "Settings changed"),
        _ => return None,
    })
}

/// A console case action's name.
pub fn action(action: CaseAction, lang: Lang) -> &'static str {
    match action {
        CaseAction::PauseMessages => lang.t("메시지 일시정지", "Pause messages"),
        CaseAction::ResumeMessages => lang.t("메시지 다시 보내기 시작", "Resume messages"),
        CaseAction::RetryNow => lang.t("지금 결제 재시도", "Retry the charge now"),
        CaseAction::ResendStage => {
            lang.t("현재 단계 메시지 다시 보내기", "Resend the current stage")
        }
        CaseAction::MarkPaid => lang.t("다른 곳에서 결제됨으로 표시", "Mark paid elsewhere"),
        CaseAction::Cancel => lang.t("케이스 해지", "Cancel the case"),
        CaseAction::Refund => lang.t("결제 환불", "Refund the charge"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words differ per value within a kind and per language: a page never
    /// says the same thing for two statuses, nor Korean in English.
    fn distinct(words: Vec<(&'static str, &'static str)>) {
        let ko: std::collections::HashSet<_> = words.iter().map(|w| w.0).collect();
        let en: std::collections::HashSet<_> = words.iter().map(|w| w.1).collect();
        assert_eq!(ko.len(), words.len(), "{words:?}");
        assert_eq!(en.len(), words.len(), "{words:?}");
        for (k, e) in words {
            assert!(!k.is_empty() && !e.is_empty());
            assert!(e.is_ascii(), "{e}");
            assert!(!k.is_ascii() || k == e || k == "SMS", "{k}");
        }
    }

    fn both<T: Copy>(
        all: &[T],
        f: impl Fn(T, Lang) -> &'static str,
    ) -> Vec<(&'static str, &'static str)> {
        all.iter()
            .map(|v| (f(*v, Lang::Ko), f(*v, Lang::En)))
            .collect()
    }

    #[test]
    fn every_status_channel_decline_and_reason_has_words_in_both_languages() {
        distinct(both(CaseStatus::ALL, case_status));
        distinct(both(StageStatus::ALL, stage_status));
        distinct(both(ChargeStatus::ALL, charge_status));
        distinct(both(DeclineClass::ALL, decline_class));
        distinct(both(DeliveryStatus::ALL, delivery));
        distinct(both(Stop::ALL, stop));
        distinct(both(CaseAction::ALL, action));
        distinct(both(&[Channel::Alimtalk, Channel::Sms], channel));
        let orders = ["CREATED", "PAID", "PAYMENT_FAILURE", "UNPAID", "CANCELED"];
        distinct(
            orders
                .iter()
                .map(|o| {
                    (
                        order_status(o, Lang::Ko).unwrap(),
                        order_status(o, Lang::En).unwrap(),
                    )
                })
                .collect(),
        );
        assert_eq!(order_status("SOMETHING_ELSE", Lang::Ko), None);
        let types = [
            "payment.completed",
            "payment_method.changed",
            "payment_date.changed",
            "reminder.scheduled",
            "stage.sent",
            "subscription.status_changed",
            "case.closed",
            "gateway.problem",
            "payment.refund_needed",
            "payment.refunded",
            "settings.changed",
        ];
        distinct(
            types
                .iter()
                .map(|t| {
                    (
                        notice_type(t, Lang::Ko).unwrap(),
                        notice_type(t, Lang::En).unwrap(),
                    )
                })
                .collect(),
        );
        assert!(own_decline_code("NO_BILLING_KEY", Lang::En).is_some());
    }
}
