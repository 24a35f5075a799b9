//! A partner's settings that can send customers or money elsewhere, and
//! their history (issue 24, item 1): which setting changed, from what to
//! what, and the `settings.changed` notice that tells the partner. Secrets
//! are never values here: a rotation is recorded as one. Pure: no SQL.

use serde_json::{Value, json};

use super::case::UnknownText;

/// What changed. Stored as text (`settings_changes.setting`) in one
/// mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// The origins allowed to embed the recovery page.
    Origins,
    /// Where message links send customers (with their token).
    RecoveryUrl,
    /// Where notices (with billing keys) go.
    NotifyUrl,
    SecretToken,
    WebhookSecret,
    /// The partner's own account at a PG (the value names it, never its
    /// secret).
    GatewayAccount,
    /// A console user of the partner (added, role, turned off).
    User,
}

impl Setting {
    pub const ALL: [Setting; 7] = [
        Setting::Origins,
        Setting::RecoveryUrl,
        Setting::NotifyUrl,
        Setting::SecretToken,
        Setting::WebhookSecret,
        Setting::GatewayAccount,
        Setting::User,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Setting::Origins => "origins",
            Setting::RecoveryUrl => "recovery_url",
            Setting::NotifyUrl => "notify_url",
            Setting::SecretToken => "secret_token",
            Setting::WebhookSecret => "webhook_secret",
            Setting::GatewayAccount => "gateway_account",
            Setting::User => "user",
        }
    }

    pub fn parse(raw: &str) -> Result<Setting, UnknownText> {
        Setting::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| UnknownText {
                kind: "setting",
                value: raw.to_owned(),
            })
    }

    /// Its name in the console, Korean and English.
    pub fn words(self) -> (&'static str, &'static str) {
        match self {
            Setting::Origins => ("임베드 출처", "Embedding origins"),
            Setting::RecoveryUrl => ("회수 페이지 URL", "Recovery page URL"),
            Setting::NotifyUrl => ("알림 URL", "Notify URL"),
            Setting::SecretToken => ("Secret-Token", "Secret-Token"),
            Setting::WebhookSecret => ("알림 서명 비밀키", "Notice signing secret"),
            Setting::GatewayAccount => ("결제 계정", "Gateway account"),
            Setting::User => ("콘솔 사용자", "Console user"),
        }
    }
}

/// The value a secret's rotation records, before and after: never the
/// secret.
pub const ROTATED: &str = "(rotated)";

/// One change: the setting, its value before and after (`None`: unset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingChange {
    pub setting: Setting,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl SettingChange {
    /// A change if the value differs; `None` when saving left it as it was.
    pub fn of(setting: Setting, old: Option<&str>, new: Option<&str>) -> Option<SettingChange> {
        (old != new).then(|| SettingChange {
            setting,
            old: old.map(str::to_owned),
            new: new.map(str::to_owned),
        })
    }

    /// A secret rotated: recorded without either value.
    pub fn rotated(setting: Setting) -> SettingChange {
        SettingChange {
            setting,
            old: None,
            new: Some(ROTATED.to_owned()),
        }
    }
}

/// The partner's URLs and origins as a form saves them together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerUrls {
    /// The stored form (space-separated), as `AllowedOrigins::to_stored`.
    pub origins: String,
    pub recovery_url: Option<String>,
    pub notify_url: Option<String>,
}

