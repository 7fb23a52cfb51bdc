"""Operating an integration: alerts to people, retention of personal data (the console lives in server/console)."""
