//! What a partner page should do about an accepted message (design section 5).
//! No browser APIs here.

use protocol::Action;

/// The partner-side meaning of a page message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// `ready`: the page is up and its messages will arrive.
    Connected,
    /// `payment-complete`: turn the service back on (after the backend has
    /// confirmed it with our API or the signed notification).
    Reactivate,
    /// `change-date`: retry the payment on `selectedDate`.
    Reschedule,
    /// `change-method`: fetch the new idKey (`GET /order/{token}/idKey`).
    UpdateIdKey,
    /// `payment-failed`: show the reason.
    Notice,
    /// `redirect`: go to the partner's home page.
    Home,
    /// `resize`: set the iframe's height (the shell applies [`Sizer`]).
    Resize(u32),
}

impl Intent {
    pub fn of(action: &Action) -> Intent {
        match action {
            Action::Ready => Intent::Connected,
            Action::PaymentComplete { .. } => Intent::Reactivate,
            Action::ChangeDate { .. } => Intent::Reschedule,
            Action::ChangeMethod { .. } => Intent::UpdateIdKey,
            Action::PaymentFailed { .. } => Intent::Notice,
            Action::Redirect { .. } => Intent::Home,
            Action::Resize { height } => Intent::Resize(*height),
        }
    }

    /// The callback (`on` + capitalised name) and endpoint key for this intent.
    pub fn name(&self) -> &'static str {
        match self {
            Intent::Connected => "connected",
            Intent::Reactivate => "reactivate",
            Intent::Reschedule => "reschedule",
            Intent::UpdateIdKey => "updateIdKey",
            Intent::Notice => "notice",
            Intent::Home => "home",
            Intent::Resize(_) => "resize",
        }
    }

    pub fn callback(&self) -> &'static str {
        match self {
            Intent::Connected => "onConnected",
            Intent::Reactivate => "onReactivate",
            Intent::Reschedule => "onReschedule",
            Intent::UpdateIdKey => "onUpdateIdKey",
            Intent::Notice => "onNotice",
            Intent::Home => "onHome",
            Intent::Resize(_) => "onResize",
        }
    }
}

/// Turns the page's reported heights into iframe heights: clamped to
/// `[min, max]`, and a change of under 2 px is ignored. The page measures its
/// own content (never the viewport), and with sub-pixel jitter ignored a
/// height we set cannot bounce back as a new request: no resize loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sizer {
    min: u32,
    max: u32,
    last: Option<u32>,
}

impl Sizer {
    pub const DEFAULT_MIN: u32 = 200;
    pub const DEFAULT_MAX: u32 = 4000;

    pub fn new(min: u32, max: u32) -> Sizer {
        let max = max.max(min);
        Sizer {
            min,
            max,
            last: None,
        }
    }

    /// The height to apply, or `None` to leave the iframe as it is.
    pub fn next(&mut self, reported: u32) -> Option<u32> {
        // Not `clamp`: it asserts min <= max, and the assert message costs bytes.
        let h = reported.max(self.min).min(self.max);
        if self.last.is_some_and(|last| last.abs_diff(h) < 2) {
            return None;
        }
        self.last = Some(h);
        Some(h)
    }
}

impl Default for Sizer {
    fn default() -> Self {
        Sizer::new(Sizer::DEFAULT_MIN, Sizer::DEFAULT_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::RedirectTarget;

    #[test]
    fn every_action_maps_to_its_intent() {
        let t = || "t".to_string();
        let cases = [
            (Action::Ready, "connected"),
            (
                Action::PaymentComplete {
                    payment_info: t(),
                    payment_date: t(),
                    token: t(),
                    order_id: t(),
                },
                "reactivate",
            ),
            (
                Action::ChangeDate {
                    order_id: t(),
                    selected_date: "2026-11-30".into(),
                },
                "reschedule",
            ),
            (
                Action::ChangeMethod {
                    token: t(),
                    order_id: t(),
                },
                "updateIdKey",
            ),
            (
                Action::PaymentFailed {
                    reason: t(),
                    token: t(),
                },
                "notice",
            ),
            (
                Action::Redirect {
                    target: RedirectTarget::Home,
                },
                "home",
            ),
            (Action::Resize { height: 300 }, "resize"),
        ];
        for (action, name) in cases {
            let intent = Intent::of(&action);
            assert_eq!(intent.name(), name);
            assert!(intent.callback().starts_with("on"));
        }
    }

    #[test]
    fn heights_are_clamped_and_jitter_is_ignored() {
        let mut s = Sizer::new(200, 1000);
        assert_eq!(s.next(500), Some(500));
        assert_eq!(s.next(501), None, "sub-2px jitter");
        assert_eq!(s.next(500), None, "same height");
        assert_eq!(s.next(10), Some(200), "clamped up");
        assert_eq!(s.next(9_999), Some(1000), "clamped down");
        assert_eq!(s.next(5_000), None, "still the max");
        assert_eq!(s.next(600), Some(600));
    }
}
