//! Declines, by what to do about them. Each gateway's codes map to a class
//! in a table; a code not in the table is `unknown` (a few retries), never
//! guessed from its text. Pure.

use super::case::stored_enum;

stored_enum!(
    /// What a decline says about retrying (`charges.decline_class`).
    DeclineClass, "decline class" {
        /// Retry: the card works, just not now.
        Soft => "soft",
        /// This billing key will never work again: ask for a new card. Also
        /// a key the PG will not charge for us (issued under another
        /// customer key, deleted, foreign): it condemns that key only.
        Hard => "hard",
        /// The PG refused the merchant's credentials: every charge of the
        /// partner would fail. Repeated across cases, the partner's charges
        /// stop and the operator is told.
        Setup => "setup",
        /// Nothing known: a few retries.
        Unknown => "unknown",
    }
);

/// When a soft decline's card is worth trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wait {
    /// Over the limit or out of balance: on the next payday.
    Payday,
    /// The card's daily count is used up: tomorrow.
    NextDay,
    /// The card company is in maintenance: after its night window.
    AfterMaintenance,
    /// A passing failure at the card company or the PG: soon.
    Soon,
}

/// A classified decline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decline {
    Soft(Wait),
    Hard,
    Setup,
    Unknown,
}

impl Decline {
    pub fn class(self) -> DeclineClass {
        match self {
            Decline::Soft(_) => DeclineClass::Soft,
            Decline::Hard => DeclineClass::Hard,
            Decline::Setup => DeclineClass::Setup,
            Decline::Unknown => DeclineClass::Unknown,
        }
    }
}

/// Whose codes a decline carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSource {
    /// Toss Payments' billing API (and the sandbox, which speaks its codes).
    Toss,
    /// The partner's `errorCode` on a failed order: StepPay and Toss-style
    /// codes from the partner's own PG integration, matched without case.
    Partner,
}

/// Toss Payments' billing error codes, as Toss documents them.
const TOSS: &[(&str, Decline)] = &[
    ("INVALID_CARD_EXPIRATION", Decline::Hard),
    ("INVALID_STOPPED_CARD", Decline::Hard),
    ("INVALID_CARD_LOST_OR_STOLEN", Decline::Hard),
    ("INVALID_CARD_NUMBER", Decline::Hard),
    ("NOT_SUPPORTED_CARD_TYPE", Decline::Hard),
    ("INVALID_REJECT_CARD", Decline::Hard),
    // These two condemn one billing key (issued under another customer
    // key, deleted, or not this merchant's): the customer needs a new card;
    // the partner's other customers are fine.
    ("NOT_MATCHES_CUSTOMER_KEY", Decline::Hard),
    ("INVALID_BILL_KEY_REQUEST", Decline::Hard),
    // Our credentials: nothing of the partner's can be charged.
    ("UNAUTHORIZED_KEY", Decline::Setup),
    ("INVALID_API_KEY", Decline::Setup),
    ("REJECT_CARD_PAYMENT", Decline::Soft(Wait::Payday)),
    (
        "EXCEED_MAX_DAILY_PAYMENT_COUNT",
        Decline::Soft(Wait::NextDay),
    ),
    (
        "NOT_AVAILABLE_PAYMENT",
        Decline::Soft(Wait::AfterMaintenance),
    ),
    ("FAILED_CARD_COMPANY_RESPONSE", Decline::Soft(Wait::Soon)),
    ("PROVIDER_ERROR", Decline::Soft(Wait::Soon)),
    ("COMMON_ERROR", Decline::Soft(Wait::Soon)),
    ("REJECT_CARD_COMPANY", Decline::Unknown),
];

/// Other spellings partners send for the same things (StepPay passes its
/// PG's code through; some integrations send generic names).
const PARTNER_ALIASES: &[(&str, Decline)] = &[
    ("INSUFFICIENT_FUNDS", Decline::Soft(Wait::Payday)),
    ("EXCEED_LIMIT", Decline::Soft(Wait::Payday)),
    ("EXPIRED_CARD", Decline::Hard),
    ("LOST_CARD", Decline::Hard),
    ("STOLEN_CARD", Decline::Hard),
    ("DO_NOT_HONOR", Decline::Unknown),
];