/// What saving `new` over `old` changes, in a fixed order.
pub fn url_changes(old: &PartnerUrls, new: &PartnerUrls) -> Vec<SettingChange> {
    [
        SettingChange::of(
            Setting::Origins,
            Some(old.origins.as_str()),
            Some(new.origins.as_str()),
        ),
        SettingChange::of(
            Setting::RecoveryUrl,
            old.recovery_url.as_deref(),
            new.recovery_url.as_deref(),
        ),
        SettingChange::of(
            Setting::NotifyUrl,
            old.notify_url.as_deref(),
            new.notify_url.as_deref(),
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Where the `settings.changed` notice goes besides the partner's current
/// notify URL: the one these changes replaced, so whoever changed it
/// cannot hide the change from the partner's own backend.
pub fn replaced_notify_url(changes: &[SettingChange]) -> Option<&str> {
    changes
        .iter()
        .find(|c| c.setting == Setting::NotifyUrl)
        .and_then(|c| c.old.as_deref())
}

/// The `settings.changed` notice body: the envelope of the other notices
/// (`noti_type`, `id`, `tid`, `txn_time`, `livemode`) without a
/// subscription (`sequence` 0, no `access`).
pub fn notice_body(
    changes: &[SettingChange],
    by: &str,
    webhook_id: &str,
    now_ms: i64,
    livemode: bool,
) -> Value {
    let items: Vec<Value> = changes
        .iter()
        .map(|c| json!({ "setting": c.setting.as_str(), "old": c.old, "new": c.new }))
        .collect();
    json!({
        "noti_type": NOTICE_TYPE,
        "id": webhook_id,
        "tid": webhook_id,
        "txn_time": now_ms,
        "sequence": 0,
        "livemode": livemode,
        "data": { "changes": items, "changed_by": by },
    })
}

/// The notice's `noti_type`.
pub const NOTICE_TYPE: &str = "settings.changed";

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(origins: &str, recovery: Option<&str>, notify: Option<&str>) -> PartnerUrls {
        PartnerUrls {
            origins: origins.into(),
            recovery_url: recovery.map(Into::into),
            notify_url: notify.map(Into::into),
        }
    }

    #[test]
    fn saving_records_only_what_changed_in_a_fixed_order() {
        let old = urls("https://a.example", Some("https://a.example/r"), None);
        assert!(url_changes(&old, &old).is_empty(), "saved as it was");
        let new = urls(
            "https://b.example",
            Some("https://a.example/r"),
            Some("https://b.example/hook"),
        );
        let changes = url_changes(&old, &new);
        assert_eq!(
            changes,
            vec![
                SettingChange {
                    setting: Setting::Origins,
                    old: Some("https://a.example".into()),
                    new: Some("https://b.example".into()),
                },
                SettingChange {
                    setting: Setting::NotifyUrl,
                    old: None,
                    new: Some("https://b.example/hook".into()),
                },
            ]
        );
        assert_eq!(replaced_notify_url(&changes), None, "there was none");
    }

    #[test]
    fn the_replaced_notify_url_is_told_too() {
        let old = urls("o", None, Some("https://old.example/hook"));
        let new = urls("o", None, Some("https://evil.example/hook"));
        assert_eq!(
            replaced_notify_url(&url_changes(&old, &new)),
            Some("https://old.example/hook")
        );
        let cleared = urls("o", None, None);
        assert_eq!(
            replaced_notify_url(&url_changes(&old, &cleared)),
            Some("https://old.example/hook"),
            "clearing it is a change the old URL hears of"
        );
    }

    #[test]
    fn a_rotation_records_no_secret_and_the_notice_names_who() {
        let c = SettingChange::rotated(Setting::SecretToken);
        assert_eq!((c.old.as_deref(), c.new.as_deref()), (None, Some(ROTATED)));
        let body = notice_body(&[c], "admin@acme.example", "msg_1", 5, false);
        assert_eq!(body["noti_type"], "settings.changed");
        assert_eq!(body["data"]["changed_by"], "admin@acme.example");
        assert_eq!(body["data"]["changes"][0]["setting"], "secret_token");
        assert_eq!(body["data"]["changes"][0]["new"], ROTATED);
        assert_eq!(body["sequence"], 0);
        assert!(body.get("access").is_none(), "about no subscription");
    }

    #[test]
    fn every_setting_reads_back_from_its_stored_text() {
        for s in Setting::ALL {
            assert_eq!(Setting::parse(s.as_str()).unwrap(), s);
            assert!(!s.words().0.is_empty() && !s.words().1.is_empty());
        }
        assert!(Setting::parse("password").is_err());
    }
}
