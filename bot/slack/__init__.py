"""The Slack surface: Bolt app (HTTP or Socket Mode) and Block Kit rendering. The only slack_bolt user."""