/// PortOne V2's own error types (its API's refusals, before any PG).
const PORTONE: &[(&str, Decline)] = &[
    // The key is gone or not this store's: that customer needs a new card.
    ("BILLING_KEY_NOT_FOUND", Decline::Hard),
    ("BILLING_KEY_ALREADY_DELETED", Decline::Hard),
    // Our credentials or the store's set-up: every charge would fail.
    ("UNAUTHORIZED", Decline::Setup),
    ("FORBIDDEN", Decline::Setup),
    ("CHANNEL_NOT_FOUND", Decline::Setup),
    ("STORE_NOT_FOUND", Decline::Setup),
    // A PG refusal that carried no code of the PG's.
    ("PG_PROVIDER", Decline::Unknown),
    ("PAYMENT_FAILED", Decline::Unknown),
];

/// PG codes PortOne passes through (`PG_PROVIDER:<pgCode>`), from the
/// PGs' code books (PortOne ships KCP's and Inicis's; NICE's manual). PortOne
/// has no unified taxonomy and the books' codes do not collide; a code not
/// here is unknown (NICE's issuer declines all come as 3095 with the card
/// company's own words: unknown). Toss's codes come through unchanged and
/// are read by Toss's table.
const PORTONE_PG_CODES: &[(&str, Decline)] = &[
    // NICE Payments.
    ("3011", Decline::Hard),             // 카드번호 오류
    ("3021", Decline::Hard),             // 유효기간 오류
    ("F112", Decline::Hard),             // 유효하지 않은 카드번호
    ("F118", Decline::Hard),             // 사용이 불가능한 카드
    ("A124", Decline::Hard),             // 빌키 없음
    ("A125", Decline::Hard),             // 빌키 오류
    ("A126", Decline::Hard),             // 빌키 삭제
    ("U115", Decline::Hard),             // 빌키 오류
    ("U309", Decline::Hard),             // 빌키 오류
    ("3012", Decline::Setup),            // 카드 가맹점 정보 없음
    ("3013", Decline::Setup),            // 카드 가맹점 미개시
    ("3014", Decline::Setup),            // 카드 가맹점 정보 오류
    ("2151", Decline::Setup),            // 거래정지 가맹점
    ("2152", Decline::Setup),            // 미등록 가맹점
    ("F115", Decline::Setup),            // 빌링 중지 가맹점
    ("F116", Decline::Setup),            // 빌링 해지 가맹점
    ("F117", Decline::Setup),            // 빌링 미사용 가맹점
    ("U304", Decline::Setup),            // 인증 실패
    ("U305", Decline::Setup),            // 인증 실패
    ("2159", Decline::Soft(Wait::Soon)), // 은행 장애
    ("A401", Decline::Soft(Wait::Soon)), // 외부 연동 오류
    ("U501", Decline::Soft(Wait::Soon)), // 통신 오류
    ("U508", Decline::Soft(Wait::Soon)), // 통신 오류
    ("X002", Decline::Soft(Wait::Soon)), // 소켓 오류
    // NHN KCP.
    ("CC04", Decline::Hard),                // 분실 혹은 거래불가 카드
    ("CC43", Decline::Hard),                // 도난카드
    ("CC45", Decline::Hard),                // 정지카드
    ("CC14", Decline::Hard),                // 카드번호 오류
    ("8108", Decline::Hard),                // 카드번호 오류
    ("CC54", Decline::Hard),                // 유효기간 만료
    ("CC55", Decline::Hard),                // 유효기간 오류
    ("8484", Decline::Hard),                // 유효기간 오류
    ("8181", Decline::Hard),                // 블랙리스트
    ("8182", Decline::Hard),                // 부정 사용 의심
    ("CC07", Decline::Soft(Wait::Payday)),  // 1회 한도초과
    ("CC08", Decline::Soft(Wait::NextDay)), // 1일 한도초과
    ("CC61", Decline::Soft(Wait::Payday)),  // 거래금액 한도초과
    ("CC10", Decline::Soft(Wait::Payday)),  // 잔액부족
    ("8186", Decline::Soft(Wait::NextDay)), // 일 최대승인한도초과
    ("8188", Decline::Soft(Wait::Payday)),  // 월 최대승인한도초과
    ("CC72", Decline::Soft(Wait::Soon)),    // 카드사 TIMEOUT
    ("CC98", Decline::Soft(Wait::Soon)),    // 카드사 시스템 장애
    ("CC99", Decline::Soft(Wait::Soon)),    // KCP 시스템 장애
    ("CCC0", Decline::Soft(Wait::AfterMaintenance)), // 카드사 시스템 점검 중
    ("CC21", Decline::Setup),               // 미등록 가맹점
    ("CC33", Decline::Setup),               // 가맹점 취급 불가 카드
    ("8121", Decline::Setup),               // 가맹점 설정 오류
    ("8127", Decline::Setup),               // 가맹점 설정 오류
    ("CC62", Decline::Setup),               // 가맹점 한도초과
    ("8041", Decline::Soft(Wait::Soon)),    // 타임아웃·통신 오류
    ("8042", Decline::Soft(Wait::Soon)),    // 타임아웃·통신 오류
    ("8043", Decline::Soft(Wait::Soon)),    // 타임아웃·통신 오류
    ("8044", Decline::Soft(Wait::Soon)),    // 타임아웃·통신 오류
    ("8045", Decline::Soft(Wait::Soon)),    // 타임아웃·통신 오류
    ("8046", Decline::Soft(Wait::Soon)),    // 타임아웃·통신 오류
    ("8047", Decline::Soft(Wait::Soon)),    // 타임아웃·통신 오류
    ("8048", Decline::Soft(Wait::Soon)),    // 타임아웃·통신 오류
    ("8171", Decline::Soft(Wait::Soon)),    // 점검·통신 오류
    ("8172", Decline::Soft(Wait::Soon)),    // 점검·통신 오류
    ("8173", Decline::Soft(Wait::Soon)),    // 점검·통신 오류
    ("8174", Decline::Soft(Wait::Soon)),    // 점검·통신 오류
    ("8175", Decline::Soft(Wait::Soon)),    // 점검·통신 오류
    ("8314", Decline::Soft(Wait::Soon)),    // 통신 오류
    ("8995", Decline::Soft(Wait::Soon)),    // 통신 오류
    ("8996", Decline::Soft(Wait::Soon)),    // 통신 오류
    ("8997", Decline::Soft(Wait::Soon)),    // 통신 오류
    // KG Inicis (four- and six-character card company codes).
    ("1226", Decline::Hard),                           // 도난, 분실카드
    ("120026", Decline::Hard),                         // 도난, 분실카드
    ("1201", Decline::Hard),                           // 거래제한(정지)카드
    ("120001", Decline::Hard),                         // 거래제한(정지)카드
    ("1200FW", Decline::Hard),                         // 거래정지카드
    ("1204", Decline::Hard),                           // 유효기간 만료
    ("1223", Decline::Hard),                           // 유효기간 오류
    ("1214", Decline::Hard),                           // 카드번호 오류
    ("1203", Decline::Hard),                           // 미등록카드
    ("12B2", Decline::Hard),                           // 해지카드
    ("12B3", Decline::Hard),                           // 회수카드
    ("1200IS", Decline::Hard),                         // 탈회 회원
    ("12F2", Decline::Hard),                           // 허위카드
    ("12FS", Decline::Hard),                           // 부정카드
    ("550997", Decline::Hard),                         // 조회되는 빌키 없음
    ("1202", Decline::Soft(Wait::NextDay)),            // 1일 사용한도 초과
    ("1216", Decline::Soft(Wait::Payday)),             // 월 사용한도 초과
    ("1237", Decline::Soft(Wait::Payday)),             // 1회 사용한도 초과
    ("120049", Decline::Soft(Wait::Payday)),           // 사용한도 초과
    ("1254", Decline::Soft(Wait::Payday)),             // 잔액부족
    ("12F1", Decline::Soft(Wait::Payday)),             // 승인가능금액 부족
    ("1210", Decline::Soft(Wait::Soon)),               // TIMEOUT
    ("1235", Decline::Soft(Wait::Soon)),               // 통신장애
    ("12A8", Decline::Soft(Wait::Soon)),               // 시스템장애
    ("1200B9", Decline::Soft(Wait::AfterMaintenance)), // 카드사 시스템 점검
    ("12E8", Decline::Soft(Wait::AfterMaintenance)),   // 참가기관 시스템 점검
    ("12F5", Decline::Soft(Wait::Soon)),               // 잠시후 재시도
    ("12F6", Decline::Soft(Wait::Soon)),               // 잠시후 재시도
    ("1207", Decline::Setup),                          // 거래정지 가맹점
    ("1208", Decline::Setup),                          // 미등록 가맹점
    ("1260", Decline::Setup),                          // 미등록 가맹점
    ("500400", Decline::Setup),                        // 미등록가맹점
    ("500403", Decline::Setup),                        // 가맹점 개시 안 됨
    ("550433", Decline::Setup),                        // 빌링 미사용 가맹점
    ("1229", Decline::Setup),                          // 가맹점 한도초과
    ("1240", Decline::Soft(Wait::Soon)),               // 통신·시스템 장애
    ("1241", Decline::Soft(Wait::Soon)),               // 통신·시스템 장애
    ("1242", Decline::Soft(Wait::Soon)),               // 통신·시스템 장애
    ("1243", Decline::Soft(Wait::Soon)),               // 통신·시스템 장애
    ("1244", Decline::Soft(Wait::Soon)),               // 통신·시스템 장애
    ("1245", Decline::Soft(Wait::Soon)),               // 통신·시스템 장애
    ("1246", Decline::Soft(Wait::Soon)),               // 통신·시스템 장애
    ("500050", Decline::Soft(Wait::Soon)),             // PG 통신 오류
    ("500051", Decline::Soft(Wait::Soon)),             // PG 통신 오류
    ("500052", Decline::Soft(Wait::Soon)),             // PG 통신 오류
    ("500053", Decline::Soft(Wait::Soon)),             // PG 통신 오류
    ("500054", Decline::Soft(Wait::Soon)),             // PG 통신 오류
    ("500055", Decline::Soft(Wait::Soon)),             // PG 통신 오류
];

