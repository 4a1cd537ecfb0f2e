//! Where each notification goes (the channel names are the agents' contract): its type's
//! channel, a copy on `priority:high` / `priority:urgent` for an event's result, and the
//! `:test` suffix on everything of a test event, which must never reach the agents' main
//! channels.

use crate::verify::EventKind;

/// What a notification says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    CallProcessed,
    EmailProcessed,
    MeetingProcessed,
    /// One per insight.
    Insight,
    /// Action items and next steps.
    ActionRequired,
    /// An event dead-lettered.
    ProcessingError,
}

impl MessageType {
    pub const ALL: [MessageType; 6] = [
        MessageType::CallProcessed,
        MessageType::EmailProcessed,
        MessageType::MeetingProcessed,
        MessageType::Insight,
        MessageType::ActionRequired,
        MessageType::ProcessingError,
    ];

    /// The `<kind>_processed` type of an event kind.
    pub fn processed(kind: EventKind) -> MessageType {
        match kind {
            EventKind::Call => MessageType::CallProcessed,
            EventKind::Email => MessageType::EmailProcessed,
            EventKind::Meeting => MessageType::MeetingProcessed,
        }
    }

    /// The message's `type`, as stored in the outbox.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::CallProcessed => "call_processed",
            MessageType::EmailProcessed => "email_processed",
            MessageType::MeetingProcessed => "meeting_processed",
            MessageType::Insight => "insight",
            MessageType::ActionRequired => "action_required",
            MessageType::ProcessingError => "processing_error",
        }
    }

    pub fn parse(s: &str) -> Option<MessageType> {
        MessageType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The last segment of the type's channel.
    fn channel(self) -> &'static str {
        match self {
            MessageType::CallProcessed => "calls",
            MessageType::EmailProcessed => "emails",
            MessageType::MeetingProcessed => "meetings",
            MessageType::Insight => "insights",
            MessageType::ActionRequired => "actions",
            MessageType::ProcessingError => "errors",
        }
    }

    /// An event's own result (one per event), as opposed to its insights and actions:
    /// only these are copied to the priority channels, so an urgent call is one message
    /// there, not one per insight.
    pub fn is_result(self) -> bool {
        !matches!(self, MessageType::Insight | MessageType::ActionRequired)
    }
}

/// Channel, key and stream names under one prefix (`sophia:gong` by default).
#[derive(Debug, Clone)]
pub struct Names {
    prefix: String,
}

impl Names {
    pub fn new(prefix: impl Into<String>) -> Names {
        Names {
            prefix: prefix.into(),
        }
    }

    /// Every channel a message goes to.
    pub fn channels(&self, ty: MessageType, priority: &str, is_test: bool) -> Vec<String> {
        let suffix = if is_test { ":test" } else { "" };
        let mut out = vec![format!("{}:{}{suffix}", self.prefix, ty.channel())];
        if ty.is_result() && matches!(priority, "high" | "urgent") {
            out.push(format!("{}:priority:{priority}{suffix}", self.prefix));
        }
        out
    }

    /// Where the message is kept for `REDIS_NOTIFICATION_TTL` (and the publish-once guard).
    pub fn notification_key(&self, id: &str) -> String {
        format!("{}:notification:{id}", self.prefix)
    }

    /// The capped stream that offline agents catch up from.
    pub fn stream(&self, is_test: bool) -> String {
        let suffix = if is_test { ":test" } else { "" };
        format!("{}:stream{suffix}", self.prefix)
    }

    /// The pattern of every channel (for `watch`).
    pub fn all_channels(&self) -> String {
        format!("{}:*", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_get_a_priority_copy_and_tests_a_suffix() {
        let n = Names::new("sophia:gong");
        assert_eq!(
            n.channels(MessageType::CallProcessed, "urgent", false),
            ["sophia:gong:calls", "sophia:gong:priority:urgent"]
        );
        assert_eq!(
            n.channels(MessageType::EmailProcessed, "high", false),
            ["sophia:gong:emails", "sophia:gong:priority:high"]
        );
        assert_eq!(
            n.channels(MessageType::MeetingProcessed, "low", false),
            ["sophia:gong:meetings"]
        );
        assert_eq!(
            n.channels(MessageType::Insight, "urgent", false),
            ["sophia:gong:insights"]
        );
        assert_eq!(
            n.channels(MessageType::ProcessingError, "high", true),
            ["sophia:gong:errors:test", "sophia:gong:priority:high:test"]
        );
        assert_eq!(n.stream(true), "sophia:gong:stream:test");
        assert_eq!(
            n.notification_key("call:1:call_processed:g0"),
            "sophia:gong:notification:call:1:call_processed:g0"
        );
        for t in MessageType::ALL {
            assert_eq!(MessageType::parse(t.as_str()), Some(t));
        }
    }
}
