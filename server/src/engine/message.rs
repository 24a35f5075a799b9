//! The text of each stage's message. Pure: the engine fills in the facts.

use app::money::format_krw;

/// What a stage's message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFacts<'a> {
    pub business_name: &'a str,
    pub customer_name: &'a str,
    pub product_name: &'a str,
    pub amount: i64,
    /// `YYYY-MM-DD` in Korean time.
    pub failed_on: &'a str,
    pub stage: i64,
    pub last_stage: bool,
    /// The saved card was declined for good (expired, stopped, lost): ask
    /// for a new one rather than to pay again.
    pub new_card: bool,
    pub link: &'a str,
}

/// AlimTalk-style text (Korean; the customer's language on the page is
/// chosen there).
pub fn render(f: &MessageFacts<'_>) -> String {
    let ask = if f.new_card {
        "등록된 카드로는 더 이상 결제할 수 없어요. 아래 링크에서 새 카드를 등록해 주세요."
    } else {
        "아래 링크에서 지금 결제하거나 결제 수단·결제일을 바꿀 수 있어요."
    };
    let closing = if f.last_stage {
        format!("마지막 안내예요. 결제가 완료되지 않으면 구독이 중단될 수 있어요.\n{ask}")
    } else {
        ask.to_owned()
    };
    format!(
        "[{business}] {name}님, {date}에 {product} 정기 결제({amount})가 실패했어요.\n{closing}\n{link}",
        business = f.business_name,
        name = f.customer_name,
        date = f.failed_on,
        product = f.product_name,
        amount = format_krw(f.amount, app::copy::Lang::Ko),
        link = f.link,
    )
}

/// The partner's recovery page with the token appended.
pub fn link(page_url: &str, token: &str) -> String {
    let sep = if page_url.contains('?') { '&' } else { '?' };
    format!("{page_url}{sep}token={token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_the_facts_and_the_link() {
        let text = render(&MessageFacts {
            business_name: "데모 상점",
            customer_name: "김길동",
            product_name: "프리미엄 멤버십",
            amount: 10_000,
            failed_on: "2026-11-22",
            stage: 1,
            last_stage: false,
            new_card: false,
            link: "https://shop.example.com/recovery?token=t",
        });
        assert!(text.contains("지금 결제하거나"));
        assert!(text.starts_with(
            "[데모 상점] 김길동님, 2026-11-22에 프리미엄 멤버십 정기 결제(10,000원)가 실패했어요."
        ));
        assert!(text.ends_with("https://shop.example.com/recovery?token=t"));
        let hard = render(&MessageFacts {
            business_name: "데모 상점",
            customer_name: "김길동",
            product_name: "프리미엄 멤버십",
            amount: 10_000,
            failed_on: "2026-11-22",
            stage: 4,
            last_stage: true,
            new_card: true,
            link: "https://shop.example.com/recovery?token=t",
        });
        assert!(hard.contains("마지막 안내"));
        assert!(hard.contains("새 카드를 등록해 주세요"), "{hard}");
        assert!(!hard.contains("지금 결제하거나"));
        assert_eq!(
            link("https://a.example/r?x=1", "t"),
            "https://a.example/r?x=1&token=t"
        );
    }
}