/// The class of a PortOne decline code (`gateway::portone`).
pub fn classify_portone(code: &str) -> Decline {
    let code = code.trim();
    let find = |table: &[(&str, Decline)], code: &str| {
        table.iter().find(|(c, _)| *c == code).map(|(_, d)| *d)
    };
    match code.split_once(':') {
        Some((PORTONE_PG_PREFIX, pg_code)) => {
            find(PORTONE_PG_CODES, pg_code).or_else(|| find(TOSS, pg_code))
        }
        _ => find(PORTONE, code),
    }
    .unwrap_or(Decline::Unknown)
}

/// How a PG's own code is stored from PortOne: `PG_PROVIDER:<pgCode>`.
pub const PORTONE_PG_PREFIX: &str = "PG_PROVIDER";

/// The class of a decline code from `source`.
pub fn classify(source: CodeSource, code: &str) -> Decline {
    let code = code.trim();
    let find = |table: &[(&str, Decline)], code: &str| {
        table.iter().find(|(c, _)| *c == code).map(|(_, d)| *d)
    };
    match source {
        CodeSource::Toss => find(TOSS, code),
        CodeSource::Partner => {
            let upper = code.to_ascii_uppercase();
            find(TOSS, &upper).or_else(|| find(PARTNER_ALIASES, &upper))
        }
    }
    .unwrap_or(Decline::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portones_own_types_and_the_pgs_codes_it_passes_through() {
        let c = classify_portone;
        assert_eq!(c("BILLING_KEY_NOT_FOUND"), Decline::Hard, "one key");
        assert_eq!(c("BILLING_KEY_ALREADY_DELETED"), Decline::Hard);
        for setup in ["UNAUTHORIZED", "FORBIDDEN", "CHANNEL_NOT_FOUND"] {
            assert_eq!(c(setup), Decline::Setup, "{setup}");
        }
        assert_eq!(c("PG_PROVIDER"), Decline::Unknown, "no PG code");
        // NICE, KCP, Inicis, each class.
        assert_eq!(c("PG_PROVIDER:3021"), Decline::Hard);
        assert_eq!(c("PG_PROVIDER:CC10"), Decline::Soft(Wait::Payday));
        assert_eq!(c("PG_PROVIDER:8186"), Decline::Soft(Wait::NextDay));
        assert_eq!(c("PG_PROVIDER:CCC0"), Decline::Soft(Wait::AfterMaintenance));
        assert_eq!(c("PG_PROVIDER:1242"), Decline::Soft(Wait::Soon));
        assert_eq!(c("PG_PROVIDER:1226"), Decline::Hard);
        assert_eq!(
            c("PG_PROVIDER:CC62"),
            Decline::Setup,
            "the merchant's limit, not the card's"
        );
        assert_eq!(
            c("PG_PROVIDER:3095"),
            Decline::Unknown,
            "NICE's issuer decline"
        );
        // Toss through PortOne keeps Toss's codes.
        assert_eq!(
            c("PG_PROVIDER:REJECT_CARD_PAYMENT"),
            Decline::Soft(Wait::Payday)
        );
        assert_eq!(c("PG_PROVIDER:NEVER_SEEN"), Decline::Unknown);
        assert_eq!(c("SOMETHING_NEW"), Decline::Unknown);
    }

    #[test]
    fn the_pg_code_books_do_not_collide() {
        let mut seen = std::collections::HashSet::new();
        for (code, _) in PORTONE_PG_CODES {
            assert!(seen.insert(*code), "{code} twice");
            assert!(
                !TOSS.iter().any(|(t, _)| t == code),
                "{code} is also Toss's"
            );
        }
    }

    #[test]
    fn tosss_codes_by_what_to_do() {
        let c = |code| classify(CodeSource::Toss, code);
        for hard in [
            "INVALID_CARD_EXPIRATION",
            "INVALID_STOPPED_CARD",
            "INVALID_CARD_LOST_OR_STOLEN",
            "INVALID_CARD_NUMBER",
            "NOT_SUPPORTED_CARD_TYPE",
            "INVALID_REJECT_CARD",
            "NOT_MATCHES_CUSTOMER_KEY",
            "INVALID_BILL_KEY_REQUEST",
        ] {
            assert_eq!(
                c(hard),
                Decline::Hard,
                "{hard}: one key is dead, not the partner"
            );
        }
        for setup in ["UNAUTHORIZED_KEY", "INVALID_API_KEY"] {
            assert_eq!(c(setup), Decline::Setup, "{setup}: the credentials");
        }
        assert_eq!(c("REJECT_CARD_PAYMENT"), Decline::Soft(Wait::Payday));
        assert_eq!(
            c("EXCEED_MAX_DAILY_PAYMENT_COUNT"),
            Decline::Soft(Wait::NextDay)
        );
        assert_eq!(
            c("NOT_AVAILABLE_PAYMENT"),
            Decline::Soft(Wait::AfterMaintenance)
        );
        for soon in [
            "FAILED_CARD_COMPANY_RESPONSE",
            "PROVIDER_ERROR",
            "COMMON_ERROR",
        ] {
            assert_eq!(c(soon), Decline::Soft(Wait::Soon), "{soon}");
        }
        assert_eq!(c("REJECT_CARD_COMPANY"), Decline::Unknown);
        assert_eq!(c("SOMETHING_NEW"), Decline::Unknown);
        assert_eq!(
            c("reject_card_payment"),
            Decline::Unknown,
            "Toss's codes are exact"
        );
    }

    #[test]
    fn partner_codes_match_without_case_and_unknown_is_unknown() {
        let c = |code| classify(CodeSource::Partner, code);
        assert_eq!(c("reject_card_payment"), Decline::Soft(Wait::Payday));
        assert_eq!(c(" INSUFFICIENT_FUNDS "), Decline::Soft(Wait::Payday));
        assert_eq!(c("expired_card"), Decline::Hard);
        assert_eq!(c("UNAUTHORIZED_KEY"), Decline::Setup);
        assert_eq!(c("E1234"), Decline::Unknown);
        assert_eq!(c(""), Decline::Unknown);
        assert_eq!(c("카드 한도 초과"), Decline::Unknown, "text is not a code");
    }

    #[test]
    fn classes_are_stored_as_text() {
        assert_eq!(Decline::Soft(Wait::Soon).class().as_str(), "soft");
        assert_eq!(Decline::Hard.class(), DeclineClass::Hard);
        for c in DeclineClass::ALL {
            assert_eq!(DeclineClass::parse(c.as_str()), Ok(*c));
        }
    }
}
