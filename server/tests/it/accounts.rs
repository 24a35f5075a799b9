//! Console accounts and sessions in the store (issue 15, item 1), on
//! SQLite and Postgres: one account per address, sessions stored hashed,
//! ended by idleness, age, sign-out or a password change.

use crate::common;

use common::{TestApp, create_partner};
use rebound::domain::account::{
    Email, NewPassword, PartnerRole, Role, SESSION_IDLE_MS, SESSION_MAX_MS, password_matches,
};
use rebound::domain::token::{TokenHash, new_session_id};

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

#[tokio::test]
async fn an_operator_signs_in_and_the_session_lives_until_idle_or_old() {
    let app = TestApp::builder().spawn().await;
    let now = app.clock.now_ms();
    let hash = NewPassword::parse("correct horse battery").unwrap().hash();
    let admin = app
        .store
        .create_console_user(
            &email("admin@example.com"),
            &hash,
            Role::Operator,
            "test",
            now,
        )
        .await
        .unwrap()
        .expect("created");
    assert_eq!(admin.role, Role::Operator);
    assert!(
        app.store
            .create_console_user(
                &email("ADMIN@example.com"),
                &hash,
                Role::Operator,
                "test",
                now
            )
            .await
            .unwrap()
            .is_none(),
        "one account per address, whatever the case"
    );
    let found = app
        .store
        .console_user_by_email(&email("Admin@Example.com"))
        .await
        .unwrap()
        .unwrap();
    assert!(password_matches(
        "correct horse battery",
        &found.password_hash
    ));
    assert!(
        !found.password_hash.contains("correct horse"),
        "hashed at rest"
    );

    let id = new_session_id();
    app.store
        .create_console_session(admin.id, &TokenHash::of(&id), &admin.password_hash, now)
        .await
        .unwrap();
    // Used an hour later, then an hour and a half after that: still alive.
    let key = TokenHash::of(&id);
    let at = |ms| app.store.console_session(&key, ms);
    assert_eq!(
        at(now + 3_600_000).await.unwrap().map(|u| u.id),
        Some(admin.id)
    );
    assert!(at(now + 9_000_000).await.unwrap().is_some());
    // Idle too long: gone, and stays gone.
    assert!(
        at(now + 9_000_000 + SESSION_IDLE_MS)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        at(now + 9_000_001).await.unwrap().is_none(),
        "deleted, not just refused"
    );

    // However active, a session ends twelve hours after sign-in.
    let busy = new_session_id();
    app.store
        .create_console_session(admin.id, &TokenHash::of(&busy), &admin.password_hash, now)
        .await
        .unwrap();
    let mut t = now;
    while t + 3_600_000 < now + SESSION_MAX_MS {
        t += 3_600_000;
        assert!(
            app.store
                .console_session(&TokenHash::of(&busy), t)
                .await
                .unwrap()
                .is_some()
        );
    }
    assert!(
        app.store
            .console_session(&TokenHash::of(&busy), now + SESSION_MAX_MS)
            .await
            .unwrap()
            .is_none()
    );
    // The raw id is never what the store holds.
    assert!(
        app.store
            .console_session(&TokenHash(id.clone()), now)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn sign_out_ends_one_session_and_a_new_password_ends_them_all() {
    let app = TestApp::builder().spawn().await;
    let now = app.clock.now_ms();
    let (partner, _) = create_partner(&app.store, "globex", &[common::PARTNER_ORIGIN]).await;
    let hash = NewPassword::parse("a partner's long password")
        .unwrap()
        .hash();
    let user = app
        .store
        .create_console_user(
            &email("ops@globex.example"),
            &hash,
            Role::Partner(partner.id, PartnerRole::Admin),
            "test",
            now,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.role, Role::Partner(partner.id, PartnerRole::Admin));
    let (phone, laptop, tablet) = (new_session_id(), new_session_id(), new_session_id());
    for s in [&phone, &laptop, &tablet] {
        assert!(
            app.store
                .create_console_session(user.id, &TokenHash::of(s), &user.password_hash, now)
                .await
                .unwrap()
        );
    }
    app.store
        .end_console_session(&TokenHash::of(&phone))
        .await
        .unwrap();
    let keys: Vec<TokenHash> = [&phone, &laptop, &tablet]
        .iter()
        .map(|s| TokenHash::of(s))
        .collect();
    let alive = |i: usize| app.store.console_session(&keys[i], now + 1);
    assert!(alive(0).await.unwrap().is_none(), "signed out");
    assert!(alive(1).await.unwrap().is_some(), "the others stay");
    let new_hash = NewPassword::parse("another long password").unwrap().hash();
    assert!(
        app.store
            .set_console_password(user.id, &new_hash, now + 2)
            .await
            .unwrap()
    );
    assert!(
        alive(1).await.unwrap().is_none(),
        "a new password ends every session"
    );
    assert!(alive(2).await.unwrap().is_none());
    // A sign-in that checked the old password while it was being changed
    // starts no session: the change ended them all, this late one too.
    let late = new_session_id();
    assert!(
        !app.store
            .create_console_session(user.id, &TokenHash::of(&late), &user.password_hash, now + 3)
            .await
            .unwrap(),
        "minted with the password just changed"
    );
    assert!(
        app.store
            .console_session(&TokenHash::of(&late), now + 4)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        app.store
            .create_console_session(user.id, &TokenHash::of(&late), &new_hash, now + 3)
            .await
            .unwrap(),
        "with the new one it starts"
    );
    let found = app
        .store
        .console_user_by_email(&email("ops@globex.example"))
        .await
        .unwrap()
        .unwrap();
    assert!(password_matches(
        "another long password",
        &found.password_hash
    ));
    assert!(!password_matches(
        "a partner's long password",
        &found.password_hash
    ));
}
